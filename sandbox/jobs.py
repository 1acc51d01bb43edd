"""Queue requests and their lifecycle: IN_QUEUE (position counting down) -> IN_PROGRESS (logs) -> COMPLETED.

Every state change bumps ``Job.version`` and wakes SSE streams waiting on it.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from .config import SandboxConfig
from .faults import Fault

log = logging.getLogger(__name__)

IN_QUEUE, IN_PROGRESS, COMPLETED = "IN_QUEUE", "IN_PROGRESS", "COMPLETED"
_TICK = 0.05


@dataclass
class ModelReply:
    """What the model app answered; the result endpoint replays it verbatim."""

    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    # What the model really produced, as fal bills it (video_seconds, images, input_images).
    produced: dict[str, Any] = field(default_factory=dict)


def error_reply(status: int, detail: str, error_type: str, **headers: str) -> ModelReply:
    return ModelReply(status, {"detail": detail, "error_type": error_type},
                      {"X-Fal-Error-Type": error_type, **headers})


@dataclass
class Job:
    request_id: str
    endpoint_id: str
    owner_app: str
    payload: Any
    cdn_base: str
    outcome: Fault | None = None
    start_timeout: float | None = None
    state: str = IN_QUEUE
    queue_position: int = 0
    logs: list[dict[str, Any]] = field(default_factory=list)
    created: float = 0.0
    sent_wall: float = 0.0  # wall clock (UNIX seconds) of ``created``: fal's records carry real times
    started: float | None = None
    finished: float | None = None
    completed_at: float | None = None  # time.time() when it became COMPLETED
    reply: ModelReply | None = None
    error: str | None = None
    error_type: str | None = None
    version: int = 0
    released: bool = False  # leave the queue now, whatever queue_seconds says (POST /_sandbox/release)
    run_released: bool = False  # finish the run now, whatever hold_running says (a second release)
    task: asyncio.Task[None] | None = None
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    def touch(self) -> None:
        self.version += 1
        event, self._changed = self._changed, asyncio.Event()
        event.set()

    async def wait_change(self, seen_version: int, timeout: float) -> bool:
        """True when the job changed after ``seen_version``; False on timeout."""
        if self.version != seen_version:
            return True
        try:
            await asyncio.wait_for(self._changed.wait(), timeout)
        except asyncio.TimeoutError:
            return False
        return True

    def add_log(self, message: str, level: str = "INFO") -> None:
        stamp = datetime.now(timezone.utc).isoformat()
        self.logs.append({"message": message, "level": level, "source": "USER", "timestamp": stamp})
        self.touch()

    def urls(self, queue_base: str) -> dict[str, str]:
        base = f"{queue_base}/{self.owner_app}/requests/{self.request_id}"
        return {"response_url": base, "status_url": f"{base}/status", "cancel_url": f"{base}/cancel"}

    def status_body(self, queue_base: str, with_logs: bool) -> dict[str, Any]:
        body: dict[str, Any] = {"status": self.state, "request_id": self.request_id, **self.urls(queue_base)}
        if self.state == IN_QUEUE:
            body["queue_position"] = self.queue_position
            return body
        # fal's Python client needs the key even when logs were not asked for.
        body["logs"] = list(self.logs) if with_logs else None
        if self.state == COMPLETED:
            ran = (self.finished or 0) - self.started if self.started is not None else None
            body["metrics"] = {"inference_time": round(ran, 3)} if ran is not None else {}
            if self.error is not None:
                body["error"] = self.error
                body["error_type"] = self.error_type
        return body

    def wall(self, loop_time: float | None) -> float | None:
        """A loop time of this job as wall-clock UNIX seconds."""
        return None if loop_time is None else self.sent_wall + (loop_time - self.created)

    def finish(self, reply: ModelReply, error: str | None = None, error_type: str | None = None) -> None:
        if self.state == COMPLETED:
            return
        self.state, self.reply, self.error, self.error_type = COMPLETED, reply, error, error_type
        self.finished = asyncio.get_running_loop().time()
        self.completed_at = time.time()  # wall clock, for benchmarks timing "fal said done -> frames"
        self.touch()


ModelRunner = Callable[[Job], Awaitable[ModelReply]]


class JobBook:
    """All requests of this sandbox run; each request is driven by its own asyncio task."""

    def __init__(self, config: Callable[[], SandboxConfig], runner: ModelRunner) -> None:
        self._config = config
        self._runner = runner
        self.jobs: dict[str, Job] = {}

    def submit(self, job: Job) -> None:
        cfg = self._config()
        job.created = asyncio.get_running_loop().time()
        job.sent_wall = time.time()
        job.queue_position = cfg.queue_position_start
        self.jobs[job.request_id] = job
        job.task = asyncio.create_task(self._drive(job, cfg), name=f"job-{job.request_id}")

    def cancel(self, job: Job) -> bool:
        """False when the request had already finished. A queued request never starts."""
        if job.state == COMPLETED:
            return False
        was_running = job.state == IN_PROGRESS
        if was_running:
            job.add_log("Cancellation requested; stopping", level="WARN")
        job.finish(error_reply(499, "Request cancelled by the client", "client_cancelled"),
                   "Request cancelled by the client", "client_cancelled")
        if job.task is not None:
            job.task.cancel()
        return True

    def release(self, request_id: str) -> bool:
        """Let a queued request start now, or a running one finish (tests hold a request in the queue, or
        running with hold_running, then let it go). False when this call let nothing go: the request is in
        neither state, or was already released from where it is."""
        job = self.jobs.get(request_id)
        if job is None or job.state not in (IN_QUEUE, IN_PROGRESS):
            return False
        if job.state == IN_QUEUE:
            was, job.released = job.released, True
        else:
            was, job.run_released = job.run_released, True
        return not was

    def expire(self, request_id: str | None = None) -> list[str]:
        """Forget finished requests as fal does once their retention passes (status/result then 404).

        ``request_id`` names one request (finished or not); None expires every finished one."""
        if request_id is not None:
            job = self.jobs.pop(request_id, None)
            if job is None:
                return []
            if job.task is not None:
                job.task.cancel()
            return [request_id]
        gone = [rid for rid, job in self.jobs.items() if job.state == COMPLETED]
        for rid in gone:
            del self.jobs[rid]
        return gone

    def clear(self) -> None:
        for job in self.jobs.values():
            if job.task is not None:
                job.task.cancel()
        self.jobs.clear()

    async def _drive(self, job: Job, cfg: SandboxConfig) -> None:
        try:
            if not await self._wait_in_queue(job, cfg):
                return
            job.state, job.started = IN_PROGRESS, asyncio.get_running_loop().time()
            job.touch()
            await self._run(job, cfg)
        except asyncio.CancelledError:
            pass
        except Exception as exc:  # the sandbox must not die with one request: report a runner crash
            log.exception("request %s failed inside the sandbox", job.request_id)
            job.finish(ModelReply(500, {"detail": f"Internal Server Error: {type(exc).__name__}"}))

    async def _wait_in_queue(self, job: Job, cfg: SandboxConfig) -> bool:
        """Count the position down; False when the request timed out before starting."""
        loop = asyncio.get_running_loop()
        stuck = job.outcome is not None and job.outcome.kind == "stuck_in_queue"
        start_positions = cfg.queue_position_start + 1
        while True:
            elapsed = loop.time() - job.created
            if job.start_timeout is not None and elapsed >= job.start_timeout:
                job.finish(error_reply(504, "Request timed out", "request_timeout",
                                       **{"X-Fal-Request-Timeout-Type": "user"}),
                           "Request timed out", "request_timeout")
                return False
            if not stuck and (elapsed >= cfg.queue_seconds or job.released):
                return True
            if not stuck:
                step = cfg.queue_seconds / start_positions
                position = max(0, cfg.queue_position_start - math.floor(elapsed / step))
                if position != job.queue_position:
                    job.queue_position = position
                    job.touch()
            await asyncio.sleep(_TICK)

    async def _run(self, job: Job, cfg: SandboxConfig) -> None:
        loop = asyncio.get_running_loop()
        messages = _log_messages(job.endpoint_id, cfg.log_lines)
        job.add_log(f"Starting {job.endpoint_id}")
        outcome = job.outcome
        work: asyncio.Future[ModelReply] = (
            asyncio.ensure_future(self._runner(job)) if outcome is None else _ready(ModelReply(200, None))
        )
        for index, message in enumerate(messages, start=1):
            due = job.started + cfg.run_seconds * index / (len(messages) + 1)
            if not work.done():
                await asyncio.wait({work}, timeout=max(0.0, due - loop.time()))
            if work.done() and work.result().status >= 400:
                break  # apps fail fast on bad input; no point in pretending to work on
            await asyncio.sleep(max(0.0, due - loop.time()))
            job.add_log(message)
        reply = await work
        if reply.status < 400:
            await asyncio.sleep(max(0.0, job.started + cfg.run_seconds - loop.time()))
        while cfg.hold_running and not job.run_released:
            await asyncio.sleep(_TICK)
        if outcome is None:
            job.add_log("Done" if reply.status < 400 else f"Failed with status {reply.status}",
                        level="INFO" if reply.status < 400 else "ERROR")
            job.finish(reply)
        else:
            _finish_with_outcome(job, outcome)


def _ready(reply: ModelReply) -> asyncio.Future[ModelReply]:
    future: asyncio.Future[ModelReply] = asyncio.get_running_loop().create_future()
    future.set_result(reply)
    return future


def _log_messages(endpoint_id: str, log_lines: int | list[str]) -> list[str]:
    if isinstance(log_lines, list):
        return list(log_lines)
    return [f"Generating: step {i}/{log_lines}" for i in range(1, log_lines + 1)]


def _finish_with_outcome(job: Job, fault: Fault) -> None:
    if fault.kind == "completed_with_error":
        error = fault.error or "Request timed out"
        error_type = fault.error_type or "request_timeout"
        job.finish(error_reply(fault.status or 504, fault.detail or error, error_type), error, error_type)
    elif fault.kind == "result_500":
        job.finish(ModelReply(fault.status or 500, {"detail": fault.detail or "Internal Server Error"}))
    elif fault.kind == "moderation":
        item = {"loc": ["body", "prompt"], "type": "content_policy_violation",
                "msg": fault.detail or "The content could not be processed because it was flagged by a "
                                       "content checker.", "categories": ["sexual"]}
        job.finish(ModelReply(fault.status or 422, {"detail": [item]}))
