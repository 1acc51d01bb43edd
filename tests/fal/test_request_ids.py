"""Every failure after fal accepted a request names its request id, so a paid result is never lost.

Faults hit each phase after the submit (status, stream, result, download); each error must carry the id
in its text, whatever its kind, and never the key.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from nodes.fal.errors import (
    AuthError,
    DeadlineReached,
    FalError,
    FalUnreachable,
    NoCreditError,
    RequestCancelled,
    RequestFailed,
    ResultExpired,
    RunTimeout,
    StopRequested,
    after_acceptance,
    naming_request,
)
from nodes.fal.runner import FalRunner
from tests.fal.support import TEST_KEY, calls

T2V = "luma/agent/ray/v3.2/text-to-video"


def _both(kind: dict[str, Any]) -> list[dict[str, Any]]:
    """The same fault on the status stream and on polled status reads (the runner uses both)."""
    return [{**kind, "point": "stream", "times": 50}, {**kind, "point": "status", "times": 50}]


@pytest.mark.parametrize(
    ("faults", "kind"),
    [
        (_both({"kind": "http", "status": 401}), AuthError),
        (_both({"kind": "no_credit"}), NoCreditError),
        ([{"point": "result", "kind": "http", "status": 200, "style": "nginx", "times": 50}], RequestFailed),
        ([{"point": "result", "kind": "drop", "times": 50}], FalUnreachable),
        ([{"point": "result", "kind": "http", "status": 403, "times": 50}], AuthError),
    ],
    ids=["status-401", "status-no-credit", "result-unreadable", "result-dropped", "result-403"],
)
def test_failures_after_acceptance_name_the_request_id(
    fal_env: Any, runner: FalRunner, faults: list[dict[str, Any]], kind: type[FalError]
) -> None:
    fal_env.configure(queue_seconds=0.0, run_seconds=0.1)
    fal_env.inject(*faults)

    with pytest.raises(kind) as caught:
        asyncio.run(runner.run(T2V, {"prompt": "x"}))

    request_id = calls(fal_env, "submit")[0]["request_id"]
    text = str(caught.value)
    assert caught.value.request_id == request_id and request_id in text, text
    assert TEST_KEY not in text and TEST_KEY.split(":")[1] not in text


def test_a_download_refused_again_and_again_names_the_request(
    fal_env: Any, runner: FalRunner, tmp_path: Path
) -> None:
    fal_env.configure(queue_seconds=0.0, run_seconds=0.05)
    done = asyncio.run(runner.run(T2V, {"prompt": "a boat"}))
    fal_env.inject({"point": "download", "kind": "expired_url", "times": 5})

    with pytest.raises(ResultExpired) as caught:
        asyncio.run(runner.download(done.result["video"]["url"], tmp_path / "c.mp4", request_id=done.request_id,
                                    response_url=done.handle.response_url))

    text = str(caught.value)
    assert done.request_id in text and done.handle.response_url in text and "billed" in text
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("raised", "becomes"),
    [
        (OSError("disk full"), RequestFailed),
        (RuntimeError("fal's result has no usable URL"), RequestFailed),
        (StopRequested(), RequestCancelled),
        (DeadlineReached(), RunTimeout),
        (FalUnreachable("fal did not answer"), FalUnreachable),
    ],
)
def test_naming_request_turns_anything_into_an_error_with_the_id(
    raised: Exception, becomes: type[FalError]
) -> None:
    with pytest.raises(becomes) as caught:
        with naming_request("req-42", "http://127.0.0.1:1/luma/agent/requests/req-42"):
            raise raised
    text = str(caught.value)
    assert caught.value.request_id == "req-42" and "req-42" in text
    assert "http://127.0.0.1:1/luma/agent/requests/req-42" in text and "billed" in text


def test_an_error_that_already_names_the_request_is_left_as_it_is() -> None:
    error = RunTimeout("Request req-7 took too long; fetch it with req-7.", request_id="req-7")
    assert after_acceptance(error, "req-7") is error and str(error) == "Request req-7 took too long; fetch it with req-7."


def test_task_cancellation_is_not_swallowed() -> None:
    with pytest.raises(asyncio.CancelledError):
        with naming_request("req-1"):
            raise asyncio.CancelledError()
