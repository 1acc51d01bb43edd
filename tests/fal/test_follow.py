"""Following a request by id (after a restart) and the on_submitted hook that lets it be recorded first."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from nodes.fal.errors import RequestCancelled, ResultExpired
from nodes.fal.queue import RequestHandle
from nodes.fal.runner import FalRunner
from tests.fal.support import TEST_KEY, calls

T2V = "luma/agent/ray/v3.2/text-to-video"


def _submit_directly(sandbox: Any, prompt: str) -> str:
    """A request submitted by "another process": the runner under test never saw it."""
    reply = httpx.post(f"{sandbox.url}/{T2V}", json={"prompt": prompt}, headers={"Authorization": f"Key {TEST_KEY}"})
    reply.raise_for_status()
    return reply.json()["request_id"]


def test_on_submitted_runs_before_any_status_is_read(fal_env: Any, runner: FalRunner) -> None:
    fal_env.configure(queue_seconds=0.2, run_seconds=0.3)
    seen: list[tuple[str, list[str]]] = []

    def on_submitted(handle: RequestHandle) -> None:
        seen.append((handle.request_id, [c["point"] for c in fal_env.log()]))

    done = asyncio.run(runner.run(T2V, {"prompt": "a fox"}, on_submitted=on_submitted))

    assert seen == [(done.request_id, ["submit"])]  # recorded before the first stream/status call


def test_a_failing_on_submitted_does_not_orphan_the_paid_request(fal_env: Any, runner: FalRunner) -> None:
    fal_env.configure(queue_seconds=0.1, run_seconds=0.2)

    def broken(handle: RequestHandle) -> None:
        raise OSError("disk full")

    done = asyncio.run(runner.run(T2V, {"prompt": "a fox"}, on_submitted=broken))
    assert done.result["video"]["url"] and len(calls(fal_env, "result")) == 1


def test_follow_picks_up_a_request_submitted_elsewhere_without_submitting(fal_env: Any, runner: FalRunner) -> None:
    fal_env.configure(queue_seconds=0.3, run_seconds=0.5, log_lines=["step a", "step b"])
    request_id = _submit_directly(fal_env, "a heron")
    phases: list[str] = []

    done = asyncio.run(runner.follow(T2V, request_id, on_event=lambda e: phases.append(e.phase)))

    assert done.request_id == request_id and done.result["video"]["url"]
    assert len(calls(fal_env, "submit")) == 1  # only the direct one
    assert phases[-1] == "completed" and "submitting" not in phases
    assert "run_seconds" in done.metrics


def test_follow_of_an_expired_request_names_it(fal_env: Any, runner: FalRunner) -> None:
    fal_env.configure(queue_seconds=0.0, run_seconds=0.1)
    request_id = _submit_directly(fal_env, "a heron")
    time.sleep(0.5)
    assert fal_env.expire(request_id) == [request_id]

    with pytest.raises(ResultExpired) as caught:
        asyncio.run(runner.follow(T2V, request_id))

    assert request_id in str(caught.value) and caught.value.request_id == request_id
    assert "limited time" in str(caught.value)


def test_stopping_a_follow_cancels_at_fal(fal_env: Any, runner: FalRunner) -> None:
    fal_env.configure(queue_seconds=30, run_seconds=1)
    request_id = _submit_directly(fal_env, "a heron")
    stop_at = time.monotonic() + 0.5

    with pytest.raises(RequestCancelled) as caught:
        asyncio.run(runner.follow(T2V, request_id, should_stop=lambda: time.monotonic() > stop_at))

    assert not caught.value.was_running and request_id in str(caught.value)
    cancels = calls(fal_env, "cancel")
    assert len(cancels) == 1 and cancels[0]["cancel"]["state_before"] == "IN_QUEUE"
