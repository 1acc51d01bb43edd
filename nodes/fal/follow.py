"""Following an accepted request to its result: status stream or polling, limits, cancel, result read.

Everything here happens after fal accepted the request, so from here on the request may be billed:
every failure leaves with its request id in the message (``naming_request``), and the messages of
stops and time limits say whether fal bills it and where its result can still be fetched.

``follow_to_result`` takes a ``RequestHandle``, so it serves a request just submitted as well as one
submitted earlier (``QueueClient.handle_for``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import aclosing
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from .deadline import Deadline
from .errors import (
    BILLING_URL,
    REQUESTS_URL,
    DeadlineReached,
    FalError,
    QueueTimeout,
    RequestCancelled,
    RunTimeout,
    StopRequested,
    UnsafeUrl,
    naming_request,
    where_to_find,
)
from .events import FalEvent
from .progress import Emitter, Progress
from .queue import COMPLETED, QueueClient, RequestHandle, StatusStreamFailed
from .stopping import STOP_TICK, ShouldStop, run_stoppable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Completed:
    request_id: str
    handle: RequestHandle
    result: dict[str, Any]
    metrics: dict[str, Any] = field(default_factory=dict)
    billable_units: float | None = None  # fal's x-fal-billable-units on the result read (None: not sent)


class StopReason(Enum):
    """Why the wait for a request ended before it completed."""

    CANCEL = "stop"  # the user's stop (ComfyUI's Cancel)
    QUEUE_WAIT = "queue"  # it waited in fal's queue past max_queue_wait without starting
    TOTAL_TIME = "total"  # max_total_time passed


@dataclass(frozen=True)
class FollowSettings:
    poll_interval: float = 0.5
    max_poll_interval: float = 5.0
    event_interval: float = 1.0
    cancel_timeout: float = 15.0
    stream_retries: int = 3


def limit_text(deadline: Deadline) -> str:
    return f"the {deadline.limit:g} s limit (max_total_time)" if deadline.limit else "the time limit"


def finished_but_late(handle: RequestHandle, doing: str, deadline: Deadline) -> RunTimeout:
    """The limit passed after fal finished the request (reading or downloading its result)."""
    rid = handle.request_id
    return RunTimeout(
        f"fal finished request {rid}, so it is billed, but {doing} passed {limit_text(deadline)}; "
        f"{where_to_find(rid, handle.response_url)}.",
        request_id=rid,
    )


async def follow_to_result(
    queue: QueueClient,
    handle: RequestHandle,
    emit: Emitter,
    should_stop: ShouldStop | None,
    deadline: Deadline,
    settings: FollowSettings,
) -> Completed:
    """Wait for COMPLETED (cancelling at fal on stop or a limit of ``deadline``), then read the result."""
    await _refuse_unsafe_handle(queue, handle, settings)
    with naming_request(handle.request_id, handle.response_url):
        progress = Progress(handle)
        reason = await _follow_until_done(queue, progress, emit, should_stop, deadline, settings)
        if reason is not None:
            raise await _abandon(queue, progress, reason, deadline, settings)
        try:
            read = await run_stoppable(queue.read_result(handle, deadline=deadline), should_stop, deadline)
        except StopRequested:
            raise RequestCancelled(
                f"Stopped after fal finished request {handle.request_id}, so it is billed; "
                f"{where_to_find(handle.request_id, handle.response_url)}.",
                was_running=True,
                request_id=handle.request_id,
            ) from None
        except DeadlineReached:
            raise finished_but_late(handle, "reading its result", deadline) from None
        now = time.monotonic()
        metrics = dict((progress.final or {}).get("metrics") or {})
        metrics.update(
            queue_seconds=round(progress.queue_seconds(now), 3),
            run_seconds=round(progress.run_seconds(now) or 0.0, 3),
        )
        emit(
            FalEvent(
                "completed",
                request_id=handle.request_id,
                elapsed_in_queue=progress.queue_seconds(now),
                elapsed_running=progress.run_seconds(now),
            )
        )
        return Completed(request_id=handle.request_id, handle=handle, result=read.body, metrics=metrics,
                         billable_units=read.billable_units)


async def _refuse_unsafe_handle(queue: QueueClient, handle: RequestHandle, settings: FollowSettings) -> None:
    """Before any keyed call to fal's URLs: refuse them if the key may not go there, and cancel the request
    through the configured server instead (the only place its cancel may safely be sent)."""
    try:
        queue.check_handle(handle)
    except UnsafeUrl as exc:
        safe = queue.handle_for(handle.endpoint_id, handle.request_id)
        answer = await queue.cancel(safe, timeout=settings.cancel_timeout)
        exc.message = (
            f"{exc.message} The request was cancelled through the configured server ({answer}); "
            f"check {REQUESTS_URL} that it did not run."
        )
        exc.args = (exc.message,)
        raise


async def _follow_until_done(
    queue: QueueClient,
    progress: Progress,
    emit: Emitter,
    should_stop: ShouldStop | None,
    deadline: Deadline,
    settings: FollowSettings,
) -> StopReason | None:
    """Wait for COMPLETED. Returns None when done, or why the wait ended before."""
    queue_timeout = deadline.queue_wait
    follower = asyncio.ensure_future(_follow(queue, progress, deadline, settings))
    try:
        while True:
            done, _ = await asyncio.wait({follower}, timeout=STOP_TICK)
            now = time.monotonic()
            event = progress.event_if_due(now, settings.event_interval)
            if event is not None:
                emit(event)
            if done:
                try:
                    follower.result()
                except DeadlineReached:
                    return StopReason.TOTAL_TIME
                return None
            if should_stop is not None and should_stop():
                return StopReason.CANCEL
            if deadline.expired():
                return StopReason.TOTAL_TIME
            if queue_timeout and not progress.was_running and now - progress.submitted_at > queue_timeout:
                return StopReason.QUEUE_WAIT
    finally:
        if not follower.done():
            follower.cancel()
        await asyncio.gather(follower, return_exceptions=True)


async def _follow(queue: QueueClient, progress: Progress, deadline: Deadline, settings: FollowSettings) -> None:
    """Keep ``progress`` current until COMPLETED: stream first, poll while the stream is unavailable."""
    handle = progress.handle
    stream_failures = 0
    polls_since_stream = 0
    interval = settings.poll_interval
    try_stream = True
    while True:
        if try_stream:
            got_events = False
            try:
                async with aclosing(queue.stream_status(handle)) as updates:
                    async for status in updates:
                        got_events = True
                        progress.update(status)
                        if status["status"] == COMPLETED:
                            return
                log.debug("status stream of %s ended before completion", handle.request_id)
            except StatusStreamFailed as exc:
                log.info("status stream of %s unavailable (%s); polling", handle.request_id, exc)
            stream_failures = 0 if got_events else stream_failures + 1
            polls_since_stream = 0
            interval = settings.poll_interval
        status = await queue.status(handle, logs=True, deadline=deadline)
        progress.update(status)
        if status["status"] == COMPLETED:
            return
        polls_since_stream += 1
        # Go back to the stream after a few polls unless it keeps failing outright.
        try_stream = stream_failures < settings.stream_retries and polls_since_stream >= 3
        await asyncio.sleep(interval)
        interval = min(interval * 1.5, settings.max_poll_interval)


async def _abandon(
    queue: QueueClient,
    progress: Progress,
    reason: StopReason,
    deadline: Deadline,
    settings: FollowSettings,
) -> FalError:
    handle = progress.handle
    rid = handle.request_id
    answer = await queue.cancel(handle, timeout=settings.cancel_timeout)
    cancel_failed = answer not in ("CANCELLATION_REQUESTED", "ALREADY_COMPLETED", "OK")
    if answer == "ALREADY_COMPLETED":
        progress.started_at = progress.started_at or time.monotonic()
    running = progress.was_running
    if running:
        fate = (
            f"it had already started on fal, so fal may finish it and bill it; "
            f"{where_to_find(rid, handle.response_url)}."
        )
    elif cancel_failed:
        fate = f"it was still queued, but the cancel did not go through ({answer}): check {REQUESTS_URL}."
    else:
        fate = "it was still waiting in fal's queue, so fal removed it and it is not billed."
    if reason is StopReason.CANCEL:
        return RequestCancelled(f"Stopped request {rid}: {fate}", was_running=running, request_id=rid)
    if reason is StopReason.QUEUE_WAIT:
        return QueueTimeout(
            f"Request {rid} waited in fal's queue for more than {deadline.queue_wait:g} s without starting "
            f"and was cancelled; {fate} A request that never starts often means the fal account has "
            f"no credit left (check {BILLING_URL}) or fal is very busy.",
            request_id=rid,
        )
    return RunTimeout(
        f"Request {rid} took longer than {limit_text(deadline)} and a cancel was sent; {fate}",
        request_id=rid,
    )
