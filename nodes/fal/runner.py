"""The one "run a request on fal" routine every node uses.

submit → follow the status (SSE stream, polling when the stream fails, back to the stream when it can)
→ result. While it waits it reports progress events, checks ``should_stop`` every 100 ms, and watches
two limits: time spent IN_QUEUE (a request that never starts usually means no credit) and total time.
On stop or timeout it PUTs fal's cancel URL and says plainly whether the request was still queued (not
billed) or already running (fal finishes and bills it; its result stays fetchable by request id).

A process-wide cap (per event loop) limits how many requests are in flight at once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import FalConfig
from .errors import (
    BILLING_URL,
    FalError,
    QueueTimeout,
    RequestCancelled,
    ResultExpired,
    RunTimeout,
    StopRequested,
)
from .events import EventCallback, FalEvent
from .http import create_client
from .queue import (
    COMPLETED,
    IN_QUEUE,
    QueueClient,
    RequestHandle,
    StatusStreamFailed,
    check_endpoint_id,
)
from .retry import RetryPolicy
from .slots import in_flight, max_concurrent, request_slot, set_max_concurrent  # noqa: F401  (public API)
from .stopping import STOP_TICK, ShouldStop, run_stoppable
from .storage import Storage

log = logging.getLogger(__name__)

DASHBOARD = "https://fal.ai/dashboard/requests"


@dataclass(frozen=True)
class Completed:
    request_id: str
    handle: RequestHandle
    result: dict[str, Any]
    metrics: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class UploadItem:
    data: bytes
    content_type: str
    file_name: str


# --- progress ------------------------------------------------------------------------------------


class _Emitter:
    """Calls the caller's event callback; a broken progress display must not break a paid run."""

    def __init__(self, on_event: EventCallback | None) -> None:
        self._on_event = on_event

    def __call__(self, event: FalEvent) -> None:
        if self._on_event is None:
            return
        try:
            self._on_event(event)
        except Exception:
            log.exception("progress callback failed; continuing the run")


class _Progress:
    """What we know about a submitted request, updated from status reads and stream events."""

    def __init__(self, handle: RequestHandle) -> None:
        self.handle = handle
        self.submitted_at = time.monotonic()
        self.started_at: float | None = None
        self.finished_at: float | None = None
        self.status = IN_QUEUE
        self.queue_position: int | None = None
        self.fraction: float | None = None
        self.final: dict[str, Any] | None = None
        self._seen_logs: set[tuple[Any, Any]] = set()
        self._new_logs: list[str] = []
        self.last_log: str | None = None
        self._dirty = True
        self._last_emit = 0.0

    @property
    def was_running(self) -> bool:
        return self.started_at is not None

    def update(self, status: Mapping[str, Any]) -> None:
        now = time.monotonic()
        state = status["status"]
        if state == IN_QUEUE:
            position = status.get("queue_position")
            self.queue_position = position if isinstance(position, int) else self.queue_position
        elif self.started_at is None:
            self.started_at = now
        if state == COMPLETED:
            self.finished_at = now
            self.final = dict(status)
        progress = status.get("progress")
        if isinstance(progress, (int, float)) and not isinstance(progress, bool):
            self.fraction = max(0.0, min(1.0, progress / 100 if progress > 1 else float(progress)))
        for entry in status.get("logs") or []:
            if not isinstance(entry, Mapping):
                continue
            message = str(entry.get("message", "")).strip()
            key = (entry.get("timestamp"), message)
            if message and key not in self._seen_logs:
                self._seen_logs.add(key)
                self._new_logs.append(message)
                self.last_log = message
        if state != self.status:
            self.status = state
        self._dirty = True

    def queue_seconds(self, now: float) -> float:
        return (self.started_at or now) - self.submitted_at

    def run_seconds(self, now: float) -> float | None:
        return None if self.started_at is None else (self.finished_at or now) - self.started_at

    def event_if_due(self, now: float, every: float) -> FalEvent | None:
        if not self._dirty and now - self._last_emit < every:
            return None
        self._dirty = False
        self._last_emit = now
        logs, self._new_logs = tuple(self._new_logs), []
        phase = "in_queue" if self.status == IN_QUEUE else "running"
        return FalEvent(
            phase,  # type: ignore[arg-type]
            request_id=self.handle.request_id,
            queue_position=self.queue_position if phase == "in_queue" else None,
            new_logs=logs,
            last_log=self.last_log,
            elapsed_in_queue=self.queue_seconds(now),
            elapsed_running=self.run_seconds(now),
            fraction=self.fraction,
        )


