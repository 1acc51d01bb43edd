"""IMAGE frames -> H.264 MP4, to upload a batch of frames as a video source."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import av
    import numpy as np
    import torch

logger = logging.getLogger(__name__)

MAX_FPS = 240
# Frames made ready (RGB, then the encoder's yuv420p) in a thread while x264 encodes the ones before: the
# conversion and x264 overlap instead of taking turns, with the same bytes (measured in
# docs/performance-uploads.md). Two are enough to keep x264 fed; each 1080p frame ready is about 9 MB.
FRAMES_READY_AHEAD = 2


PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow")


@dataclass(frozen=True)
class H264Settings:
    preset: str
    crf: int


# Two x264 settings of the same quality (PSNR against the frames given, measured on the bench's 1080p clip; see
# docs/performance.md "From Run to submitted"): "medium" at CRF 17 makes the fewest bytes, "veryfast" at CRF 15
# needs 0.45-0.65x its encode time for about 1.2x its bytes. Serially (encode, then upload) veryfast is done first
# whenever the uplink carries its extra bytes in less than the time it saves: above about 2-4 Mbit/s.
FEWEST_BYTES = H264Settings("medium", 17)
FASTEST_AT_SAME_QUALITY = H264Settings("veryfast", 15)
FAST_ENCODE_FROM_BYTES_PER_SECOND = 4e6 / 8


def settings_for_uplink(bytes_per_second: float | None) -> H264Settings:
    """The encoder settings that get a source up soonest on an uplink of ``bytes_per_second`` (None: not yet
    measured, taken as a common broadband uplink, which is above the threshold)."""
    if bytes_per_second is not None and bytes_per_second < FAST_ENCODE_FROM_BYTES_PER_SECOND:
        return FEWEST_BYTES
    return FASTEST_AT_SAME_QUALITY


def encode_mp4(frames: torch.Tensor, fps: float | Fraction, path: str | Path, *, crf: int = 17,
               preset: str = "medium") -> Path:
    """Write float32 frames [N, H, W, C] (0..1, C = 1 to 4) as H.264 yuv420p; returns the path written.

    Frames are converted to uint8 one at a time, so a long clip never exists twice in memory. Odd
    widths/heights are padded by repeating the last column/row (4:2:0 chroma needs even sizes, and a
    repeated edge is invisible where a black bar would not be). Grey frames become grey RGB. An alpha
    channel is dropped: H.264 has none, and the colour under fully transparent pixels is whatever the source stored there.
    """
    # Lazy: PyAV loads FFmpeg's libraries: only when a video is read or written.
    import av

    if frames.ndim != 4 or frames.shape[-1] not in (1, 2, 3, 4):
        raise ValueError(f"frames must be [N, H, W, C] with C = 1 to 4, got {list(frames.shape)}")
    count, height, width = int(frames.shape[0]), int(frames.shape[1]), int(frames.shape[2])
    if count == 0:
        raise ValueError("frames is empty: a video needs at least one frame")
    rate = exact_rate(fps)
    if not 0 < rate <= MAX_FPS:
        raise ValueError(f"fps must be above 0 and at most {MAX_FPS}, got {float(fps):g}")
    if not 0 <= crf <= 51:
        raise ValueError(f"crf must be 0..51, got {crf}")
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {', '.join(PRESETS)}, got {preset!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    even_w, even_h = width + width % 2, height + height % 2

    with av.open(str(path), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = even_w, even_h, "yuv420p"
        # A time base of 1/rate gives each frame an exact integer timestamp: no drift at 23.976 etc.
        stream.codec_context.time_base = 1 / rate
        stream.options = {"crf": str(crf), "preset": preset}
        for index, frame in enumerate(_frames_ready_ahead(frames, even_w, even_h)):
            frame.pts = index
            frame.time_base = stream.codec_context.time_base
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    logger.debug("encoded %d frames %dx%d at %s fps into %s", count, even_w, even_h, rate, path.name)
    return path


def _frames_ready_ahead(frames: torch.Tensor, even_w: int, even_h: int) -> Iterator[av.VideoFrame]:
    """The frames as yuv420p VideoFrames, each made in a worker thread while the ones before it are encoded.

    The conversion is the one the encoder would do itself (PyAV's reformat of an rgb24 frame to the
    stream's yuv420p), so the bytes written are the same as converting in line. At most
    FRAMES_READY_AHEAD frames wait; on an error or an early stop the pool finishes the frame in hand and no
    thread is left behind."""
    count = int(frames.shape[0])
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="luma-fal-frames") as pool:
        ready: deque[Future[av.VideoFrame]] = deque()
        try:
            for index in range(count):
                while len(ready) < FRAMES_READY_AHEAD and index + len(ready) < count:
                    ready.append(pool.submit(_yuv420p_frame, frames[index + len(ready)], even_w, even_h))
                yield ready.popleft().result()
        finally:
            for waiting in ready:
                waiting.cancel()


def _yuv420p_frame(frame: torch.Tensor, even_w: int, even_h: int) -> av.VideoFrame:
    # Lazy: PyAV loads FFmpeg's libraries: only when a video is read or written.
    import av

    rgb = av.VideoFrame.from_ndarray(_frame_to_rgb24(frame, even_w, even_h), format="rgb24")
    return rgb.reformat(format="yuv420p")


def exact_rate(fps: float | Fraction) -> Fraction:
    """24 -> 24, 23.976 -> 24000/1001, 29.97 -> 30000/1001: the NTSC rates are what 29.97 means."""
    if isinstance(fps, Fraction):
        return fps
    for base in (24, 30, 60, 120):
        ntsc = Fraction(base * 1000, 1001)
        if abs(float(fps) - float(ntsc)) < 0.001:
            return ntsc
    return Fraction(float(fps)).limit_denominator(1001)


def _frame_to_rgb24(frame: torch.Tensor, even_w: int, even_h: int) -> np.ndarray:
    # Lazy: torch takes seconds to import: only when a tensor is made.
    import numpy as np
    import torch

    colour = frame[..., :3] if frame.shape[-1] >= 3 else frame[..., :1].expand(-1, -1, 3)
    rgb = colour.clamp(0.0, 1.0).mul(255.0).round_().to(torch.uint8).numpy()
    height, width = rgb.shape[0], rgb.shape[1]
    if (width, height) != (even_w, even_h):
        rgb = np.pad(rgb, ((0, even_h - height), (0, even_w - width), (0, 0)), mode="edge")
    return np.ascontiguousarray(rgb)
