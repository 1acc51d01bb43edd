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
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from .errors import DeadlineReached, DownloadFailed, ResultExpired
from .http import TRANSFER_TIMEOUT
from .retry import RetryPolicy
from .stopping import ShouldStop, check_stop, run_stoppable, sleep

if TYPE_CHECKING:
    from .deadline import Deadline

log = logging.getLogger(__name__)

ProgressCallback = Callable[[int, "int | None"], None]

CHUNK_SIZE = 1024 * 1024
STREAM_CHUNK_SIZE = 256 * 1024
_CONTENT_RANGE_RE = re.compile(r"^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$", re.IGNORECASE)
_TRANSIENT_STATUS = {408, 425, 429, 500, 502, 503, 504}


class _Retryable(Exception):
    """A failure worth another try (server hiccup or dropped connection)."""


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
        _download(
            client, url, target, expected_size, _Reporter(on_progress, on_written), should_stop,
            retry or RetryPolicy(), chunk_size, deadline,
        ),
        should_stop,
        deadline,
    )


async def _download(
    client: httpx.AsyncClient,
    url: str,
    dest: Path,
    expected_size: int | None,
    on_progress: _Reporter,
    should_stop: ShouldStop | None,
    retry: RetryPolicy,
    chunk_size: int,
    deadline: Deadline | None,
) -> Path:
    part = part_path(dest)
    part.parent.mkdir(parents=True, exist_ok=True)
    state = _Transfer()
    failures = 0
    finished = False
    try:
        with open(part, "wb") as out:
            while True:
                progress_before = state.done
                try:
                    timeout = deadline.clip(TRANSFER_TIMEOUT) if deadline is not None else TRANSFER_TIMEOUT
                    await _fetch_into(client, url, out, state, on_progress, should_stop, chunk_size, timeout)
                    # fal's file_size is the truth when given: a body that is complete by its own
                    # Content-Length can still be a cut-short file, and Range can fetch the rest.
                    goal = expected_size if expected_size is not None else state.total
                    if goal is None or state.done >= goal:
                        break
                    raise _Retryable(f"connection closed after {state.done} of {goal} bytes")
                except (httpx.TransportError, _Retryable) as exc:
                    if deadline is not None and deadline.expired():
                        raise DeadlineReached() from exc  # the clipped timeout fired: the limit ended it
                    failures = 0 if state.done > progress_before else failures + 1
                    if failures >= retry.max_attempts:
                        raise DownloadFailed(
                            f"Could not download {_short(url)}: {exc} (gave up after {failures} tries)"
                        ) from exc
                    log.info(
                        "download of %s interrupted at %d bytes (%s); resuming", _short(url), state.done, exc
                    )
                    await sleep(retry.delay(max(failures, 1)), should_stop, deadline)
            out.flush()
            os.fsync(out.fileno())
        done, total = state.done, state.total
        if expected_size is not None and done != expected_size:
            raise DownloadFailed(
                f"Downloaded {done} bytes from {_short(url)} but fal said the file has {expected_size} bytes"
            )
        if total is not None and done != total:
            raise DownloadFailed(
                f"Downloaded {done} bytes from {_short(url)} but the server announced {total}"
            )
        os.replace(part, dest)
        finished = True
        return dest
    finally:
        if not finished:
            part.unlink(missing_ok=True)


async def _fetch_into(
    client: httpx.AsyncClient,
    url: str,
    out,  # type: ignore[no-untyped-def]  # a binary file object
    state: _Transfer,
    on_progress: _Reporter,
    should_stop: ShouldStop | None,
    chunk_size: int,
    timeout: httpx.Timeout = TRANSFER_TIMEOUT,
) -> None:
    # identity: Content-Length and ranges must describe the bytes we write, not a gzip of them.
    headers = {"Accept-Encoding": "identity"}
    if state.done:
        headers["Range"] = f"bytes={state.done}-"
    async with client.stream("GET", url, headers=headers, timeout=timeout, auth=None) as response:
        status = response.status_code
        if status in (403, 404, 410):
            raise ResultExpired(
                f"The result file is no longer available on fal (HTTP {status}); fal keeps result media "
                "for a limited time.",
                status_code=status,
            )
        if status == 416 and state.total is not None and state.done == state.total:
            return
        if status in _TRANSIENT_STATUS:
            raise _Retryable(f"HTTP {status}")
        if status >= 400 or status not in (200, 206):
            raise DownloadFailed(f"Could not download {_short(url)}: HTTP {status}", status_code=status)

        if status == 206:
            match = _CONTENT_RANGE_RE.match(response.headers.get("content-range", ""))
            if not match or int(match.group(1)) != state.done:
                # A range we did not ask for: start again from zero with a plain request.
                state.restart(out)
                raise _Retryable("server sent an unexpected byte range")
            if match.group(3) != "*":
                state.total = int(match.group(3))
        else:
            if state.done:
                log.info("server ignored Range for %s; restarting from the beginning", _short(url))
                state.restart(out)
            length = response.headers.get("content-length")
            encoded = response.headers.get("content-encoding", "identity").lower() not in ("", "identity")
            if length and length.isdigit() and not encoded:
                state.total = int(length)

        on_progress(out, state.done, state.total)
        async for chunk in response.aiter_bytes(chunk_size):
            out.write(chunk)
            state.done += len(chunk)
            on_progress(out, state.done, state.total)
            check_stop(should_stop)


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
