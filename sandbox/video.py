"""Fake Ray 3.2 outputs: real H.264 MP4s with moving content and the prompt drawn in.

Frames are produced as numpy arrays and handed straight to PyAV's libx264 (preset ultrafast), so a
1080p 10 s clip takes a few seconds. HDR requests get the same 8-bit H.264: the sandbox only has
to be a faithful *protocol* peer, and the pack treats the video file the same either way.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import av
import numpy as np
from PIL import Image

from nodes.luma.constants import RAY_FPS

from .drawing import Overlay, caption, cover, moving_strip


@dataclass(frozen=True)
class Clip:
    mp4: bytes
    width: int
    height: int
    frame_count: int
    sample_frame: np.ndarray  # uint8 [h, w, 3], source for the EXR sidecar


def encode_h264(frames: Iterable[np.ndarray], width: int, height: int, fps: int = RAY_FPS,
                bitrate: float | None = None) -> tuple[bytes, int, np.ndarray]:
    """MP4 bytes, the number of frames written and the first frame. ``bitrate`` (bits/s): constant bit rate
    with filler, so a file is as big as a real generator's (these synthetic frames compress to almost nothing)."""
    buffer = io.BytesIO()
    count = 0
    first: np.ndarray | None = None
    with av.open(buffer, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "26"}
        if bitrate:
            rate = str(int(bitrate))
            stream.bit_rate = int(bitrate)
            stream.options = {"preset": "ultrafast", "x264-params": "nal-hrd=cbr:force-cfr=1", "maxrate": rate,
                              "minrate": rate, "bufsize": str(int(bitrate) // 2)}
        for array in frames:
            if first is None:
                first = array.copy()
            for packet in stream.encode(av.VideoFrame.from_ndarray(array, format="rgb24")):
                container.mux(packet)
            count += 1
        for packet in stream.encode():
            container.mux(packet)
    if first is None:
        raise ValueError("no frames to encode")
    return buffer.getvalue(), count, first


def _decorate(frame: np.ndarray, index: int, count: int, text: Overlay) -> np.ndarray:
    """Moving box, progress bar and caption: makes motion and frame order visible."""
    h, w = frame.shape[:2]
    side = max(8, h // 6)
    phase = index / max(1, count - 1)
    x = int((w - side) * abs(1 - 2 * ((phase * 2) % 1)))
    y = int((h - side) * (0.5 + 0.35 * np.sin(phase * 2 * np.pi)))
    frame[y:y + side, x:x + side] = (250, 250, 240)
    frame[h - max(4, h // 90):, : int(w * (index + 1) / count)] = (255, 200, 0)
    text.paste(frame, (w - text.width) // 2, max(4, h // 20))
    return frame


def _synthetic_frames(width: int, height: int, count: int, prompt: str,
                      background: np.ndarray | None) -> Iterator[np.ndarray]:
    text = caption(prompt, width, height)
    strip = moving_strip(width, height) if background is None else None
    for index in range(count):
        if strip is not None:
            offset = int(width * index / count)
            frame = np.ascontiguousarray(strip[:, offset:offset + width])
        else:
            frame = background.copy()
        yield _decorate(frame, index, count, text)


def text_to_video(prompt: str, width: int, height: int, count: int, bitrate: float | None = None) -> Clip:
    mp4, written, first = encode_h264(_synthetic_frames(width, height, count, prompt, None), width, height,
                                      bitrate=bitrate)
    return Clip(mp4, width, height, written, first)


def image_to_video(image: Image.Image, prompt: str, width: int, height: int, count: int,
                   bitrate: float | None = None) -> Clip:
    """The start image fills every frame (as the first frame of a real generation would)."""
    background = np.asarray(cover(image, width, height), dtype=np.uint8)
    mp4, written, first = encode_h264(_synthetic_frames(width, height, count, prompt, background), width, height,
                                      bitrate=bitrate)
    return Clip(mp4, width, height, written, first)


def probe_size(source: bytes) -> tuple[int, int]:
    with av.open(io.BytesIO(source)) as container:
        stream = container.streams.video[0]
        return stream.codec_context.width, stream.codec_context.height


def resampled_frames(source: bytes, width: int, height: int, count: int | None) -> Iterator[np.ndarray]:
    """Source frames scaled to width x height and re-timed to 24 fps. With ``count`` the source
    loops until that many frames are out; without, one pass of the source."""
    emitted, offset = 0, 0.0
    while count is None or emitted < count:
        last: np.ndarray | None = None
        end = offset
        with av.open(io.BytesIO(source)) as container:
            stream = container.streams.video[0]
            step = 1 / float(stream.average_rate or RAY_FPS)
            start: float | None = None
            for frame in container.decode(stream):
                t = float(frame.time or 0.0)
                start = t if start is None else start
                at = offset + t - start
                array = frame.to_ndarray(format="rgb24", width=width, height=height)
                while (count is None or emitted < count) and emitted / RAY_FPS < at and last is not None:
                    yield last
                    emitted += 1
                last, end = array, at + step
        if last is None:
            raise ValueError("the source video has no frames")
        while (count is None or emitted < count) and emitted / RAY_FPS < end:
            yield last
            emitted += 1
        offset = end
        if count is None:
            return


def video_to_video(source: bytes, prompt: str, width: int, height: int, count: int) -> Clip:
    """The source, warm-tinted and captioned: visibly the same motion, visibly edited."""
    text = caption(prompt, width, height)
    tint = np.array([256, 200, 150], dtype=np.uint16)

    def frames() -> Iterator[np.ndarray]:
        for index, array in enumerate(resampled_frames(source, width, height, count)):
            frame = ((array.astype(np.uint16) * tint) >> 8).astype(np.uint8)
            text.paste(frame, (width - text.width) // 2, max(4, height // 20))
            yield frame

    mp4, written, first = encode_h264(frames(), width, height)
    return Clip(mp4, width, height, written, first)


def reframe(source: bytes, prompt: str, width: int, height: int, box: tuple[float, float, float, float] | None) -> Clip:
    """The source placed into the new frame at ``box`` (normalised x, y, w, h; default: fitted and
    centred); the padding around it is generated (a scrolling gradient) like an outpaint."""
    src_w, src_h = probe_size(source)
    if box is None:
        scale = min(width / src_w, height / src_h)
        inner_w, inner_h = src_w * scale, src_h * scale
        box = ((width - inner_w) / 2 / width, (height - inner_h) / 2 / height, inner_w / width, inner_h / height)
    x = int(round(box[0] * width))
    y = int(round(box[1] * height))
    inner_w = max(2, min(width - x, int(round(box[2] * width))) // 2 * 2)
    inner_h = max(2, min(height - y, int(round(box[3] * height))) // 2 * 2)
    strip = moving_strip(width, height) // 2  # darker than the source, so the placement shows
    text = caption(prompt, width, height)

    def frames() -> Iterator[np.ndarray]:
        for index, inner in enumerate(resampled_frames(source, inner_w, inner_h, None)):
            offset = (index * 4) % width
            frame = np.ascontiguousarray(strip[:, offset:offset + width])
            frame[y:y + inner_h, x:x + inner_w] = inner
            text.paste(frame, (width - text.width) // 2, height - text.height - max(4, height // 20))
            yield frame

    mp4, written, first = encode_h264(frames(), width, height)
    return Clip(mp4, width, height, written, first)