# --- the runner ----------------------------------------------------------------------------------


class FalRunner:
    def __init__(
        self,
        config: FalConfig | None = None,
        *,
        key_file: str | os.PathLike[str] | None = None,
        retry: RetryPolicy | None = None,
        poll_interval: float = 0.5,
        max_poll_interval: float = 5.0,
        event_interval: float = 1.0,
        cancel_timeout: float = 15.0,
        submit_stop_grace: float = 5.0,
        stream_retries: int = 3,
    ) -> None:
        self._config = config
        self._key_file = key_file
        self.retry = retry or RetryPolicy()
        self.poll_interval = poll_interval
        self.max_poll_interval = max_poll_interval
        self.event_interval = event_interval
        self.cancel_timeout = cancel_timeout
        self.submit_stop_grace = submit_stop_grace
        self.stream_retries = stream_retries

    @property
    def config(self) -> FalConfig:
        # Read the environment per call, so a key set while ComfyUI runs is picked up.
        return self._config if self._config is not None else FalConfig.from_env(key_file=self._key_file)

    # -- run --

    async def run(
        self,
        endpoint_id: str,
        payload: Mapping[str, Any],
        *,
        on_event: EventCallback | None = None,
        should_stop: ShouldStop | None = None,
        queue_timeout: float | None = None,
        total_timeout: float | None = None,
        headers: Mapping[str, str] | None = None,
        on_submitted: Callable[[RequestHandle], None] | None = None,
    ) -> Completed:
        """Submit, follow and fetch the result. ``on_submitted(handle)`` runs synchronously the moment
        fal returns the request id, before any waiting, so a caller can record it durably first."""
        config = self.config
        config.require_credentials()
        check_endpoint_id(endpoint_id)
        emit = _Emitter(on_event)
        deadline = time.monotonic() + total_timeout if total_timeout else None
        async with request_slot(should_stop, lambda: emit(FalEvent("waiting_for_slot"))):
            async with create_client(config) as client:
                queue = QueueClient(client, config.hosts, retry=self.retry)
                emit(FalEvent("submitting"))
                handle = await self._submit(queue, endpoint_id, payload, headers, should_stop, deadline)
                if on_submitted is not None:
                    try:
                        on_submitted(handle)
                    except Exception:  # a failed record must not orphan a paid request: keep following it
                        log.exception("on_submitted callback failed for request %s", handle.request_id)
                return await self._to_result(queue, handle, emit, should_stop, queue_timeout, total_timeout, deadline)

    async def follow(
        self,
        endpoint_id: str,
        request_id: str,
        *,
        on_event: EventCallback | None = None,
        should_stop: ShouldStop | None = None,
        queue_timeout: float | None = None,
        total_timeout: float | None = None,
    ) -> Completed:
        """Follow a request submitted earlier (e.g. before a restart) to its result, with the same
        status stream, limits and cancel as ``run``. A request fal no longer knows (its retention
        passed) raises ``ResultExpired`` naming the request id."""
        config = self.config
        config.require_credentials()
        check_endpoint_id(endpoint_id)
        emit = _Emitter(on_event)
        deadline = time.monotonic() + total_timeout if total_timeout else None
        async with request_slot(should_stop, lambda: emit(FalEvent("waiting_for_slot"))):
            async with create_client(config) as client:
                queue = QueueClient(client, config.hosts, retry=self.retry)
                handle = queue.handle_for(endpoint_id, request_id)
                try:
                    return await self._to_result(queue, handle, emit, should_stop, queue_timeout, total_timeout,
                                                 deadline)
                except FalError as exc:
                    if exc.status_code in (404, 410) and not isinstance(exc, ResultExpired):
                        raise ResultExpired(
                            f"fal no longer has request {request_id} (HTTP {exc.status_code}): its result was "
                            f"kept for a limited time only (6 minutes to 1 hour after it finished). Check "
                            f"{DASHBOARD}.", request_id=request_id, status_code=exc.status_code,
                        ) from exc
                    raise

    async def _to_result(
        self,
        queue: QueueClient,
        handle: RequestHandle,
        emit: _Emitter,
        should_stop: ShouldStop | None,
        queue_timeout: float | None,
        total_timeout: float | None,
        deadline: float | None,
    ) -> Completed:
        """Follow ``handle`` until COMPLETED (cancelling on stop or a limit), then read the result."""
        progress = _Progress(handle)
        reason = await self._follow_until_done(
            queue, progress, emit, should_stop, queue_timeout, deadline
        )
        if reason is not None:
            raise await self._abandon(queue, progress, reason, queue_timeout, total_timeout)
        try:
            result = await run_stoppable(queue.result(handle), should_stop)
        except StopRequested:
            raise RequestCancelled(
                f"Stopped after fal finished request {handle.request_id}; it is billed and its "
                "result can still be fetched with that request id.",
                was_running=True,
                request_id=handle.request_id,
            ) from None
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
        return Completed(request_id=handle.request_id, handle=handle, result=result, metrics=metrics)

    async def _submit(
        self,
        queue: QueueClient,
        endpoint_id: str,
        payload: Mapping[str, Any],
        headers: Mapping[str, str] | None,
        should_stop: ShouldStop | None,
        deadline: float | None,
    ) -> RequestHandle:
        task = asyncio.ensure_future(queue.submit(endpoint_id, payload, headers=headers))
        try:
            while True:
                done, _ = await asyncio.wait({task}, timeout=STOP_TICK)
                if done:
                    return task.result()
                stopped = should_stop is not None and should_stop()
                if stopped or (deadline is not None and time.monotonic() > deadline):
                    break
            # Stopping mid-submit: fal may be accepting it right now. Give the answer a moment so we
            # learn the request id and can cancel it, instead of leaving an unseen job running.
            done, _ = await asyncio.wait({task}, timeout=self.submit_stop_grace)
            if done and task.exception() is None:
                handle = task.result()
                answer = await self._cancel(queue, handle)
                cls = RequestCancelled if stopped else RunTimeout
                extra = {"was_running": False} if stopped else {}
                raise cls(
                    f"{'Stopped' if stopped else 'Timed out'} while submitting; fal had just accepted "
                    f"request {handle.request_id} and it was cancelled ({answer}) before it started, "
                    "so it is not billed.",
                    request_id=handle.request_id,
                    **extra,
                )
            if done:
                task.result()  # the submit failed anyway: report that error
            message = (
                f"{'Stopped' if stopped else 'Timed out'} while submitting, before fal confirmed the "
                f"request. fal may still have received it: check {DASHBOARD}."
            )
            if stopped:
                raise RequestCancelled(message, was_running=False)
            raise RunTimeout(message)
        finally:
            if not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    async def _follow_until_done(
        self,
        queue: QueueClient,
        progress: _Progress,
        emit: _Emitter,
        should_stop: ShouldStop | None,
        queue_timeout: float | None,
        deadline: float | None,
    ) -> str | None:
        """Wait for COMPLETED. Returns None when done, or why we stopped waiting: stop/queue/total."""
        follower = asyncio.ensure_future(self._follow(queue, progress))
        try:
            while True:
                done, _ = await asyncio.wait({follower}, timeout=STOP_TICK)
                now = time.monotonic()
                event = progress.event_if_due(now, self.event_interval)
                if event is not None:
                    emit(event)
                if done:
                    follower.result()
                    return None
                if should_stop is not None and should_stop():
                    return "stop"
                if deadline is not None and now > deadline:
                    return "total"
                if queue_timeout and not progress.was_running and now - progress.submitted_at > queue_timeout:
                    return "queue"
        finally:
            if not follower.done():
                follower.cancel()
            await asyncio.gather(follower, return_exceptions=True)

    async def _follow(self, queue: QueueClient, progress: _Progress) -> None:
        """Keep ``progress`` current until COMPLETED: stream first, poll while the stream is unavailable."""
        handle = progress.handle
        stream_failures = 0
        polls_since_stream = 0
        interval = self.poll_interval
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
                interval = self.poll_interval
            status = await queue.status(handle, logs=True)
            progress.update(status)
            if status["status"] == COMPLETED:
                return
            polls_since_stream += 1
            # Go back to the stream after a few polls unless it keeps failing outright.
            try_stream = stream_failures < self.stream_retries and polls_since_stream >= 3
            await asyncio.sleep(interval)
            interval = min(interval * 1.5, self.max_poll_interval)

    async def _cancel(self, queue: QueueClient, handle: RequestHandle) -> str:
        """PUT cancel; returns fal's answer or a short note of why it could not be sent."""
        try:
            return await asyncio.wait_for(queue.cancel(handle), timeout=self.cancel_timeout)
        except asyncio.TimeoutError:
            return "no answer to the cancel call"
        except FalError as exc:
            log.warning("cancel of %s failed: %s", handle.request_id, exc)
            return f"cancel call failed: {type(exc).__name__}"

    async def _abandon(
        self,
        queue: QueueClient,
        progress: _Progress,
        reason: str,
        queue_timeout: float | None,
        total_timeout: float | None,
    ) -> FalError:
        handle = progress.handle
        rid = handle.request_id
        answer = await self._cancel(queue, handle)
        cancel_failed = answer not in ("CANCELLATION_REQUESTED", "ALREADY_COMPLETED", "OK")
        if answer == "ALREADY_COMPLETED":
            progress.started_at = progress.started_at or time.monotonic()
        running = progress.was_running
        if running:
            fate = (
                f"it had already started on fal, so fal may finish it and bill it; its result can still be "
                f"fetched with request id {rid}."
            )
        elif cancel_failed:
            fate = f"it was still queued, but the cancel did not go through ({answer}): check {DASHBOARD}."
        else:
            fate = "it was still waiting in fal's queue, so fal removed it and it is not billed."
        if reason == "stop":
            return RequestCancelled(f"Stopped request {rid}: {fate}", was_running=running, request_id=rid)
        if reason == "queue":
            return QueueTimeout(
                f"Request {rid} waited in fal's queue for more than {queue_timeout:g} s without starting "
                f"and was cancelled; {fate} A request that never starts often means the fal account has "
                f"no credit left (check {BILLING_URL}) or fal is very busy.",
                request_id=rid,
            )
        return RunTimeout(
            f"Request {rid} took longer than the {total_timeout:g} s limit and a cancel was sent; {fate}",
            request_id=rid,
        )

    # -- fetch by id --

    async def fetch_result(self, endpoint_id: str, request_id: str) -> dict[str, Any]:
        """Read the result of an earlier request (e.g. to get fresh media URLs)."""
        config = self.config
        config.require_credentials()
        async with create_client(config) as client:
            queue = QueueClient(client, config.hosts, retry=self.retry)
            return await queue.result(queue.handle_for(endpoint_id, request_id))

    async def cancel(self, endpoint_id: str, request_id: str) -> str:
        """PUT fal's cancel for an earlier request (e.g. from the inbox). Returns fal's answer
        (CANCELLATION_REQUESTED, ALREADY_COMPLETED, NOT_FOUND) or a short note of why it was not sent."""
        config = self.config
        config.require_credentials()
        check_endpoint_id(endpoint_id)
        async with create_client(config) as client:
            queue = QueueClient(client, config.hosts, retry=self.retry)
            return await self._cancel(queue, queue.handle_for(endpoint_id, request_id))

    # -- uploads --

    async def upload_many(
        self,
        items: Sequence[UploadItem],
        *,
        on_event: EventCallback | None = None,
        should_stop: ShouldStop | None = None,
        concurrency: int = 4,
    ) -> list[str]:
        """Upload all ``items`` (at most ``concurrency`` at once); URLs come back in the same order."""
        config = self.config
        credentials = config.require_credentials()
        emit = _Emitter(on_event)
        total = len(items)
        total_bytes = sum(len(i.data) for i in items)
        if not items:
            return []
        counts = {"done": 0, "bytes": 0}
        gate = asyncio.Semaphore(max(1, concurrency))

        def report() -> None:
            emit(
                FalEvent(
                    "uploading",
                    uploads_done=counts["done"],
                    uploads_total=total,
                    bytes_done=counts["bytes"],
                    bytes_total=total_bytes,
                )
            )

        async with create_client(config) as client:
            storage = Storage(client, config.hosts, credentials, retry=self.retry, should_stop=should_stop)

            async def one(item: UploadItem) -> str:
                async with gate:
                    url = await storage.upload(item.data, item.content_type, item.file_name)
                counts["done"] += 1
                counts["bytes"] += len(item.data)
                report()
                return url

            report()
            try:
                return await run_stoppable(_all_or_nothing(one, items), should_stop)
            except StopRequested:
                raise RequestCancelled(
                    f"Stopped while uploading inputs ({counts['done']} of {total} done). Nothing was "
                    "submitted to fal, so nothing is billed.",
                    was_running=False,
                ) from None

    # -- downloads --

    async def download(
        self,
        url: str,
        dest: str | os.PathLike[str],
        *,
        expected_size: int | None = None,
        on_event: EventCallback | None = None,
        should_stop: ShouldStop | None = None,
        request_id: str | None = None,
    ) -> Path:
        """Stream ``url`` to ``dest`` with "Downloading x of y MB" events. Never sends the key."""
        from .download import download_file

        emit = _Emitter(on_event)
        last = {"t": 0.0}

        def on_progress(done: int, total: int | None) -> None:
            now = time.monotonic()
            if now - last["t"] >= 0.25 or (total is not None and done >= total):
                last["t"] = now
                emit(FalEvent("downloading", request_id=request_id, bytes_done=done, bytes_total=total))

        async with create_client(self.config, with_key=False, follow_redirects=True) as client:
            try:
                return await download_file(
                    client,
                    url,
                    dest,
                    expected_size=expected_size,
                    on_progress=on_progress,
                    should_stop=should_stop,
                    retry=self.retry,
                )
            except StopRequested:
                where = f" of request {request_id}" if request_id else ""
                raise RequestCancelled(
                    f"Stopped while downloading the result{where}. fal already finished it (and billed it); "
                    "the result can be fetched again"
                    + (f" with request id {request_id}." if request_id else "."),
                    was_running=True,
                    request_id=request_id,
                ) from None


async def _all_or_nothing(work: Callable[[Any], Awaitable[Any]], items: Sequence[Any]) -> list[Any]:
    """gather(work(i) for i in items) that cancels the rest as soon as one fails and leaves no task behind."""
    tasks = [asyncio.ensure_future(work(item)) for item in items]
    try:
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            if task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
        return [t.result() for t in tasks]
    finally:
        for task in tasks:
            if not task.done():
                task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


# --- module-level shortcuts ----------------------------------------------------------------------


async def run(
    endpoint_id: str, payload: Mapping[str, Any], *, key_file: str | None = None, **kwargs: Any
) -> Completed:
    return await FalRunner(key_file=key_file).run(endpoint_id, payload, **kwargs)


async def upload_many(
    items: Sequence[UploadItem], *, key_file: str | None = None, **kwargs: Any
) -> list[str]:
    return await FalRunner(key_file=key_file).upload_many(items, **kwargs)


async def download(url: str, dest: str | os.PathLike[str], **kwargs: Any) -> Path:
    return await FalRunner().download(url, dest, **kwargs)
