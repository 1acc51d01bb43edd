"""Which failures are retried and which are not, counted from the calls the sandbox recorded."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from nodes.fal.errors import (
    AuthError,
    FalServerError,
    FalUnreachable,
    InputRejected,
    RequestFailed,
    SubmitOutcomeUnknown,
)
from nodes.fal.runner import FalRunner
from tests.fal.support import FAST_RETRY, calls

T2I = "luma/agent/uni-1/v1/text-to-image"


def _quick(sandbox: Any) -> None:
    sandbox.configure(queue_seconds=0.0, run_seconds=0.05)


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "http", "status": 429, "style": "json"},
        {"kind": "http", "status": 429, "style": "json", "retry_after": 0.05},
        {"kind": "http", "status": 408, "style": "json"},
        {"kind": "http", "status": 503, "style": "nginx"},
    ],
    ids=["429", "429-retry-after", "408", "nginx-503"],
)
def test_submit_retried_when_surely_not_accepted(fal_env: Any, runner: FalRunner, fault: dict) -> None:
    _quick(fal_env)
    fal_env.inject({"point": "submit", "times": 2, **fault})

    done = asyncio.run(runner.run(T2I, {"prompt": "x"}))

    assert done.result["images"]
    assert len(calls(fal_env, "submit")) == 3


@pytest.mark.parametrize(
    "fault,error",
    [
        ({"kind": "http", "status": 401, "style": "json"}, AuthError),
        ({"kind": "http", "status": 403, "style": "json"}, AuthError),
        (
            {
                "kind": "http",
                "status": 422,
                "style": "json",
                "detail": [{"loc": ["body", "prompt"], "msg": "bad", "type": "value_error"}],
            },
            InputRejected,
        ),
        ({"kind": "http", "status": 409, "style": "json"}, RequestFailed),
        ({"kind": "http", "status": 500, "style": "json"}, FalServerError),
        ({"kind": "http", "status": 503, "style": "json"}, FalServerError),
    ],
    ids=["401", "403", "422", "409", "json-500", "json-503"],
)
def test_submit_not_retried(fal_env: Any, runner: FalRunner, fault: dict, error: type) -> None:
    fal_env.inject({"point": "submit", "times": 5, **fault})

    with pytest.raises(error):
        asyncio.run(runner.run(T2I, {"prompt": "x"}))

    assert len(calls(fal_env, "submit")) == 1


@pytest.mark.parametrize("status,error_type", [
    (503, "runner_scheduling_failure"), (503, "runner_connection_timeout"), (503, "runner_connection_refused"),
    (503, "runner_connection_error"), (504, "startup_timeout"),
])
def test_a_submit_fals_gateway_says_no_runner_got_is_sent_once_more(fal_env: Any, runner: FalRunner, status: int,
                                                                     error_type: str) -> None:
    _quick(fal_env)
    fal_env.inject({"point": "submit", "kind": "http", "status": status, "style": "json", "error_type": error_type})

    done = asyncio.run(runner.run(T2I, {"prompt": "x"}))

    assert done.result["images"]
    assert len(calls(fal_env, "submit")) == 2
    assert len([c for c in calls(fal_env, "submit") if c.get("request_id") and c.get("status") == 200]) == 1


def test_a_second_no_runner_answer_is_raised_not_sent_a_third_time(fal_env: Any, runner: FalRunner) -> None:
    fal_env.inject({"point": "submit", "kind": "http", "status": 503, "style": "json", "times": 5,
                    "error_type": "runner_scheduling_failure"})

    with pytest.raises(FalServerError) as caught:
        asyncio.run(runner.run(T2I, {"prompt": "x"}))

    assert len(calls(fal_env, "submit")) == 2
    assert "both tries" in str(caught.value) and caught.value.error_type == "runner_scheduling_failure"


@pytest.mark.parametrize("status,error_type", [
    (504, "request_timeout"), (503, "runner_disconnected"), (502, "runner_incomplete_response"),
    (500, "runner_server_error"), (500, "internal_error"),
])
def test_a_gateway_error_that_may_follow_a_runner_is_never_re_sent(fal_env: Any, runner: FalRunner, status: int,
                                                                   error_type: str) -> None:
    fal_env.inject({"point": "submit", "kind": "http", "status": status, "style": "json", "times": 5,
                    "error_type": error_type})

    with pytest.raises((SubmitOutcomeUnknown, FalServerError)):
        asyncio.run(runner.run(T2I, {"prompt": "x"}))

    assert len(calls(fal_env, "submit")) == 1


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "drop"},
        {"kind": "http", "status": 502, "style": "nginx"},
        {"kind": "http", "status": 504, "style": "nginx"},
    ],
    ids=["drop-after-send", "nginx-502", "nginx-504"],
)
def test_submit_with_unknown_outcome_is_never_resent(fal_env: Any, runner: FalRunner, fault: dict) -> None:
    fal_env.inject({"point": "submit", "times": 5, **fault})

    with pytest.raises(SubmitOutcomeUnknown) as caught:
        asyncio.run(runner.run(T2I, {"prompt": "x"}))

    assert len(calls(fal_env, "submit")) == 1
    assert "paying twice" in str(caught.value) and "dashboard" in str(caught.value)


@pytest.mark.parametrize(
    "point,fault",
    [
        ("status", {"kind": "http", "status": 429, "style": "json"}),
        ("status", {"kind": "http", "status": 409, "style": "json"}),
        ("status", {"kind": "http", "status": 502, "style": "nginx"}),
        ("status", {"kind": "http", "status": 500, "style": "json"}),
        ("status", {"kind": "drop"}),
        ("result", {"kind": "http", "status": 504, "style": "nginx"}),
        ("result", {"kind": "http", "status": 503, "style": "json"}),
        ("result", {"kind": "drop"}),
    ],
    ids=[
        "status-429",
        "status-409",
        "status-nginx-502",
        "status-json-500",
        "status-drop",
        "result-nginx-504",
        "result-json-503",
        "result-drop",
    ],
)
def test_reads_are_retried(fal_env: Any, runner: FalRunner, point: str, fault: dict) -> None:
    _quick(fal_env)
    # Status reads happen only when the stream is unavailable.
    fal_env.inject({"point": "stream", "kind": "http", "status": 500, "style": "json", "times": 50})
    fal_env.inject({"point": point, "times": 2, **fault})

    done = asyncio.run(runner.run(T2I, {"prompt": "x"}))

    assert done.result["images"]
    failed = [c for c in calls(fal_env, point) if c.get("fault")]
    assert len(failed) == 2
    assert len(calls(fal_env, point)) >= 3


def test_json_server_errors_on_reads_are_retried_only_a_few_times(fal_env: Any, runner: FalRunner) -> None:
    _quick(fal_env)
    fal_env.inject({"point": "result", "kind": "http", "status": 500, "style": "json", "times": 20})

    with pytest.raises(FalServerError):
        asyncio.run(runner.run(T2I, {"prompt": "x"}))

    assert len(calls(fal_env, "result")) == FAST_RETRY.server_error_attempts


def test_status_auth_error_is_not_retried(fal_env: Any, runner: FalRunner) -> None:
    _quick(fal_env)
    fal_env.inject({"point": "stream", "kind": "http", "status": 500, "style": "json", "times": 50})
    fal_env.inject({"point": "status", "kind": "http", "status": 401, "style": "json", "times": 5})

    with pytest.raises(AuthError):
        asyncio.run(runner.run(T2I, {"prompt": "x"}))

    assert len(calls(fal_env, "status")) == 1


def test_persistent_gateway_errors_give_up_as_fal_unreachable(fal_env: Any, runner: FalRunner) -> None:
    _quick(fal_env)
    fal_env.inject({"point": "result", "kind": "http", "status": 502, "style": "nginx", "times": 50})

    with pytest.raises(FalUnreachable):
        asyncio.run(runner.run(T2I, {"prompt": "x"}))

    assert len(calls(fal_env, "result")) == FAST_RETRY.max_attempts
