"""How fal's refusals reach the user: typed errors with readable messages, against the sandbox."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest

from nodes.fal.config import FalConfig
from nodes.fal.errors import (
    AuthError,
    ContentModerated,
    FalServerError,
    InputRejected,
    LocalNetworkError,
    MissingKeyError,
    NoCreditError,
    RequestFailed,
)
from nodes.fal.runner import FalRunner
from tests.fal.support import TEST_KEY, calls, make_runner

T2V = "luma/agent/ray/v3.2/text-to-video"


def test_missing_key_is_refused_before_anything_is_sent(fal_env: Any) -> None:
    runner = make_runner(config=FalConfig.from_env(env={"LUMA_FAL_BASE_URL": fal_env.url}))

    with pytest.raises(MissingKeyError) as caught:
        asyncio.run(runner.run(T2V, {"prompt": "x"}))

    message = str(caught.value)
    assert "FAL_KEY" in message and "FAL_KEY_ID" in message and "FAL_KEY_SECRET" in message
    assert "settings" in message
    assert fal_env.log() == []


def test_missing_key_also_stops_uploads(fal_env: Any) -> None:
    from nodes.fal.transfers import Upload

    runner = make_runner(config=FalConfig.from_env(env={"LUMA_FAL_BASE_URL": fal_env.url}))
    with pytest.raises(MissingKeyError):
        asyncio.run(runner.upload_many([Upload(b"abc", "image/png", "a.png")]))
    assert fal_env.log() == []


def test_invalid_input_names_the_field(fal_env: Any, runner: FalRunner) -> None:
    fal_env.configure(queue_seconds=0.0, run_seconds=0.1)

    with pytest.raises(InputRejected) as caught:
        asyncio.run(runner.run(T2V, {"prompt": ""}))

    error = caught.value
    assert error.status_code == 422
    assert [p.field for p in error.field_problems] == ["prompt"]
    assert "prompt:" in str(error)
    assert error.request_id and error.request_id in str(error)


def test_wrong_key_is_an_auth_error_and_not_retried(fal_env: Any, runner: FalRunner) -> None:
    fal_env.configure(required_key="some-other-key")

    with pytest.raises(AuthError) as caught:
        asyncio.run(runner.run(T2V, {"prompt": "x"}))

    assert caught.value.status_code == 401
    assert "invalid key" in str(caught.value)
    assert TEST_KEY not in str(caught.value)
    assert len(calls(fal_env, "submit")) == 1


def test_exhausted_balance_is_a_no_credit_error(fal_env: Any, runner: FalRunner) -> None:
    fal_env.inject({"point": "submit", "kind": "no_credit", "times": 1})

    with pytest.raises(NoCreditError) as caught:
        asyncio.run(runner.run(T2V, {"prompt": "x"}))

    assert "no credit" in str(caught.value) and "billing" in str(caught.value)
    assert len(calls(fal_env, "submit")) == 1


def test_payment_required_is_a_no_credit_error(fal_env: Any, runner: FalRunner) -> None:
    fal_env.inject({"point": "submit", "kind": "http", "status": 402, "style": "json", "times": 1})
    with pytest.raises(NoCreditError):
        asyncio.run(runner.run(T2V, {"prompt": "x"}))


def test_moderation_is_reported_as_such(fal_env: Any, runner: FalRunner) -> None:
    fal_env.configure(queue_seconds=0.0, run_seconds=0.1)
    fal_env.inject({"kind": "moderation", "times": 1})

    with pytest.raises(ContentModerated) as caught:
        asyncio.run(runner.run(T2V, {"prompt": "something"}))

    assert "content filter" in str(caught.value)
    assert caught.value.request_id


def test_model_failure_carries_the_request_id(fal_env: Any, runner: FalRunner) -> None:
    fal_env.configure(queue_seconds=0.0, run_seconds=0.1)
    fal_env.inject({"kind": "result_500", "times": 1})

    with pytest.raises(FalServerError) as caught:
        asyncio.run(runner.run(T2V, {"prompt": "x"}))

    error = caught.value
    assert error.status_code == 500 and error.request_id
    assert error.request_id in str(error)


def test_gateway_error_in_completed_status_surfaces_from_the_result(fal_env: Any, runner: FalRunner) -> None:
    fal_env.configure(queue_seconds=0.0, run_seconds=0.1)
    fal_env.inject(
        {
            "kind": "completed_with_error",
            "times": 1,
            "status": 504,
            "error_type": "request_timeout",
            "error": "Request timed out",
        }
    )

    with pytest.raises((FalServerError, RequestFailed)) as caught:
        asyncio.run(runner.run(T2V, {"prompt": "x"}))

    assert caught.value.request_id
    assert caught.value.error_type == "request_timeout"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_nothing_listening_is_a_local_network_error(clean_env: pytest.MonkeyPatch) -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    runner = make_runner(config=FalConfig.from_env(env={"LUMA_FAL_BASE_URL": url, "FAL_KEY": TEST_KEY}))

    with pytest.raises(LocalNetworkError) as caught:
        asyncio.run(runner.run(T2V, {"prompt": "x"}))

    assert url in str(caught.value) and "LUMA_FAL_BASE_URL" in str(caught.value)


def test_unknown_endpoint_id_is_refused_before_sending(fal_env: Any, runner: FalRunner) -> None:
    with pytest.raises(ValueError, match="endpoint id"):
        asyncio.run(runner.run("luma/../../etc/passwd", {"prompt": "x"}))
    assert fal_env.log() == []
