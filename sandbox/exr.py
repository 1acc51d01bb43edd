"""A minimal OpenEXR writer (single part, scanline, uncompressed, half-float RGB) and header reader.

Enough for the sandbox's ``exr_file`` sidecar: real EXR readers open it, and tests parse it back.
Layout: magic + version, attribute list, offset table (one entry per scanline), scanline blocks
(y, byte count, then each channel's samples for the line in alphabetical channel order).
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np

MAGIC = 20000630
_HALF, _FLOAT = 1, 2
_CHANNELS = ("B", "G", "R")  # EXR stores channels sorted by name


def _attribute(name: str, type_name: str, value: bytes) -> bytes:
    return name.encode() + b"\0" + type_name.encode() + b"\0" + struct.pack("<i", len(value)) + value


def srgb_to_linear(rgb8: np.ndarray) -> np.ndarray:
    c = rgb8.astype(np.float32) / 255.0
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4).astype(np.float32)


def write_exr(linear_rgb: np.ndarray) -> bytes:
    """``linear_rgb``: float [h, w, 3] scene-linear values. Returns the EXR file bytes."""
    height, width = linear_rgb.shape[:2]
    channel_list = b"".join(name.encode() + b"\0" + struct.pack("<iB3xii", _HALF, 0, 1, 1) for name in _CHANNELS)
    window = struct.pack("<iiii", 0, 0, width - 1, height - 1)
    header = b"".join((
        struct.pack("<ii", MAGIC, 2),
        _attribute("channels", "chlist", channel_list + b"\0"),
        _attribute("compression", "compression", b"\0"),
        _attribute("dataWindow", "box2i", window),
        _attribute("displayWindow", "box2i", window),
        _attribute("lineOrder", "lineOrder", b"\0"),
        _attribute("pixelAspectRatio", "float", struct.pack("<f", 1.0)),
        _attribute("screenWindowCenter", "v2f", struct.pack("<ff", 0.0, 0.0)),
        _attribute("screenWindowWidth", "float", struct.pack("<f", 1.0)),
        b"\0",
    ))
    # Per line: B samples, G samples, R samples (half floats, little-endian).
    planes = linear_rgb[..., ::-1].astype("<f2").transpose(0, 2, 1).reshape(height, 3 * width)
    line_bytes = 3 * width * 2
    block = 8 + line_bytes
    first = len(header) + 8 * height
    offsets = struct.pack(f"<{height}Q", *(first + y * block for y in range(height)))
    blocks = bytearray()
    for y in range(height):
        blocks += struct.pack("<ii", y, line_bytes)
        blocks += planes[y].tobytes()
    return header + offsets + bytes(blocks)


def read_exr_header(data: bytes) -> dict[str, Any]:
    """Attributes of a single-part scanline EXR, decoded for the types ``write_exr`` uses."""
    magic, version = struct.unpack_from("<ii", data, 0)
    if magic != MAGIC:
        raise ValueError("not an OpenEXR file")
    attributes: dict[str, Any] = {"version": version & 0xFF}
    pos = 8
    while data[pos] != 0:
        name, pos = _cstring(data, pos)
        type_name, pos = _cstring(data, pos)
        (size,) = struct.unpack_from("<i", data, pos)
        pos += 4
        attributes[name] = _decode(type_name, data[pos:pos + size])
        pos += size
    attributes["header_size"] = pos + 1
    return attributes


def _cstring(data: bytes, pos: int) -> tuple[str, int]:
    end = data.index(b"\0", pos)
    return data[pos:end].decode(), end + 1


def _decode(type_name: str, value: bytes) -> Any:
    if type_name == "chlist":
        channels, pos = [], 0
        while value[pos] != 0:
            name, pos = _cstring(value, pos)
            pixel_type, _linear, x_sampling, y_sampling = struct.unpack_from("<iB3xii", value, pos)
            pos += 16
            channels.append({"name": name, "type": {_HALF: "half", _FLOAT: "float"}.get(pixel_type, pixel_type),
                             "x_sampling": x_sampling, "y_sampling": y_sampling})
        return channels
    if type_name in ("compression", "lineOrder"):
        return value[0]
    if type_name == "box2i":
        return struct.unpack("<iiii", value)
    if type_name == "float":
        return struct.unpack("<f", value)[0]
    if type_name == "v2f":
        return struct.unpack("<ff", value)
    return value
