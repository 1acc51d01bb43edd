"""One time limit for every phase: the result read, its retries and the download (issue 9, transport).

The sandbox holds the result read or trickles the download for far longer than the limit; a limit
that held only while waiting would let these runs succeed, late. No test measures time: each asserts
the limit's error (naming the request and where its paid result is) instead of a result.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from nodes.fal.deadline import Deadline, TimeLimits
from nodes.fal.errors import DeadlineReached, RequestCancelled, RunTimeout
from nodes.fal.events import FalEvent
from nodes.fal.retry import RetryPolicy, send
from nodes.fal.runner import FalRunner
from nodes.fal.stopping import run_stoppable, sleep
from tests.fal.support import calls, make_runner

T2V = "luma/agent/ray/v3.2/text-to-video"
# Backoff far beyond any limit used here: a retry that slept its full backoff would outlive the limit.
SLOW_RETRY = RetryPolicy(max_attempts=5, base_delay=30.0, max_delay=60.0, max_retry_after=60.0)


def _limit_message(error: RunTimeout, sandbox: Any) -> str:
    text = str(error)
    request_id = calls(sandbox, "submit")[0]["request_id"]
    assert error.request_id == request_id and request_id in text
    assert f"{sandbox.url}/luma/agent/requests/{request_id}" in text  # where the result can be fetched
    assert "billed" in text and "limit" in text
    return text


def test_a_slow_result_read_ends_at_the_limit(fal_env: Any, runner: FalRunner) -> None:
    fal_env.configure(queue_seconds=0.0, run_seconds=0.1)
    fal_env.inject({"point": "result", "kind": "slow", "seconds": 60})

    with pytest.raises(RunTimeout) as caught:
        asyncio.run(runner.run(T2V, {"prompt": "x"}, deadline=TimeLimits(total=2.0).start()))

    text = _limit_message(caught.value, fal_env)
    assert "reading its result" in text
    assert calls(fal_env, "cancel") == []  # finished on fal: nothing left to cancel


@pytest.mark.parametrize(
    "fault",
    [
        {"point": "result", "kind": "http", "status": 429, "retry_after": 40, "times": 3},
        {"point": "result", "kind": "http", "status": 503, "style": "nginx", "times": 3},
        {"point": "result", "kind": "drop", "times": 3},
    ],
    ids=["429-retry-after", "nginx-503", "dropped"],
)
def test_a_retry_of_the_result_never_waits_past_the_limit(fal_env: Any, fault: dict[str, Any]) -> None:
    fal_env.configure(queue_seconds=0.0, run_seconds=0.1)
    fal_env.inject(fault)
    runner = make_runner(retry=SLOW_RETRY)

    with pytest.raises(RunTimeout) as caught:
        asyncio.run(runner.run(T2V, {"prompt": "x"}, deadline=TimeLimits(total=3.0).start()))

    _limit_message(caught.value, fal_env)
    assert len(calls(fal_env, "result")) == 1  # the retry was not started: it could only begin after the limit


def test_a_trickling_download_ends_at_the_limit_and_leaves_nothing(
    fal_env: Any, runner: FalRunner, tmp_path: Path
) -> None:
    fal_env.configure(queue_seconds=0.0, run_seconds=0.05)
    done = asyncio.run(runner.run(T2V, {"prompt": "a boat"}))
    fal_env.inject({"point": "download", "kind": "slow", "seconds": 60})
    events: list[FalEvent] = []

    with pytest.raises(RunTimeout) as caught:
        asyncio.run(
            runner.download(
                done.result["video"]["url"], tmp_path / "clip.mp4", on_event=events.append,
                request_id=done.request_id, response_url=done.handle.response_url, deadline=Deadline(2.0),
            )
        )

    text = _limit_message(caught.value, fal_env)
    assert "downloading its result" in text
    assert fal_env.pending_faults() == [] and len(calls(fal_env, "download")) == 1  # the body was trickling
    assert list(tmp_path.iterdir()) == []


def test_download_retries_never_sleep_past_the_limit(fal_env: Any, tmp_path: Path) -> None:
    runner = make_runner(retry=SLOW_RETRY)
    fal_env.configure(queue_seconds=0.0, run_seconds=0.05)
    done = asyncio.run(runner.run(T2V, {"prompt": "a boat"}))
    fal_env.inject({"point": "download", "kind": "drop", "fraction": 0.0, "times": 10})

    with pytest.raises(RunTimeout) as caught:
        asyncio.run(
            runner.download(done.result["video"]["url"], tmp_path / "clip.mp4", request_id=done.request_id,
                            deadline=Deadline(3.0))
        )

    assert done.request_id in str(caught.value)
    assert len(calls(fal_env, "download")) == 1
    assert list(tmp_path.iterdir()) == []


def test_one_deadline_spans_the_run_and_the_download(fal_env: Any, runner: FalRunner, tmp_path: Path) -> None:
    """The limit passed to run() is the same object the download uses: time spent earlier counts."""
    fal_env.configure(queue_seconds=0.0, run_seconds=0.05)
    deadline = Deadline(3.0)
    done = asyncio.run(runner.run(T2V, {"prompt": "a boat"}, deadline=deadline))
    fal_env.inject({"point": "download", "kind": "slow", "seconds": 60})

    with pytest.raises(RunTimeout):
        asyncio.run(runner.download(done.result["video"]["url"], tmp_path / "c.mp4", request_id=done.request_id,
                                    deadline=deadline))
    assert deadline.expired()


def test_a_slow_upload_ends_at_the_limit_and_nothing_is_submitted(fal_env: Any, runner: FalRunner) -> None:
    from nodes.fal.transfers import Upload

    fal_env.inject({"point": "upload", "kind": "slow", "seconds": 60, "times": 10})

    with pytest.raises(RunTimeout) as caught:
        asyncio.run(runner.upload_many([Upload(b"\x89PNG fake", "image/png", "ref.png")], deadline=Deadline(2.0)))

    assert "nothing is billed" in str(caught.value) and "max_total_time" in str(caught.value)
    assert calls(fal_env, "submit") == []


def test_stop_during_a_slow_result_read_names_the_request(fal_env: Any, runner: FalRunner) -> None:
    fal_env.configure(queue_seconds=0.0, run_seconds=0.1)
    fal_env.inject({"point": "result", "kind": "slow", "seconds": 60})
    seen: list[FalEvent] = []

    def stop() -> bool:
        return bool(calls(fal_env, "result")) if any(e.phase == "running" for e in seen) else False

    with pytest.raises(RequestCancelled) as caught:
        asyncio.run(runner.run(T2V, {"prompt": "x"}, on_event=seen.append, should_stop=stop))

    request_id = calls(fal_env, "submit")[0]["request_id"]
    assert caught.value.was_running and request_id in str(caught.value) and "billed" in str(caught.value)


# --- the Deadline itself and the helpers that honour it -----------------------------------------------


def test_deadline_clips_timeouts_and_refuses_waits_beyond_it() -> None:
    deadline = Deadline(5.0)
    clipped = deadline.clip(httpx.Timeout(60.0, connect=10.0))
    assert 0 < clipped.read <= 5.0 and 0 < clipped.connect <= 5.0 and clipped.pool <= 5.0
    assert deadline.allows_wait(1.0) and not deadline.allows_wait(6.0)
    assert Deadline(None).clip(httpx.Timeout(60.0)).read == 60.0 and Deadline.none().remaining() is None
    assert not Deadline(None).expired() and Deadline(None).allows_wait(1e9)

    async def waits() -> None:
        with pytest.raises(DeadlineReached):
            await sleep(10.0, None, Deadline(1.0))  # refused at once: it would end after the limit
        await sleep(0.01, None, Deadline(1.0))

    asyncio.run(waits())


def test_run_stoppable_ends_work_at_the_deadline() -> None:
    finished: list[bool] = []

    async def slow() -> None:
        try:
            await asyncio.sleep(30)
        finally:
            finished.append(True)

    async def scenario() -> None:
        with pytest.raises(DeadlineReached):
            await run_stoppable(slow(), None, Deadline(0.3))

    asyncio.run(scenario())
    assert finished == [True]  # the inner work was cancelled and awaited, not left running


def test_send_gives_up_before_a_retry_it_cannot_finish(fal_env: Any) -> None:
    fal_env.inject({"point": "status", "kind": "http", "status": 503, "style": "nginx", "times": 5})

    async def scenario() -> None:
        async with httpx.AsyncClient() as client:
            await send(client, "GET", f"{fal_env.url}/luma/agent/requests/x/status", kind="read",
                       action="checking", policy=SLOW_RETRY, deadline=Deadline(5.0))

    with pytest.raises(DeadlineReached):
        asyncio.run(scenario())
    assert len(calls(fal_env, "status")) == 1
