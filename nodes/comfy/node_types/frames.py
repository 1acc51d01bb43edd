"""Video to Frames: the pack's fast, memory-bounded decode for any VIDEO or video file."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from comfy_api.latest import io

from ...media.video_info import probe_video
from ..host.readable_paths import PathRefused, readable_file
from ..outputs.values import FrameOptions, decode_video_frames
from ..run.video_sources import file_path_of, save_as_mp4
from .schema import CATEGORY_UTIL, HIDDEN, make_schema


class LumaFalVideoToFrames(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return make_schema(
            node_id="LumaFalVideoToFrames",
            display_name="Video to Frames (Luma fal, fast)",
            category=CATEGORY_UTIL,
            description=("Decode a VIDEO or a video file into IMAGE frames in one pass, with start, cap, stride and "
                         "resize applied while decoding, and a memory check before anything is allocated."),
            search_aliases=["video to frames", "decode video", "get video components", "load frames"],
            inputs=[
                io.Video.Input("video", optional=True, tooltip="Any core VIDEO (or give a path instead)."),
                io.String.Input("path", default="", optional=True,
                                tooltip=("Path of a video file inside ComfyUI's input, output or temp folder, e.g. "
                                         "the path output of a Luma (fal) video node, or 'clip.mp4 [input]'.")),
                io.Int.Input("start_frame", default=0, min=0, max=1_000_000, tooltip="First frame to keep."),
                io.Int.Input("frame_cap", default=0, min=0, max=1_000_000, tooltip="Most frames to keep (0 = all)."),
                io.Int.Input("every_nth", default=1, min=1, max=1000, tooltip="Keep every n-th frame."),
                io.Int.Input("height", default=0, min=0, max=4320, step=2,
                             tooltip="Resize to this height inside the decoder, keeping aspect (0 = as is)."),
            ],
            outputs=[
                io.Image.Output(display_name="frames", tooltip="float32 RGB frames."),
                io.Float.Output(display_name="fps", tooltip="Source frame rate divided by every_nth."),
                io.Int.Output(display_name="frame_count", tooltip="Number of frames returned."),
            ],
            hidden=HIDDEN,
        )

    @classmethod
    async def execute(cls, start_frame: int, frame_cap: int, every_nth: int, height: int,
                      video: Any = None, path: str = "", **_: Any) -> io.NodeOutput:
        options = FrameOptions(start=start_frame, cap=frame_cap, every_nth=every_nth, height=height)
        node_id = getattr(cls.hidden, "unique_id", None)
        with tempfile.TemporaryDirectory(prefix="luma-fal-frames-") as tmp:
            source = _source_path(video, (path or "").strip(), Path(tmp))
            info = probe_video(source)
            frames = await decode_video_frames(source, options, node_id)
        return io.NodeOutput(frames, float(info.fps) / every_nth, int(frames.shape[0]))


def _source_path(video: Any, path: str, tmp: Path) -> Path:
    if video is not None and path:
        raise ValueError("Video to Frames: connect a video or give a path, not both.")
    if path:
        try:
            return readable_file("path", path)
        except PathRefused as exc:
            raise ValueError(f"Video to Frames: {exc}") from None
    if video is None:
        raise ValueError("Video to Frames: connect a video or give a path.")
    # An in-memory or generated VIDEO is written once so the decoder can stream it from disk.
    return file_path_of(video) or save_as_mp4(video, tmp / "video.mp4")


NODES = [LumaFalVideoToFrames]
