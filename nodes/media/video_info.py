"""What a video file holds, read from its container and stream metadata (no decoding)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

logger = logging.getLogger(__name__)


class VideoUnreadable(ValueError):
    """The file is missing, not a video, or has no video stream."""


@dataclass(frozen=True)
class VideoInfo:
    width: int
    height: int
    fps: float
    frame_count: int
    duration: float
    codec: str


@contextmanager
def open_video(path: str | Path | BinaryIO) -> Iterator[tuple[Any, Any]]:
    """The container and its first video stream, or ``VideoUnreadable`` saying what is wrong.
    ``path`` may also be a binary file object (e.g. media.growing_file.GrowingReader, a file still arriving)."""
    import av  # heavy; only when a video is actually read

    if hasattr(path, "read"):
        name = str(getattr(path, "name", "video"))
        opened: Any = path
    else:
        path = Path(path)
        name = path.name
        if not path.is_file():
            raise VideoUnreadable(f"video file not found: {path}")
        opened = str(path)
    try:
        container = av.open(opened, mode="r")
    except av.error.FFmpegError as exc:
        raise VideoUnreadable(f"{name} is not a readable video: {exc}") from exc
    with container:
        if not container.streams.video:
            raise VideoUnreadable(f"{name} has no video stream")
        yield container, container.streams.video[0]


def probe_video(path: str | Path) -> VideoInfo:
    """Read size, rate, frame count and duration of the first video stream.

    The frame count comes from the stream header when the container stores one (MP4 does); Matroska,
    MPEG-TS and raw H.264 don't, so the packets are counted instead: demuxing without decoding is
    cheap (milliseconds for a 10 s clip).
    """
    with open_video(path) as (container, stream):
        fps = stream_fps(stream)
        frame_count = int(stream.frames or 0)
        if frame_count <= 0:
            frame_count = _count_packets(container, stream)
        duration = _duration_seconds(container, stream, frame_count, fps)
        return VideoInfo(
            width=int(stream.codec_context.width),
            height=int(stream.codec_context.height),
            fps=fps,
            frame_count=frame_count,
            duration=duration,
            codec=stream.codec_context.name,
        )


def stream_fps(stream) -> float:
    # guessed_rate is FFmpeg's own best guess; average_rate is wrong for raw H.264 (reports 25).
    rate = stream.guessed_rate or stream.average_rate or stream.base_rate
    return float(rate) if rate else 0.0


def _count_packets(container, stream) -> int:
    count = 0
    for packet in container.demux(stream):
        # The demuxer ends with an empty flush packet that carries no frame.
        if packet.size:
            count += 1
    return count


def _duration_seconds(container, stream, frame_count: int, fps: float) -> float:
    if stream.duration is not None and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / 1_000_000  # AV_TIME_BASE
    return frame_count / fps if fps else 0.0
