"""Source videos for video-to-video and reframe: a core VIDEO or IMAGE frames, made ready to upload once."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ...fal.storage import observed_uplink
from ...fal.transfers import Upload
from ...media.video_encode import encode_mp4, settings_for_uplink
from ...media.video_info import probe_video
from ..rules.input_identity import content_identity

_UPLOADABLE_CODECS = {"h264", "hevc"}


def _file_item(path: Path) -> Upload:
    data = path.read_bytes()
    return Upload(data, "video/mp4", "source.mp4", hashlib.sha256(data).hexdigest())


def file_path_of(video: Any) -> Path | None:
    """The file behind a core VIDEO, when there is one on disk.

    Only ``VideoFromFile`` is asked: on 0.3.75 ``get_stream_source`` of other VIDEO kinds tries to
    write an MP4 into memory and fails, and a file on disk is the only source worth streaming anyway.
    """
    from comfy_api.latest import InputImpl  # ComfyUI's own: only inside a ComfyUI process

    if isinstance(video, InputImpl.VideoFromFile):
        source = video.get_stream_source()
        if isinstance(source, str) and os.path.isfile(source):
            return Path(source)
    return None


def save_as_mp4(video: Any, path: Path) -> Path:
    """Write any core VIDEO as an H.264 MP4 with core's own writer."""
    from comfy_api.latest import Types  # ComfyUI's own: only inside a ComfyUI process

    video.save_to(str(path), format=Types.VideoContainer.MP4, codec=Types.VideoCodec.H264)
    return path


def video_upload(video: Any) -> tuple[float, str, Callable[[], Upload]]:
    """Seconds, identity and an upload producer for a core VIDEO.

    An MP4 file already in H.264/HEVC goes up as it is (no re-encode, no quality loss); anything
    else (another container, an in-memory video, frames) is encoded once with core's own writer.
    """
    path = file_path_of(video)
    if path is not None:
        info = probe_video(path)
        stat = path.stat()
        identity = f"file:{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"
        if path.suffix.lower() in (".mp4", ".mov", ".m4v") and info.codec in _UPLOADABLE_CODECS:
            return info.duration, identity, lambda: _file_item(path)
    else:
        identity = f"video:{id(video)}"

    seconds = float(video.get_duration())

    def produce() -> Upload:
        with tempfile.TemporaryDirectory(prefix="luma-fal-") as tmp:
            return _file_item(save_as_mp4(video, Path(tmp) / "source.mp4"))

    return seconds, identity, produce


def frames_upload(frames: Any, fps: float) -> tuple[float, str, Callable[[], Upload]]:
    """Seconds, identity and an upload producer for IMAGE frames played at ``fps``."""
    seconds = frames.shape[0] / float(fps)
    identity = f"frames:{content_identity(frames)}@{fps}"

    def produce() -> Upload:
        # The encoder's speed/size trade-off for the link the last uploads saw; the quality is the same either way.
        settings = settings_for_uplink(observed_uplink())
        with tempfile.TemporaryDirectory(prefix="luma-fal-") as tmp:
            out = encode_mp4(frames, fps, Path(tmp) / "source.mp4", crf=settings.crf, preset=settings.preset)
            return _file_item(out)

    return seconds, identity, produce
