"""Files to and from fal: the inputs a request uses (``Upload``, fal storage) and the results it made.

``FileTransfers`` is the half of ``FalRunner`` that moves bytes: ``upload_many`` (inputs, each going up as soon
as it is made, all or nothing), ``download`` (a result's file, never with the key, resumable) and ``fetch_tail``
(an MP4's index by a Range request, for a decoder reading the file as it lands).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import FalConfig
from .deadline import Deadline
from .download import download_file, fetch_tail
from .errors import DeadlineReached, RequestCancelled, RunTimeout, StopRequested, naming_request, where_to_find
from .events import EventCallback, FalEvent
from .follow import finished_but_late, limit_text
from .http import TRANSFER_TIMEOUT, create_client
from .progress import Emitter
from .queue import RequestHandle
from .retry import RetryPolicy
from .stopping import ShouldStop, run_stoppable
from .storage import Storage


@dataclass(frozen=True)
class Upload:
    """One input file for fal storage: its bytes, type and name, and the SHA-256 of the bytes (what the upload
    cache and the journal know it by)."""

    data: bytes = field(repr=False)
    content_type: str
    file_name: str
    sha256: str = ""

    def __post_init__(self) -> None:
        if not self.sha256:
            object.__setattr__(self, "sha256", hashlib.sha256(self.data).hexdigest())


class FileTransfers:
    """Uploads and downloads with the runner's config and retry policy (``FalRunner`` is one)."""

    config: FalConfig
    retry: RetryPolicy

    async def upload_many(
        self,
        items: Sequence[Upload | Awaitable[Upload | None]],
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

            async def one(entry: Upload | Awaitable[Upload | None]) -> str | None:
                item = entry if isinstance(entry, Upload) else await entry
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
