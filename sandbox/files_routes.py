"""Serving stored files like a CDN: Content-Type, Content-Length, single byte ranges (206), and the
download faults (expired URL, truncated body, connection dropped mid-body, Range ignored).

Config shapes the link: ``download_bytes_per_second`` paces every body (a throttled CDN), ``mp4_layout``
serves MP4s with their index first or last (same frames, same size)."""

from __future__ import annotations

import asyncio
import re

from aiohttp import web

from .gateway import DOWNLOAD_DROP, DOWNLOAD_SLOW, ENTRY, flush_then_close
from .mp4_layout import moov_first
from .replies import json_reply
from .state import STATE
from .store import StoredFile, etag_of

_PIECE = 64 * 1024  # bytes per write of a paced body

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def _byte_range(header: str | None, size: int) -> tuple[int, int] | None | str:
    """(start, end inclusive), None for the whole file, or "invalid" for a 416."""
    if not header:
        return None
    match = _RANGE.match(header.strip())
    if match is None:
        return None  # multi-range or unknown units: serve the whole file, as many servers do
    first, last = match.groups()
    if not first and not last:
        return "invalid"
    if not first:
        length = int(last)
        return (max(0, size - length), size - 1) if length > 0 and size > 0 else "invalid"
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    return "invalid" if start >= size or end < start else (start, end)


async def serve_file(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    stored = state.store.get(request.path)
    if stored is None:
        return json_reply(404, {"detail": "File not found"})
    if state.faults.take("download", ("expired_url",), None, request.path) is not None:
        request[ENTRY]["fault"] = "expired_url"
        return json_reply(403, {"detail": "This file URL has expired"})
    data = _laid_out(stored, state.config.mp4_layout)
    wanted = request.headers.get("Range")
    if wanted and state.faults.take("download", ("ignore_range",), None, request.path) is not None:
        request[ENTRY]["fault"] = "ignore_range"
        wanted = None  # as a server without range support: 200 and the whole body
    span = _byte_range(wanted, stored.size)
    if span == "invalid":
        return web.Response(status=416, headers={"Content-Range": f"bytes */{stored.size}"})
    start, end = span if isinstance(span, tuple) else (0, stored.size - 1)
    body = data[start:end + 1]
    headers = {"Accept-Ranges": "bytes", "ETag": etag_of(data), "Content-Type": stored.content_type,
               "Content-Disposition": f'inline; filename="{stored.file_name}"'}
    if isinstance(span, tuple):
        headers["Content-Range"] = f"bytes {start}-{end}/{stored.size}"
    status = 206 if isinstance(span, tuple) else 200
    if request.method == "HEAD":
        headers["Content-Length"] = str(len(body))
        return web.Response(status=status, headers=headers)
    slow = request.get(DOWNLOAD_SLOW)
    if slow is not None:
        return await _trickle(request, status, headers, body, slow.seconds or 0.0)
    rate = state.config.download_bytes_per_second
    cut = _truncation(request, stored, len(body))
    if cut is None and rate is None:
        return web.Response(status=status, body=body, headers=headers)
    keep, honest = cut if cut is not None else (len(body), True)
    if honest and rate is None:
        # A complete-looking but short answer: the declared length matches what is sent.
        return web.Response(status=status, body=body[:keep], headers=headers)
    response = web.StreamResponse(status=status, headers=headers)
    response.content_length = keep if honest else len(body)
    await response.prepare(request)
    try:
        await _paced(request, response, body[:keep], rate)
    except ConnectionError:
        return response  # the client went away mid-body
    if honest:
        await response.write_eof()
    else:
        await flush_then_close(request)
    return response


async def _paced(request: web.Request, response: web.StreamResponse, body: bytes, rate: float | None) -> None:
    """Write ``body`` no faster than ``rate`` bytes per second (at once when None)."""
    if rate is None:
        await response.write(body)
        return
    loop = asyncio.get_running_loop()
    began = loop.time()
    for start in range(0, len(body), _PIECE):
        if request.transport is None or request.transport.is_closing():
            raise ConnectionError("client gone")
        await response.write(body[start:start + _PIECE])
        ahead = began + (start + _PIECE) / rate - loop.time()
        if ahead > 0:
            await asyncio.sleep(ahead)


_LAID_OUT: dict[tuple[str, int], bytes] = {}


def _laid_out(stored: StoredFile, layout: str) -> bytes:
    """The file's bytes in the configured MP4 layout (anything else as stored)."""
    if layout != "moov_first" or stored.content_type != "video/mp4":
        return stored.data
    key = (etag_of(stored.data), len(stored.data))
    if key not in _LAID_OUT:
        if len(_LAID_OUT) > 16:
            _LAID_OUT.clear()
        try:
            _LAID_OUT[key] = moov_first(stored.data)
        except ValueError:
            _LAID_OUT[key] = stored.data
    return _LAID_OUT[key]


async def _trickle(request: web.Request, status: int, headers: dict[str, str], body: bytes,
                  seconds: float) -> web.StreamResponse:
    """The whole body, honestly announced, but sent in small pieces spread over ``seconds``: a slow link
    that never stalls long enough for a read timeout."""
    response = web.StreamResponse(status=status, headers=headers)
    response.content_length = len(body)
    await response.prepare(request)
    pieces = max(1, int(seconds / 0.25))
    size = -(-len(body) // pieces) or 1
    try:
        for start in range(0, len(body), size):
            if request.transport is None or request.transport.is_closing():
                break  # the client gave up
            await response.write(body[start:start + size])
            await asyncio.sleep(seconds / pieces)
        else:
            await response.write_eof()
    except ConnectionError:
        pass
    return response


def _truncation(request: web.Request, stored: StoredFile, length: int) -> tuple[int, bool] | None:
    """(bytes to send, whether Content-Length is that short length) when a fault cuts this body."""
    dropped = request.get(DOWNLOAD_DROP)
    if dropped is not None:
        return int(length * dropped.fraction), False
    state = request.app[STATE]
    fault = state.faults.take("download", ("truncated",), None, request.path)
    if fault is None:
        return None
    request[ENTRY]["fault"] = f"truncated:{fault.mode or 'short'}"
    return int(length * fault.fraction), (fault.mode or "short") == "short"
