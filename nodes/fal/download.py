"""Streaming a result file to disk: chunked, resumable, verified, all-or-nothing.

Bytes go to ``<dest>.part`` and are renamed to ``dest`` only once complete and of the right length,
so a half-downloaded video never looks like a finished one. A dropped connection resumes with
``Range: bytes=N-``; if the server ignores the range we start over rather than corrupt the file.
Media URLs never carry the key: pass a client made with ``create_client(with_key=False)``.
A ``Deadline`` bounds the whole transfer, resumes and backoff included.

``on_written(done, total)`` is for a reader of the growing .part file (a decoder that starts before the
last byte): it is called only after the bytes are flushed to the OS, so a read of ``[0, done)`` sees them;
``done`` going back to 0 means the server ignored Range and the file is being written again from its start.
``fetch_tail`` reads the last bytes of a file with a Range request (an MP4's index, when it comes last).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from .errors import DeadlineReached, DownloadFailed, ResultExpired
from .http import TRANSFER_TIMEOUT
from .retry import RetryPolicy, TryAgain, retryable_failure, retrying, should_retry, wait_before_retry
from .stopping import ShouldStop, check_stop, run_stoppable

if TYPE_CHECKING:
    from .deadline import Deadline

log = logging.getLogger(__name__)

ProgressCallback = Callable[[int, "int | None"], None]

CHUNK_SIZE = 1024 * 1024
STREAM_CHUNK_SIZE = 256 * 1024
_CONTENT_RANGE_RE = re.compile(r"^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$", re.IGNORECASE)


class _Reporter:
    """Progress for the user, and (after a flush) the flushed length for a reader of the growing file."""

    def __init__(self, on_progress: ProgressCallback | None, on_written: ProgressCallback | None) -> None:
        self.on_progress = on_progress
        self.on_written = on_written

    def __call__(self, out, done: int, total: int | None) -> None:  # type: ignore[no-untyped-def]
        if self.on_written is not None:
            out.flush()
            self.on_written(done, total)
        if self.on_progress is not None:
            self.on_progress(done, total)


class _Transfer:
    """Bytes written so far and the file's full size once known; survives a dropped connection."""

    def __init__(self) -> None:
        self.done = 0
        self.total: int | None = None

    def restart(self, out) -> None:  # type: ignore[no-untyped-def]
        out.seek(0)
        out.truncate()
        self.done = 0


def part_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part")


def _short(url: str) -> str:
    # Signed media URLs carry tokens in the query; keep them out of messages and logs.
    return url.split("?", 1)[0]


async def download_file(
    client: httpx.AsyncClient,
    url: str,
    dest: str | os.PathLike[str],
    *,
    expected_size: int | None = None,
    on_progress: ProgressCallback | None = None,
    should_stop: ShouldStop | None = None,
    retry: RetryPolicy | None = None,
    chunk_size: int = CHUNK_SIZE,
    deadline: Deadline | None = None,
    on_written: ProgressCallback | None = None,
) -> Path:
    """Download ``url`` to ``dest``; raises ResultExpired, DownloadFailed, StopRequested or DeadlineReached."""
    target = Path(dest)
    if on_written is not None:
        # A reader waits for whole chunks: smaller ones let the decoder start sooner and trail the download less.
        chunk_size = min(chunk_size, STREAM_CHUNK_SIZE)
    return await run_stoppable(
        _Download(
            client=client, url=url, dest=target, expected_size=expected_size,
            report=_Reporter(on_progress, on_written), should_stop=should_stop, retry=retry or RetryPolicy(),
            chunk_size=chunk_size, deadline=deadline,
        ).run(),
        should_stop,
        deadline,
    )


