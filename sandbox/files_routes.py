"""Serving stored files like a CDN: Content-Type, Content-Length, single byte ranges (206), and the
download faults (expired URL, truncated body, connection dropped mid-body)."""

from __future__ import annotations

import asyncio
import re

from aiohttp import web

from .gateway import DOWNLOAD_DROP, DOWNLOAD_SLOW, ENTRY, flush_then_close
from .replies import json_reply
from .state import STATE
from .store import StoredFile, etag_of

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
    span = _byte_range(request.headers.get("Range"), stored.size)
    if span == "invalid":
        return web.Response(status=416, headers={"Content-Range": f"bytes */{stored.size}"})
    start, end = span if isinstance(span, tuple) else (0, stored.size - 1)
    body = stored.data[start:end + 1]
    headers = {"Accept-Ranges": "bytes", "ETag": etag_of(stored.data), "Content-Type": stored.content_type,
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
    cut = _truncation(request, stored, len(body))
    if cut is None:
        return web.Response(status=status, body=body, headers=headers)
    keep, honest = cut
    if honest:
        # A complete-looking but short answer: the declared length matches what is sent.
        return web.Response(status=status, body=body[:keep], headers=headers)
    response = web.StreamResponse(status=status, headers=headers)
    response.content_length = len(body)
    await response.prepare(request)
    await response.write(body[:keep])
    await flush_then_close(request)
    return response


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
