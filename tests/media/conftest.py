"""Small real clips for the media tests, written with PyAV/libx264 into pytest's tmp dirs."""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest


def moving_frame(index: int, width: int, height: int) -> np.ndarray:
    """A frame whose content changes every frame: a drifting colour gradient plus a moving block."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    shift = index * 3.0
    red = 0.5 + 0.5 * np.sin((x + shift) / max(4.0, width / 6))
    green = 0.5 + 0.5 * np.cos((y - shift) / max(4.0, height / 5))
    blue = ((x + y + 2 * shift) % width) / width
    rgb = np.stack([red, green, blue], axis=-1)
    size = max(4, min(width, height) // 4)
    left = (index * 5) % max(1, width - size)
    top = (index * 3) % max(1, height - size)
    rgb[top : top + size, left : left + size] = (1.0, 1.0, 0.2)
    return (rgb * 255).round().astype(np.uint8)


def write_clip(
    path: Path,
    width: int,
    height: int,
    frames: int,
    fps: int | Fraction = 24,
    container_format: str | None = None,
    pts_of: Callable[[int], int] | None = None,
) -> Path:
    with av.open(str(path), "w", format=container_format) as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "18"}
        for index in range(frames):
            frame = av.VideoFrame.from_ndarray(moving_frame(index, width, height), format="rgb24")
            if pts_of is not None:
                frame.pts = pts_of(index)
                frame.time_base = Fraction(1, int(fps)) / 4
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def reference_frames(path: Path) -> np.ndarray:
    """Every frame as rgb24 / 255, decoded the plain way: what ours must equal."""
    with av.open(str(path)) as container:
        return np.stack(
            [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
        ).astype(np.float32) / 255.0


@pytest.fixture(scope="session")
def clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("clips")


@pytest.fixture(scope="session")
def clip_160x90(clip_dir: Path) -> Path:
    """48 frames, 24 fps, 160x90 MP4 (the header carries the frame count)."""
    return write_clip(clip_dir / "moving_160x90.mp4", 160, 90, 48)


@pytest.fixture(scope="session")
def clip_320x180(clip_dir: Path) -> Path:
    return write_clip(clip_dir / "moving_320x180.mp4", 320, 180, 30)


@pytest.fixture(scope="session")
def make_clip() -> Callable[..., Path]:
    """write_clip(path, width, height, frames, fps=24, container_format=None, pts_of=None)."""
    return write_clip


@pytest.fixture(scope="session")
def reference() -> Callable[[Path], np.ndarray]:
    """reference(path): every frame decoded the plain PyAV way, rgb24 / 255."""
    return reference_frames
