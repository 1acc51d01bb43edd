"""A whole request against the sandbox: submit, live status, logs, result; stream failures; fetch by id."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from nodes.fal.config import FalConfig
from nodes.fal.events import FalEvent
from nodes.fal.runner import FalRunner
from tests.fal.support import calls, make_runner

T2V = "luma/agent/ray/v3.2/text-to-video"
T2I = "luma/agent/uni-1/v1/text-to-image"


def test_whole_lifecycle_follows_the_stream(fal_env: Any, runner: FalRunner) -> None:
    # Held in the queue until the runner has reported a position, then released: a loaded machine can take
    # longer than any short queue to open the stream, and the queue phase must still be seen.
    fal_env.configure(queue_seconds=60, run_seconds=0.8, log_lines=["warming up", "rendering", "encoding"])
    events: list[FalEvent] = []
    released: list[threading.Thread] = []

    def seen(event: FalEvent) -> None:
        events.append(event)
        if event.phase == "in_queue" and event.queue_position is not None and not released:
            released.append(threading.Thread(target=fal_env.release, args=(event.request_id,)))
            released[0].start()  # not on the runner's event loop

    done = asyncio.run(runner.run(T2V, {"prompt": "a red fox in snow"}, on_event=seen))
    released[0].join()

    assert done.result["video"]["url"].startswith(fal_env.url)
    assert done.result["video"]["content_type"] == "video/mp4"
    phases = [e.phase for e in events]
    assert phases[0] == "submitting"
    assert "in_queue" in phases and "running" in phases
    assert phases[-1] == "completed"
    queued = [e for e in events if e.phase == "in_queue"]
    assert all(e.request_id == done.request_id for e in queued)
    # On a busy machine a tick may say "in queue" before fal's first status gave the position: some event has it.
    in_queue = next((e for e in queued if e.queue_position is not None), None)
    assert in_queue is not None, queued
    assert in_queue.text().startswith("In queue, position")
    logs = [line for e in events for line in e.new_logs]
    configured = [line for line in logs if line in ("warming up", "rendering", "encoding")]
    assert configured == ["warming up", "rendering", "encoding"]  # all of them, in order
    assert len(logs) == len(set(logs))  # each line reported once, though every status repeats them
    assert "run_seconds" in done.metrics and "queue_seconds" in done.metrics

    log = fal_env.log()
    submits = calls(fal_env, "submit")
    assert len(submits) == 1 and submits[0]["payload"] == {"prompt": "a red fox in snow"}
    assert submits[0]["endpoint_id"] == T2V
    assert len(calls(fal_env, "stream")) == 1
    assert calls(fal_env, "status") == []  # the stream alone noticed completion
    assert len(calls(fal_env, "result")) == 1
    assert all(e.get("auth") == "valid" for e in log if e.get("point") in ("submit", "stream", "result"))


def test_polling_takes_over_when_the_stream_fails(fal_env: Any, runner: FalRunner) -> None:
    fal_env.configure(queue_seconds=0.2, run_seconds=0.5, log_lines=["step 1", "step 2"])
    fal_env.inject({"point": "stream", "kind": "http", "status": 500, "style": "json", "times": 50})

    done = asyncio.run(runner.run(T2I, {"prompt": "a lighthouse"}))

    assert done.result["images"]
    assert len(calls(fal_env, "status")) >= 1
    assert all(e["status"] == 500 for e in calls(fal_env, "stream"))
    assert len(calls(fal_env, "result")) == 1


def test_stream_cut_midway_is_resumed(fal_env: Any, runner: FalRunner) -> None:
    fal_env.configure(queue_seconds=0.3, run_seconds=0.6)
    fal_env.inject({"point": "stream", "kind": "stop_midway", "times": 1})
    events: list[FalEvent] = []

    done = asyncio.run(runner.run(T2V, {"prompt": "waves"}, on_event=events.append))

    assert done.result["video"]["url"]
    assert len(calls(fal_env, "stream")) >= 2  # the second stream saw COMPLETED
    assert events[-1].phase == "completed"


def test_fetch_result_by_request_id(fal_env: Any, runner: FalRunner) -> None:
    fal_env.configure(queue_seconds=0.0, run_seconds=0.1)
    done = asyncio.run(runner.run(T2I, {"prompt": "a cat"}))

    again = asyncio.run(runner.fetch_result(T2I, done.request_id))

    assert again == done.result
    # Rebuilt from owner/app only, as fal's queue expects: /luma/agent/requests/<id>
    assert calls(fal_env, "result")[-1]["path"] == f"/luma/agent/requests/{done.request_id}"


def test_runner_reads_key_and_base_url_from_the_environment(fal_env: Any) -> None:
    fal_env.configure(queue_seconds=0.0, run_seconds=0.1)
    runner = make_runner()  # no config: FalConfig.from_env() per call
    done = asyncio.run(runner.run(T2I, {"prompt": "a cat"}))
    assert done.result["images"]
    assert FalConfig.from_env().hosts.single_base


@pytest.mark.parametrize("stream_fault", [{"point": "stream", "kind": "drop", "times": 50}])
def test_stream_dropping_every_time_still_completes(
    fal_env: Any, runner: FalRunner, stream_fault: dict
) -> None:
    fal_env.configure(queue_seconds=0.1, run_seconds=0.3)
    fal_env.inject(stream_fault)
    done = asyncio.run(runner.run(T2I, {"prompt": "a dog"}))
    assert done.result["images"]
    assert len(calls(fal_env, "stream")) <= 1 + runner.stream_retries
