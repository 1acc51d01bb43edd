"""MP4 box order as a CDN may serve it: the index (``moov``) before the media (``mdat``) or after it.

Encoders writing a file in one pass (PyAV/FFmpeg here, most generators) put ``moov`` last; "faststart"
files put it first so a player can start before the end has arrived. ``moov_first`` moves the box and
shifts every chunk offset (``stco``/``co64``) by its size, so both layouts decode to the same frames.
"""

from __future__ import annotations

import struct

_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts", b"dinf"}


def _boxes(data: bytes, start: int, end: int) -> list[tuple[int, int, bytes, int]]:
    """(offset, size, type, header length) of each box in data[start:end]."""
    found, offset = [], start
    while offset + 8 <= end:
        size, kind = struct.unpack(">I4s", data[offset:offset + 8])
        header = 8
        if size == 1:
            size, header = struct.unpack(">Q", data[offset + 8:offset + 16])[0], 16
        elif size == 0:
            size = end - offset
        if size < header:
            raise ValueError("malformed MP4 box")
        found.append((offset, size, kind, header))
        offset += size
    return found


def _shift_offsets(moov: bytearray, start: int, end: int, delta: int) -> None:
    for offset, size, kind, header in _boxes(bytes(moov), start, end):
        body = offset + header
        if kind in _CONTAINERS:
            _shift_offsets(moov, body, offset + size, delta)
        elif kind in (b"stco", b"co64"):
            count = struct.unpack(">I", moov[body + 4:body + 8])[0]
            wide = kind == b"co64"
            step, fmt = (8, ">Q") if wide else (4, ">I")
            for i in range(count):
                at = body + 8 + i * step
                value = struct.unpack(fmt, moov[at:at + step])[0] + delta
                if not wide and value > 0xFFFFFFFF:
                    raise ValueError("chunk offset overflows stco")
                moov[at:at + step] = struct.pack(fmt, value)


def moov_first(data: bytes) -> bytes:
    """The same MP4 with ``moov`` right after ``ftyp`` (unchanged when it is there already)."""
    top = _boxes(data, 0, len(data))
    kinds = [kind for _, _, kind, _ in top]
    if b"moov" not in kinds or b"mdat" not in kinds or kinds.index(b"moov") < kinds.index(b"mdat"):
        return data
    moov_at, moov_size, _, _ = top[kinds.index(b"moov")]
    moov = bytearray(data[moov_at:moov_at + moov_size])
    _shift_offsets(moov, 8, moov_size, moov_size)  # everything after ftyp moves down by the index's size
    first = top[0]
    head_end = first[0] + first[1] if first[2] == b"ftyp" else 0
    rest = data[head_end:moov_at] + data[moov_at + moov_size:]
    return data[:head_end] + bytes(moov) + rest


def is_moov_first(data: bytes) -> bool:
    kinds = [kind for _, _, kind, _ in _boxes(data, 0, len(data))]
    return b"moov" in kinds and (b"mdat" not in kinds or kinds.index(b"moov") < kinds.index(b"mdat"))
