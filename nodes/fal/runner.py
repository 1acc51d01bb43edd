"""The one "run a request on fal" routine every node uses.

submit → follow the status (SSE stream, polling when the stream fails, back to the stream when it can)
→ result. While it waits it reports progress events, checks ``should_stop`` every 100 ms, and watches
the two limits of its ``Deadline`` (a started ``TimeLimits``): time spent IN_QUEUE (a request that never
starts usually means no credit) and total time. On stop or timeout it PUTs fal's cancel URL and says
plainly whether the request was still queued (not billed) or already running (fal finishes and bills it;
its result stays fetchable by request id).

A process-wide cap (per event loop) limits how many requests are in flight at once. The one ``Deadline``
bounds every phase: the wait, the result read, retries and downloads. Following and fetching the result
live in ``follow``; progress bookkeeping in ``progress``; uploads and downloads in ``transfers``.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
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
)
from .events import EventCallback, FalEvent
from .follow import Completed, FollowSettings, finished_but_late, follow_to_result
from .http import create_client
from .progress import Emitter
from .queue import QueueClient, RequestHandle, check_endpoint_id
from .retry import RetryPolicy
from .slots import request_slot
from .stopping import STOP_TICK, ShouldStop, run_stoppable
from .transfers import FileTransfers

log = logging.getLogger(__name__)

DASHBOARD = REQUESTS_URL
__all__ = ["Completed", "FalRunner"]


class FalRunner(FileTransfers):
    """Runs requests on fal with one key's config: submit and follow (``run``), follow one submitted earlier
    (``follow``), read a result again, cancel by id, and (``FileTransfers``) upload inputs and download results."""

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
        deadline: Deadline | None = None,
        headers: Mapping[str, str] | None = None,
        on_submitted: Callable[[RequestHandle], None] | None = None,
    ) -> Completed:
        """Submit, follow and read the result. ``deadline`` (``TimeLimits.start()``; default: no limits) bounds
        it all.

        ``on_submitted(handle)`` runs synchronously the moment fal returns the request id, before any
        waiting, so a caller can record it durably first. Any failure after fal accepted the request
        names its request id.
        """
        emit = Emitter(on_event)
        deadline = deadline if deadline is not None else Deadline.none()
        async with self._queue_session(endpoint_id, emit, should_stop) as queue:
            emit(FalEvent("submitting"))
            handle = await self._submit(queue, endpoint_id, payload, headers, should_stop, deadline)
            if on_submitted is not None:
                try:
                    on_submitted(handle)
                except Exception:  # a failed record must not orphan a paid request: keep following it
                    log.exception("on_submitted callback failed for request %s", handle.request_id)
            return await follow_to_result(queue, handle, emit, should_stop, deadline, self.follow_settings)

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
        deadline: Deadline | None = None,
    ) -> Completed:
        """Follow a request submitted earlier (e.g. before a restart) to its result, with the same
        status stream, limits and cancel as ``run``. A request fal no longer knows (its retention
        passed) raises ``ResultExpired`` naming the request id."""
        emit = Emitter(on_event)
        deadline = deadline if deadline is not None else Deadline.none()
        async with self._queue_session(endpoint_id, emit, should_stop) as queue:
            handle = queue.handle_for(endpoint_id, request_id)
            try:
                return await follow_to_result(queue, handle, emit, should_stop, deadline, self.follow_settings)
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
                answer = await queue.cancel(handle, timeout=self.cancel_timeout)
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
            return await queue.cancel(queue.handle_for(endpoint_id, request_id), timeout=self.cancel_timeout)
