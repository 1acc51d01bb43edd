"""The minimal OpenEXR writer: header attributes parse back and pixels sit where the format says."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from sandbox.exr import MAGIC, read_exr_header, srgb_to_linear, write_exr


def test_header_round_trip() -> None:
    data = write_exr(np.zeros((3, 5, 3), dtype=np.float32))
    assert struct.unpack_from("<ii", data) == (MAGIC, 2)
    header = read_exr_header(data)
    assert header["version"] == 2
    assert header["channels"] == [{"name": n, "type": "half", "x_sampling": 1, "y_sampling": 1} for n in "BGR"]
    assert header["dataWindow"] == header["displayWindow"] == (0, 0, 4, 2)
    assert (header["compression"], header["lineOrder"], header["pixelAspectRatio"]) == (0, 0, 1.0)
    assert header["screenWindowCenter"] == (0.0, 0.0) and header["screenWindowWidth"] == 1.0
    # Offset table (3 lines) then 3 blocks of 8 + 5 px * 3 channels * 2 bytes.
    assert len(data) == header["header_size"] + 3 * 8 + 3 * (8 + 30)


def test_pixels_are_stored_per_line_in_channel_order() -> None:
    rng = np.random.default_rng(7)
    image = rng.uniform(0, 4, size=(4, 6, 3)).astype(np.float32)  # HDR values above 1 survive
    data = write_exr(image)
    header = read_exr_header(data)
    offsets = struct.unpack_from("<4Q", data, header["header_size"])
    for y, offset in enumerate(offsets):
        line_y, size = struct.unpack_from("<ii", data, offset)
        assert (line_y, size) == (y, 6 * 3 * 2)
        samples = np.frombuffer(data, dtype="<f2", count=18, offset=offset + 8).reshape(3, 6)
        blue, green, red = samples.astype(np.float32)
        np.testing.assert_allclose(np.stack([red, green, blue], axis=-1), image[y], rtol=1e-3)


def test_srgb_to_linear_endpoints() -> None:
    linear = srgb_to_linear(np.array([[[0, 128, 255]]], dtype=np.uint8))
    assert linear[0, 0, 0] == 0 and linear[0, 0, 2] == pytest.approx(1.0) and 0.2 < linear[0, 0, 1] < 0.23


def test_reader_refuses_other_files() -> None:
    with pytest.raises(ValueError, match="OpenEXR"):
        read_exr_header(b"\x89PNG\r\n\x1a\n" + bytes(16))
