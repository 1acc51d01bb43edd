"""Source videos for video-to-video and reframe: a core VIDEO or IMAGE frames, made ready to upload once."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .fal_bridge import UploadItem
from .identity import content_identity

_UPLOADABLE_CODECS = {"h264", "hevc"}


def _file_item(path: Path) -> UploadItem:
    data = path.read_bytes()
    return UploadItem(data, "video/mp4", "source.mp4", hashlib.sha256(data).hexdigest())


def video_upload(video: Any) -> tuple[float, str, Callable[[], UploadItem]]:
    """Seconds, identity and an upload producer for a core VIDEO.

    An MP4 file already in H.264/HEVC goes up as it is (no re-encode, no quality loss); anything
    else (another container, an in-memory video, frames) is encoded once with core's own writer.
    """
    from ..media.video_info import probe_video

    source = video.get_stream_source() if hasattr(video, "get_stream_source") else None
    if isinstance(source, str) and os.path.isfile(source):
        path = Path(source)
        info = probe_video(path)
        stat = path.stat()
        identity = f"file:{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"
        if path.suffix.lower() in (".mp4", ".mov", ".m4v") and info.codec in _UPLOADABLE_CODECS:
            return info.duration, identity, lambda: _file_item(path)
    else:
        identity = f"video:{id(video)}"

    seconds = float(video.get_duration())

    def produce() -> UploadItem:
        from comfy_api.latest import Types

        with tempfile.TemporaryDirectory(prefix="luma-fal-") as tmp:
            out = Path(tmp) / "source.mp4"
            video.save_to(str(out), format=Types.VideoContainer.MP4, codec=Types.VideoCodec.H264)
            return _file_item(out)

    return seconds, identity, produce


def frames_upload(frames: Any, fps: float) -> tuple[float, str, Callable[[], UploadItem]]:
    """Seconds, identity and an upload producer for IMAGE frames played at ``fps``."""
    seconds = frames.shape[0] / float(fps)
    identity = f"frames:{content_identity(frames)}@{fps}"

    def produce() -> UploadItem:
        from ..media.video_encode import encode_mp4

        with tempfile.TemporaryDirectory(prefix="luma-fal-") as tmp:
            out = encode_mp4(frames, fps, Path(tmp) / "source.mp4")
            return _file_item(out)

    return seconds, identity, produce
