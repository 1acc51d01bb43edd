"""The storage uplink: upload bodies read no faster than a home or office link would carry them.

``upload_bytes_per_second`` paces every upload body (CDN single-shot, signed PUT, each multipart part). By
default each connection gets that rate, like the CDN's download throttle; with ``upload_link_shared`` every
upload under way shares one link of that rate, as a user's own uplink does, so parallel uploads are no faster
than one. Reading slowly fills the socket buffers and the sender's kernel then holds the rest back (TCP flow
control), so the client sees the pace too: its request ends when the last byte is read.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from .state import STATE

_PIECE = 64 * 1024  # bytes read per step of a paced body


class SharedLink:
    """One uplink all paced uploads share: each piece is given the next free slot on it."""

    def __init__(self) -> None:
        self._free_at = 0.0

    def slot(self, size: int, rate: float) -> float:
        """When (loop time) a piece of ``size`` bytes has crossed the link, claiming its time on it."""
        now = asyncio.get_running_loop().time()
        self._free_at = max(self._free_at, now) + size / rate
        return self._free_at


_SHARED: dict[int, SharedLink] = {}


async def read_upload(request: web.Request) -> bytes:
    """The request body, read at the configured uplink pace (at once when unset)."""
    config = request.app[STATE].config
    rate = config.upload_bytes_per_second
    if rate is None:
        return await request.read()
    loop = asyncio.get_running_loop()
    shared = _SHARED.setdefault(id(request.app), SharedLink()) if config.upload_link_shared else None
    began = loop.time()
    received = 0
    pieces: list[bytes] = []
    while True:
        piece = await request.content.read(_PIECE)
        if not piece:
            break
        pieces.append(piece)
        received += len(piece)
        due = shared.slot(len(piece), rate) if shared is not None else began + received / rate
        ahead = due - loop.time()
        if ahead > 0:
            await asyncio.sleep(ahead)
    return b"".join(pieces)