@dataclass
class _Download:
    """One file's transfer: where from and to, whom it reports to, and what bounds its retries."""

    client: httpx.AsyncClient
    url: str
    dest: Path
    expected_size: int | None
    report: _Reporter
    should_stop: ShouldStop | None
    retry: RetryPolicy
    chunk_size: int
    deadline: Deadline | None
    state: _Transfer = field(default_factory=_Transfer)

    async def run(self) -> Path:
        part = part_path(self.dest)
        part.parent.mkdir(parents=True, exist_ok=True)
        finished = False
        try:
            with open(part, "wb") as out:
                await retrying(lambda last: self._attempt(out, last), self.retry, should_stop=self.should_stop,
                               deadline=self.deadline)
                out.flush()
                os.fsync(out.fileno())
            self._check_length()
            os.replace(part, self.dest)
            finished = True
            return self.dest
        finally:
            if not finished:
                part.unlink(missing_ok=True)

    def _check_length(self) -> None:
        done, total, expected = self.state.done, self.state.total, self.expected_size
        if expected is not None and done != expected:
            raise DownloadFailed(
                f"Downloaded {done} bytes from {_short(self.url)} but fal said the file has {expected} bytes"
            )
        if total is not None and done != total:
            raise DownloadFailed(
                f"Downloaded {done} bytes from {_short(self.url)} but the server announced {total}"
            )

    async def _attempt(self, out, last: bool) -> None:  # type: ignore[no-untyped-def]  # a binary file object
        """One GET from where the file stands; a try that brought bytes does not count against the policy."""
        progress_before = self.state.done
        try:
            await self._fetch_into(out)
            # fal's file_size is the truth when given: a body that is complete by its own
            # Content-Length can still be a cut-short file, and Range can fetch the rest.
            goal = self.expected_size if self.expected_size is not None else self.state.total
            if goal is None or self.state.done >= goal:
                return
            raise TryAgain(f"connection closed after {self.state.done} of {goal} bytes")
        except (httpx.TransportError, TryAgain) as exc:
            if self.deadline is not None and self.deadline.expired():
                raise DeadlineReached() from exc  # the clipped timeout fired: the limit ended it
            if not isinstance(exc, TryAgain) and not retryable_failure(exc, "media"):
                raise DownloadFailed(f"Could not download {_short(self.url)}: {exc}") from exc
            progressed = self.state.done > progress_before
            if last and not progressed:
                raise DownloadFailed(f"Could not download {_short(self.url)}: {exc} "
                                     f"(gave up after {self.retry.max_attempts} tries)") from exc
            raise TryAgain(f"download of {_short(self.url)} interrupted at {self.state.done} bytes ({exc})",
                           wait=getattr(exc, "wait", None), progressed=progressed) from exc

    async def _fetch_into(self, out) -> None:  # type: ignore[no-untyped-def]  # a binary file object
        state = self.state
        timeout = self.deadline.clip(TRANSFER_TIMEOUT) if self.deadline is not None else TRANSFER_TIMEOUT
        # identity: Content-Length and ranges must describe the bytes we write, not a gzip of them.
        headers = {"Accept-Encoding": "identity"}
        if state.done:
            headers["Range"] = f"bytes={state.done}-"
        async with self.client.stream("GET", self.url, headers=headers, timeout=timeout, auth=None) as response:
            status = response.status_code
            if status in (403, 404, 410):
                raise ResultExpired(
                    f"The result file is no longer available on fal (HTTP {status}); fal keeps result media "
                    "for a limited time.",
                    status_code=status,
                )
            if status == 416 and state.total is not None and state.done == state.total:
                return
            if should_retry(response, "media"):
                raise TryAgain(f"HTTP {status}", wait=wait_before_retry(response, self.retry))
            if status >= 400 or status not in (200, 206):
                raise DownloadFailed(f"Could not download {_short(self.url)}: HTTP {status}", status_code=status)
            self._take_range(response, out)
            self.report(out, state.done, state.total)
            async for chunk in response.aiter_bytes(self.chunk_size):
                out.write(chunk)
                state.done += len(chunk)
                self.report(out, state.done, state.total)
                check_stop(self.should_stop)

    def _take_range(self, response: httpx.Response, out) -> None:  # type: ignore[no-untyped-def]
        """Where this answer's bytes go: after those on disk (206), or from the start (200)."""
        state = self.state
        if response.status_code == 206:
            match = _CONTENT_RANGE_RE.match(response.headers.get("content-range", ""))
            if not match or int(match.group(1)) != state.done:
                # A range we did not ask for: start again from zero with a plain request.
                state.restart(out)
                raise TryAgain("server sent an unexpected byte range")
            if match.group(3) != "*":
                state.total = int(match.group(3))
            return
        if state.done:
            log.info("server ignored Range for %s; restarting from the beginning", _short(self.url))
            state.restart(out)
        length = response.headers.get("content-length")
        encoded = response.headers.get("content-encoding", "identity").lower() not in ("", "identity")
        if length and length.isdigit() and not encoded:
            state.total = int(length)


async def fetch_tail(
    client: httpx.AsyncClient, url: str, start: int, total: int | None, *, limit: int, timeout: httpx.Timeout
) -> bytes | None:
    """Bytes ``[start, end)`` of ``url`` through ``Range: bytes=start-``, or None when the server does not
    answer with exactly that range of a file of ``total`` bytes (it ignored Range, or the file differs).

    A server that ignores Range answers 200 with the whole file: we close that answer unread rather
    than download the file twice; the caller then waits for the main download instead."""
    headers = {"Accept-Encoding": "identity", "Range": f"bytes={start}-"}
    try:
        async with client.stream("GET", url, headers=headers, timeout=timeout, auth=None) as response:
            if response.status_code != 206:
                return None
            match = _CONTENT_RANGE_RE.match(response.headers.get("content-range", ""))
            if not match or int(match.group(1)) != start or match.group(3) == "*":
                return None
            size = int(match.group(3))
            if (total is not None and size != total) or size - start > limit:
                return None
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > size - start:
                    return None
            return bytes(body) if len(body) == size - start else None
    except httpx.HTTPError as exc:
        log.info("tail of %s not fetched (%s); decoding waits for the download instead", _short(url), exc)
        return None
