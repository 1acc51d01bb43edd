"""What a decode will produce and whether it fits, from a video's metadata alone (no frame is decoded).

The options a caller gives (start, stride, cap, size, memory limits), the plan they give for one video
(frame count, size, bytes), and the memory guard that refuses a plan which would not fit, saying which
single change of option would.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from .memory import budget_bytes, format_bytes
from .video_info import VideoUnreadable, open_video, stream_fps

BYTES_PER_PIXEL = 3 * 4  # RGB float32


class MemoryBudgetError(MemoryError):
    """Decoding as asked would need more memory than is available; nothing large was allocated."""


@dataclass(frozen=True)
class DecodeOptions:
    start_frame: int = 0
    frame_cap: int = 0  # 0 = all frames
    every_nth: int = 1
    width: int = 0  # 0 = keep; when only one of width/height is given the aspect ratio is kept
    height: int = 0
    memory_limit_bytes: int | None = None  # None = what the OS says is available, less a safety margin
    memory_cap_bytes: int | None = None  # a ceiling the user set: the budget is the smaller of it and free RAM
    memory_cap_name: str = "the memory cap"  # how error messages name that ceiling

    def __post_init__(self) -> None:
        for name in ("start_frame", "frame_cap", "width", "height"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be 0 or more, got {getattr(self, name)}")
        if self.every_nth < 1:
            raise ValueError(f"every_nth must be 1 or more, got {self.every_nth}")
        for name in ("memory_limit_bytes", "memory_cap_bytes"):
            if getattr(self, name) is not None and getattr(self, name) < 0:
                raise ValueError(f"{name} must be 0 or more")

    def budget(self) -> tuple[int | None, str]:
        """The bytes this decode may use, and where that number comes from."""
        return budget_bytes(self.memory_limit_bytes, self.memory_cap_bytes, self.memory_cap_name)


@dataclass(frozen=True)
class DecodePlan:
    frame_count: int  # frames the result will have (an estimate when count_exact is False)
    width: int
    height: int
    bytes_needed: int
    source_width: int
    source_height: int
    source_frame_count: int
    fps: float  # of the source; the result's rate is fps / every_nth
    count_exact: bool  # False: the container stores no frame count and it was estimated from the duration


def plan_decode(path: str | Path, options: DecodeOptions = DecodeOptions()) -> DecodePlan:
    """Size of the tensor video_decode.decode_frames will return, from metadata only (no frame is decoded)."""
    with open_video(path) as (container, stream):
        return plan_from_stream(container, stream, options)


def plan_from_stream(container, stream, options: DecodeOptions) -> DecodePlan:
    src_w, src_h = int(stream.codec_context.width), int(stream.codec_context.height)
    if src_w <= 0 or src_h <= 0:
        raise VideoUnreadable("the video stream reports no frame size")
    fps = stream_fps(stream)
    source_count = int(stream.frames or 0)
    count_exact = source_count > 0
    if not count_exact:
        source_count = _estimate_frame_count(container, stream, fps)
    width, height = target_size(src_w, src_h, options.width, options.height)
    count = selected_count(source_count, options.start_frame, options.every_nth, options.frame_cap)
    return DecodePlan(
        frame_count=count,
        width=width,
        height=height,
        bytes_needed=count * width * height * BYTES_PER_PIXEL,
        source_width=src_w,
        source_height=src_h,
        source_frame_count=source_count,
        fps=fps,
        count_exact=count_exact,
    )


def _estimate_frame_count(container, stream, fps: float) -> int:
    """Frames in a stream whose header has no count (Matroska, MPEG-TS, raw H.264)."""
    duration = None
    if stream.duration is not None and stream.time_base:
        duration = float(stream.duration * stream.time_base)
    elif container.duration is not None:
        duration = container.duration / 1_000_000
    if duration and fps:
        return max(1, round(duration * fps))
    # No duration either (raw H.264): count packets. Demuxing without decoding takes milliseconds.
    # A second, short-lived container: raw streams can't seek back for the decode that follows.
    import av

    with av.open(container.name) as counting:
        return sum(1 for packet in counting.demux(counting.streams.video[0]) if packet.size)


def target_size(src_w: int, src_h: int, width: int, height: int) -> tuple[int, int]:
    if width and height:
        return width, height
    if width:
        return width, max(1, round(src_h * width / src_w))
    if height:
        return max(1, round(src_w * height / src_h)), height
    return src_w, src_h


def selected_count(source_count: int, start: int, every_nth: int, cap: int) -> int:
    available = max(0, source_count - start)
    count = math.ceil(available / every_nth)
    return min(count, cap) if cap else count


def check_budget(plan: DecodePlan, options: DecodeOptions) -> None:
    budget, source = options.budget()
    if budget is None or plan.bytes_needed <= budget:
        return
    raise MemoryBudgetError(
        f"Decoding {plan.frame_count} frames at {plan.width}x{plan.height} needs "
        f"{format_bytes(plan.bytes_needed)} as float32, but only {format_bytes(budget)} is available "
        f"({source}). To fit, set {' or '.join(fitting_options(plan, options, budget))}."
    )


def fitting_options(plan: DecodePlan, options: DecodeOptions, budget: int) -> list[str]:
    """Each a single change of one option that makes the result fit in the budget."""
    frame_bytes = plan.width * plan.height * BYTES_PER_PIXEL
    fitting_frames = budget // frame_bytes
    suggestions: list[str] = []
    if fitting_frames >= 1:
        suggestions.append(f"frame_cap={fitting_frames}")
        for nth in range(options.every_nth + 1, plan.source_frame_count + 1):
            count = selected_count(plan.source_frame_count, options.start_frame, nth, options.frame_cap)
            if count <= fitting_frames:
                if count > 1:
                    suggestions.append(f"every_nth={nth}")
                break
    size = _fitting_size(plan, budget)
    if size is not None:
        width, height = size
        suggestions.append(f"height={height}" if not options.width else f"width={width}, height={height}")
    if not suggestions:
        suggestions.append("memory_limit_bytes higher, or free memory: not even one frame fits")
    return suggestions


def _fitting_size(plan: DecodePlan, budget: int) -> tuple[int, int] | None:
    scale = math.sqrt(budget / plan.bytes_needed)
    height = int(plan.height * scale) // 2 * 2  # even: whatever encodes these frames again wants it
    while height >= 16:
        width = max(1, round(plan.width * height / plan.height))
        if plan.frame_count * width * height * BYTES_PER_PIXEL <= budget:
            return width, height
        height -= 2
    return None
