"""The one "run a request on fal" routine every node uses.

submit → follow the status (SSE stream, polling when the stream fails, back to the stream when it can)
→ result. While it waits it reports progress events, checks ``should_stop`` every 100 ms, and watches
two limits: time spent IN_QUEUE (a request that never starts usually means no credit) and total time.
On stop or timeout it PUTs fal's cancel URL and says plainly whether the request was still queued (not
billed) or already running (fal finishes and bills it; its result stays fetchable by request id).

A process-wide cap (per event loop) limits how many requests are in flight at once. One ``Deadline``
(from ``total_timeout`` or passed in) bounds every phase: the wait, the result read, retries and
downloads. Following and fetching the result live in ``follow``; progress bookkeeping in ``progress``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import FalConfig
from .deadline import Deadline
from .errors import (
    REQUESTS_URL,
    DeadlineReached,
    FalError,
    RequestCancelled,
    ResultExpired,
    RunTimeout,
    StopRequested,
    naming_request,
    where_to_find,
)
from .events import EventCallback, FalEvent
from .follow import (
    Completed,
    FollowSettings,
    cancel_request,
    finished_but_late,
    follow_to_result,
    limit_text,
)
from .http import create_client
from .progress import Emitter
from .queue import QueueClient, RequestHandle, check_endpoint_id
from .retry import RetryPolicy
from .slots import in_flight, max_concurrent, request_slot, set_max_concurrent  # noqa: F401  (public API)
from .stopping import STOP_TICK, ShouldStop, run_stoppable
from .storage import Storage

log = logging.getLogger(__name__)

DASHBOARD = REQUESTS_URL
__all__ = ["Completed", "FalRunner", "UploadItem", "download", "run", "upload_many"]


@dataclass(frozen=True)
class UploadItem:
    data: bytes
    content_type: str
    file_name: str


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

    @property
    def follow_settings(self) -> FollowSettings:
        return FollowSettings(
            poll_interval=self.poll_interval,
            max_poll_interval=self.max_poll_interval,
            event_interval=self.event_interval,
            cancel_timeout=self.cancel_timeout,
            stream_retries=self.stream_retries,
        )

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
        deadline: Deadline | None = None,
        on_submitted: Callable[[RequestHandle], None] | None = None,
    ) -> Completed:
        """Submit, follow and read the result. ``deadline`` (or ``total_timeout`` seconds from now) bounds it all.

        ``on_submitted(handle)`` runs synchronously the moment fal returns the request id, before any
        waiting, so a caller can record it durably first. Any failure after fal accepted the request
        names its request id.
        """
        emit = Emitter(on_event)
        deadline = deadline if deadline is not None else Deadline(total_timeout)
        async with self._queue_session(endpoint_id, emit, should_stop) as queue:
            emit(FalEvent("submitting"))
            handle = await self._submit(queue, endpoint_id, payload, headers, should_stop, deadline)
            if on_submitted is not None:
                try:
                    on_submitted(handle)
                except Exception:  # a failed record must not orphan a paid request: keep following it
                    log.exception("on_submitted callback failed for request %s", handle.request_id)
            return await follow_to_result(queue, handle, emit, should_stop, queue_timeout, deadline,
                                          self.follow_settings)

    @asynccontextmanager
    async def _queue_session(self, endpoint_id: str, emit: Emitter,
                             should_stop: ShouldStop | None) -> AsyncIterator[QueueClient]:
        """A queue client inside this process's in-flight cap: what ``run`` and ``follow`` both need."""
        config = self.config
        config.require_credentials()
        check_endpoint_id(endpoint_id)
        async with request_slot(should_stop, lambda: emit(FalEvent("waiting_for_slot"))):
            async with create_client(config) as client:
                yield QueueClient(client, config.hosts, retry=self.retry)

    async def follow(
        self,
        endpoint_id: str,
        request_id: str,
        *,
        on_event: EventCallback | None = None,
        should_stop: ShouldStop | None = None,
        queue_timeout: float | None = None,
        total_timeout: float | None = None,
        deadline: Deadline | None = None,
    ) -> Completed:
        """Follow a request submitted earlier (e.g. before a restart) to its result, with the same
        status stream, limits and cancel as ``run``. A request fal no longer knows (its retention
        passed) raises ``ResultExpired`` naming the request id."""
        emit = Emitter(on_event)
        deadline = deadline if deadline is not None else Deadline(total_timeout)
        async with self._queue_session(endpoint_id, emit, should_stop) as queue:
            handle = queue.handle_for(endpoint_id, request_id)
            try:
                return await follow_to_result(queue, handle, emit, should_stop, queue_timeout, deadline,
                                              self.follow_settings)
            except FalError as exc:
                if exc.status_code in (404, 410) and not isinstance(exc, ResultExpired):
                    raise ResultExpired(
                        f"fal no longer has request {request_id} (HTTP {exc.status_code}): its result was "
                        f"kept for a limited time only (6 minutes to 1 hour after it finished). Check "
                        f"{REQUESTS_URL}.", request_id=request_id, status_code=exc.status_code,
                    ) from exc
                raise

    async def _submit(
        self,
        queue: QueueClient,
        endpoint_id: str,
        payload: Mapping[str, Any],
        headers: Mapping[str, str] | None,
        should_stop: ShouldStop | None,
        deadline: Deadline,
    ) -> RequestHandle:
        task = asyncio.ensure_future(queue.submit(endpoint_id, payload, headers=headers))
        try:
            while True:
                done, _ = await asyncio.wait({task}, timeout=STOP_TICK)
                if done:
                    return task.result()
                stopped = should_stop is not None and should_stop()
                if stopped or deadline.expired():
                    break
            # Stopping mid-submit: fal may be accepting it right now. Give the answer a moment so we
            # learn the request id and can cancel it, instead of leaving an unseen job running.
            done, _ = await asyncio.wait({task}, timeout=self.submit_stop_grace)
            if done and task.exception() is None:
                handle = task.result()
                answer = await cancel_request(queue, handle, self.cancel_timeout)
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

    # -- fetch by id --

    async def fetch_result(
        self, endpoint_id: str, request_id: str, *, deadline: Deadline | None = None
    ) -> dict[str, Any]:
        """Read the result of an earlier request (e.g. to get fresh media URLs)."""
        config = self.config
        config.require_credentials()
        async with create_client(config) as client:
            queue = QueueClient(client, config.hosts, retry=self.retry)
            handle = queue.handle_for(endpoint_id, request_id)
            try:
                return await run_stoppable(queue.result(handle, deadline=deadline), None, deadline)
            except DeadlineReached:
                raise finished_but_late(handle, "reading its result again", deadline or Deadline.none()) from None

    async def cancel(self, endpoint_id: str, request_id: str) -> str:
        """PUT fal's cancel for an earlier request (e.g. from the inbox). Returns fal's answer
        (CANCELLATION_REQUESTED, ALREADY_COMPLETED, NOT_FOUND) or a short note of why it was not sent."""
        config = self.config
        config.require_credentials()
        check_endpoint_id(endpoint_id)
        async with create_client(config) as client:
            queue = QueueClient(client, config.hosts, retry=self.retry)
            return await cancel_request(queue, queue.handle_for(endpoint_id, request_id), self.cancel_timeout)

    # -- uploads --

    async def upload_many(
        self,
        items: Sequence[UploadItem | Awaitable[UploadItem | None]],
        *,
        on_event: EventCallback | None = None,
        should_stop: ShouldStop | None = None,
        concurrency: int = 4,
        deadline: Deadline | None = None,
    ) -> list[str | None]:
        """Upload all ``items`` (at most ``concurrency`` at once); URLs come back in the same order.

        An item may still be in the making (an awaitable, e.g. an input being encoded): it goes up as soon as it
        is ready, while the others upload or are still made, so the link never waits for the last encode. One
        that comes to None has nothing to upload here (its URL is known elsewhere); its place gets None. Any
        failure, Cancel or the deadline stops every item, made or not: all or nothing."""
        config = self.config
        credentials = config.require_credentials()
        emit = Emitter(on_event)
        total = len(items)
        if not items:
            return []
        counts = {"done": 0, "bytes": 0, "known": 0, "known_bytes": 0}
        gate = asyncio.Semaphore(max(1, concurrency))

        def report() -> None:
            emit(
                FalEvent(
                    "uploading",
                    uploads_done=counts["done"],
                    uploads_total=total,
                    bytes_done=counts["bytes"],
                    # The whole size is known once every item is made.
                    bytes_total=counts["known_bytes"] if counts["known"] == total else None,
                )
            )

        async with create_client(config) as client:
            storage = Storage(client, config.hosts, credentials, retry=self.retry, should_stop=should_stop)

            async def one(entry: UploadItem | Awaitable[UploadItem | None]) -> str | None:
                item = entry if isinstance(entry, UploadItem) else await entry
                counts["known"] += 1
                if item is None:
                    counts["done"] += 1
                    report()
                    return None
                counts["known_bytes"] += len(item.data)
                async with gate:
                    url = await storage.upload(item.data, item.content_type, item.file_name)
                counts["done"] += 1
                counts["bytes"] += len(item.data)
                report()
                return url

            report()
            try:
                return await run_stoppable(_all_or_nothing(one, items), should_stop, deadline)
            except StopRequested:
                raise RequestCancelled(
                    f"Stopped while uploading inputs ({counts['done']} of {total} done). Nothing was "
                    "submitted to fal, so nothing is billed.",
                    was_running=False,
                ) from None
            except DeadlineReached:
                raise RunTimeout(
                    f"Uploading the inputs ({counts['done']} of {total} done) passed "
                    f"{limit_text(deadline or Deadline.none())}. Nothing was submitted to fal, so nothing is billed."
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
        deadline: Deadline | None = None,
        response_url: str | None = None,
        on_written: Callable[[int, int | None], None] | None = None,
    ) -> Path:
        """Stream ``url`` to ``dest`` with "Downloading x of y MB" events. Never sends the key, wherever
        ``url`` points. ``request_id`` and ``response_url`` name the request in stop and limit messages.
        ``on_written``: see download.py (for a decoder reading the file as it lands)."""
        from .download import download_file

        emit = Emitter(on_event)
        last = {"t": 0.0}

        def on_progress(done: int, total: int | None) -> None:
            now = time.monotonic()
            if now - last["t"] >= 0.25 or (total is not None and done >= total):
                last["t"] = now
                emit(FalEvent("downloading", request_id=request_id, bytes_done=done, bytes_total=total))

        # Once a request id is known, any failure names it (the result is paid for).
        named = naming_request(request_id, response_url) if request_id else nullcontext()
        async with create_client(self.config, with_key=False, follow_redirects=True) as client:
            with named:
                try:
                    return await download_file(
                        client,
                        url,
                        dest,
                        expected_size=expected_size,
                        on_progress=on_progress,
                        should_stop=should_stop,
                        retry=self.retry,
                        deadline=deadline,
                        on_written=on_written,
                    )
                except StopRequested:
                    where = f" of request {request_id}" if request_id else ""
                    again = f"; {where_to_find(request_id, response_url)}." if request_id else " and can be fetched again."
                    raise RequestCancelled(
                        f"Stopped while downloading the result{where}. fal already finished it (and billed it)"
                        + again,
                        was_running=True,
                        request_id=request_id,
                    ) from None
                except DeadlineReached:
                    if request_id:
                        handle = RequestHandle(request_id, "", response_url or "", "", "")
                        late = finished_but_late(handle, "downloading its result", deadline or Deadline.none())
                        raise late from None
                    raise RunTimeout(f"Downloading passed {limit_text(deadline or Deadline.none())}.") from None

    async def fetch_tail(self, url: str, start: int, total: int | None, *, limit: int,
                         deadline: Deadline | None = None) -> bytes | None:
        """The bytes of ``url`` from ``start`` to its end by a Range request (never with the key), or None
        when the server did not honour the range; see download.fetch_tail."""
        from .download import fetch_tail
        from .http import TRANSFER_TIMEOUT

        timeout = deadline.clip(TRANSFER_TIMEOUT) if deadline is not None else TRANSFER_TIMEOUT
        async with create_client(self.config, with_key=False, follow_redirects=True) as client:
            return await fetch_tail(client, url, start, total, limit=limit, timeout=timeout)


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
    items: Sequence[UploadItem | Awaitable[UploadItem | None]], *, key_file: str | None = None, **kwargs: Any
) -> list[str | None]:
    return await FalRunner(key_file=key_file).upload_many(items, **kwargs)


async def download(url: str, dest: str | os.PathLike[str], **kwargs: Any) -> Path:
    return await FalRunner().download(url, dest, **kwargs)
