"""Stop and time limits: fal's cancel URL is called and the user is told what it means for billing."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from nodes.fal.deadline import TimeLimits
from nodes.fal.errors import QueueTimeout, RequestCancelled, RunTimeout
from nodes.fal.events import FalEvent
from nodes.fal.runner import FalRunner
from tests.fal.support import calls

T2V = "luma/agent/ray/v3.2/text-to-video"


def _stop_when(phase: str) -> tuple[list[FalEvent], Any]:
    events: list[FalEvent] = []
    return events, lambda: any(e.phase == phase for e in events)


def _no_tasks_left() -> None:
    async def check() -> int:
        return len(asyncio.all_tasks()) - 1

    assert asyncio.run(check()) == 0


def test_stop_while_queued_cancels_and_is_not_billed(fal_env: Any, runner: FalRunner) -> None:
    fal_env.configure(queue_seconds=30.0, run_seconds=1.0)
    events, stop = _stop_when("in_queue")

    with pytest.raises(RequestCancelled) as caught:
        asyncio.run(runner.run(T2V, {"prompt": "x"}, on_event=events.append, should_stop=stop))

    error = caught.value
    assert error.was_running is False
    assert "not billed" in str(error) and error.request_id in str(error)
    cancels = calls(fal_env, "cancel", "PUT")
    assert len(cancels) == 1
    assert cancels[0]["request_id"] == error.request_id
    assert cancels[0]["cancel"]["state_before"] == "IN_QUEUE" and cancels[0]["cancel"]["accepted"]
    assert calls(fal_env, "result") == []


def test_stop_while_running_says_fal_may_finish_it(fal_env: Any, runner: FalRunner) -> None:
    fal_env.configure(queue_seconds=0.0, run_seconds=30.0)
    events, stop = _stop_when("running")

    with pytest.raises(RequestCancelled) as caught:
        asyncio.run(runner.run(T2V, {"prompt": "x"}, on_event=events.append, should_stop=stop))

    error = caught.value
    assert error.was_running is True
    assert "already started" in str(error) and "fetched" in str(error)
    assert error.request_id in str(error)
    cancels = calls(fal_env, "cancel", "PUT")
    assert len(cancels) == 1 and cancels[0]["cancel"]["state_before"] == "IN_PROGRESS"


def test_stop_while_waiting_for_a_slot_sends_nothing(fal_env: Any, runner: FalRunner) -> None:
    from nodes.fal import slots as runner_module

    async def scenario() -> None:
        runner_module.set_max_concurrent(1)
        fal_env.configure(queue_seconds=0.0, run_seconds=30.0)
        stop_first = asyncio.Event()
        first_events: list[FalEvent] = []
        first = asyncio.ensure_future(
            runner.run(T2V, {"prompt": "first"}, on_event=first_events.append, should_stop=stop_first.is_set)
        )
        while not any(e.phase == "running" for e in first_events):
            await asyncio.sleep(0.02)
        second_events: list[FalEvent] = []
        with pytest.raises(RequestCancelled):
            await runner.run(
                T2V,
                {"prompt": "second"},
                on_event=second_events.append,
                should_stop=lambda: bool(second_events),
            )
        assert [e.phase for e in second_events] == ["waiting_for_slot"]
        stop_first.set()
        with pytest.raises(RequestCancelled):
            await first

    try:
        asyncio.run(scenario())
    finally:
        runner_module.set_max_concurrent(None)
    assert len(calls(fal_env, "submit")) == 1


def test_queue_timeout_cancels_a_request_that_never_starts(fal_env: Any, runner: FalRunner) -> None:
    fal_env.inject({"kind": "stuck_in_queue", "times": 1})

    with pytest.raises(QueueTimeout) as caught:
        asyncio.run(runner.run(T2V, {"prompt": "x"}, deadline=TimeLimits(queue_wait=0.5).start()))

    assert "credit" in str(caught.value) and "cancelled" in str(caught.value)
    cancels = calls(fal_env, "cancel", "PUT")
    assert len(cancels) == 1 and cancels[0]["request_id"] == caught.value.request_id


def test_queue_timeout_does_not_touch_a_running_request(fal_env: Any, runner: FalRunner) -> None:
    fal_env.configure(queue_seconds=0.0, run_seconds=1.0)
    done = asyncio.run(runner.run(T2V, {"prompt": "x"}, deadline=TimeLimits(queue_wait=0.3).start()))
    assert done.result["video"]
    assert calls(fal_env, "cancel") == []


def test_total_timeout_cancels_and_raises(fal_env: Any, runner: FalRunner) -> None:
    fal_env.configure(queue_seconds=0.0, run_seconds=30.0)

    with pytest.raises(RunTimeout) as caught:
        asyncio.run(runner.run(T2V, {"prompt": "x"}, deadline=TimeLimits(total=0.6).start()))

    assert "limit" in str(caught.value)
    assert len(calls(fal_env, "cancel", "PUT")) == 1
