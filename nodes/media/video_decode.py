"""MP4 (any FFmpeg-readable video) -> ComfyUI IMAGE: float32 [N, H, W, 3] in 0..1, in one pass.

Why it is shaped like this (numbers in shared/notes/video-decode.md): the float32 output is allocated
once from the frame count in the stream header, and each decoded frame is copied as rgb24 into its
slice and divided in place. No list of frames, no torch.stack, no whole-clip uint8 copy: those double
or triple the peak. Frames outside the selection are decoded (H.264 needs them) but never converted,
and resizing happens in libswscale while converting to rgb24. A decoder thread runs ahead of the
conversion by a few frames; FFmpeg and numpy release the GIL, so the two overlap.

The per-frame copy and divide use numpy on a view of the tensor, not torch ops: torch runs each small
op on its OpenMP pool, whose threads spin between ops and take the CPU the decoder thread needs
(measured on 2 cores: 2.5x the CPU time and 2-3x the wall time of single-threaded numpy).
"""

from __future__ import annotations

import logging
import queue
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from .memory import format_bytes
from .video_info import VideoUnreadable, open_video
from .video_plan import DecodeOptions, DecodePlan, MemoryBudgetError, check_budget, plan_from_stream

if TYPE_CHECKING:
    import numpy as np
    import torch

logger = logging.getLogger(__name__)

PROGRESS_EVERY = 8  # frames between progress callbacks
QUEUE_DEPTH = 4  # decoded frames waiting for conversion: bounded, so memory stays flat
POLL_SECONDS = 0.1  # how long the converter waits before checking should_stop again
# When the stream header has no frame count and the duration is unknown too, start this small and grow.
GROWTH_START_FRAMES = 32
GROWTH_FACTOR = 1.5
# A tensor trimmed after an over-estimate keeps its storage when the waste is small; beyond this it is copied.
TRIM_WASTE_FRACTION = 0.02


class DecodeStopped(Exception):
    """should_stop returned True (the user cancelled); the partial result was discarded."""


def decode_frames(
    path: str | Path | BinaryIO,
    options: DecodeOptions = DecodeOptions(),
    on_progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    prepared: Callable[[tuple[int, ...]], torch.Tensor | None] | None = None,
    *,
    whole: bool = False,
) -> torch.Tensor:
    """Decode the selected frames of a video into a float32 [N, H, W, 3] tensor with values 0..1.

    Raises MemoryBudgetError before allocating when the result would not fit, DecodeStopped when
    should_stop() turns True (checked for every frame), VideoUnreadable for files FFmpeg can't read.
    ``prepared(shape)`` may hand over a float32 tensor of exactly that shape, already in memory (see
    media.memory.PreparedFrames), to fill instead of allocating one; it is asked only when the frame
    count is exact. ``path`` may be a binary file object (a GrowingReader over a file still downloading).
    ``whole``: a video that ends before the frames its header announces raises VideoUnreadable instead
    of returning the frames it had (a cut-short file never passes for a whole one).
    """
    # Lazy: torch takes seconds to import: only when a tensor is made.
    import numpy as np
    import torch

    name = str(getattr(path, "name", "video")) if hasattr(path, "read") else Path(path).name
    with open_video(path) as (container, stream):
        plan = plan_from_stream(container, stream, options)
        shape = (plan.frame_count, plan.height, plan.width, 3)
        out = prepared(shape) if prepared is not None and plan.count_exact and plan.frame_count else None
        if out is None:
            check_budget(plan, options)
        if plan.frame_count == 0:
            raise VideoUnreadable(f"{name}: no frames selected (start_frame={options.start_frame})")
        # Frame threading: each thread decodes a whole frame; this is what multi-core machines want.
        stream.codec_context.thread_type = "AUTO"
        stream.codec_context.thread_count = 0
        # numpy asks the kernel for transparent huge pages on large arrays (torch.empty does not): a
        # 6 GB tensor then costs thousands of page faults instead of 1.5 million. Same memory, shared.
        in_memory = out is not None
        if out is None:
            out = torch.from_numpy(np.empty(shape, dtype=np.float32))
        try:
            filled = _fill(_Opened(container, stream, plan, options), out, on_progress, should_stop, in_memory)
        except BaseException as exc:
            # The failed fill's frames (kept by the traceback) hold the half-filled tensor: clear them, so an
            # error that is kept around (a node's failure, a test's) does not keep gigabytes alive with it.
            out = None
            traceback.clear_frames(exc.__traceback__)
            raise
        del out
    if filled.shape[0] == 0:
        raise VideoUnreadable(f"{name}: the decoder returned no frames")
    if whole and plan.count_exact and filled.shape[0] < plan.frame_count:
        raise VideoUnreadable(f"{name}: the video ended after {filled.shape[0]} of the {plan.frame_count} "
                              "frames its header announces (a cut-short or damaged file)")
    return filled


# ---------------------------------------------------------------------------------------------- decoding


@dataclass(frozen=True)
class _Opened:
    """A video open for decoding: PyAV's container and stream, and which frames to take from them."""

    container: Any
    stream: Any
    plan: DecodePlan
    options: DecodeOptions


@dataclass
class _Failure:
    error: BaseException


class _Pager:
    """Faults the output's memory in ahead of the converting thread, on the core the decoder leaves idle.

    A fresh multi-GB tensor costs seconds of page faults (the kernel zeroes every page on first
    touch); done in the converting thread they add to the decode time, done here they overlap it.
    The pager claims whole frames in order and never touches one the converting thread has begun:
    ``ready(i)`` either takes frame i back (pager behind) or waits until the pager has finished it.
    """

    _FLOATS_PER_PAGE = 4096 // 4

    def __init__(self, pixels: np.ndarray) -> None:
        self._pixels = pixels
        self._stop = threading.Event()
        self._cond = threading.Condition()
        self._claimed = 0  # frames [0, claimed) belong to the pager or are already written
        self._paged = 0  # frames [0, paged) are faulted in (or taken back)
        self._thread = threading.Thread(target=self._run, name="luma-fal-video-pager", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        count = len(self._pixels)
        while not self._stop.is_set():
            with self._cond:
                index = self._claimed
                if index >= count:
                    return
                self._claimed = index + 1
            self._pixels[index].reshape(-1)[:: self._FLOATS_PER_PAGE] = 0
            with self._cond:
                self._paged = index + 1
                self._cond.notify_all()

    def ready(self, index: int) -> None:
        with self._cond:
            if self._claimed <= index:
                self._claimed = index + 1
                self._paged = max(self._paged, index + 1)
                return
            while self._paged <= index and self._thread.is_alive():
                self._cond.wait(POLL_SECONDS)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


_END = object()


def _fill(
    video: _Opened,
    out: torch.Tensor,
    on_progress: Callable[[int, int], None] | None,
    should_stop: Callable[[], bool] | None,
    in_memory: bool = False,
) -> torch.Tensor:
    # Lazy: heavy modules (av, numpy): loaded on first use, not when ComfyUI loads the pack.
    import av
    import numpy as np

    plan, options = video.plan, video.options
    frames: queue.Queue = queue.Queue(maxsize=QUEUE_DEPTH)
    stop = threading.Event()
    producer = threading.Thread(
        target=_produce,
        args=(video, frames, stop),
        name="luma-fal-video-decode",
        daemon=True,
    )
    producer.start()
    done = 0
    total = plan.frame_count
    reported = (0, total)
    pixels = out.numpy()  # shares memory with out
    resize = (plan.width, plan.height) != (plan.source_width, plan.source_height)
    divisor = np.float32(255.0)
    # Only when the frame count is known: a buffer that may still grow would move under the pager.
    # (Nor when the output's pages are in memory already: nothing left to fault in.)
    pager = _Pager(pixels) if plan.count_exact and not in_memory else None
    try:
        while True:
            if should_stop is not None and should_stop():
                raise DecodeStopped(f"decoding stopped after {done} frames")
            try:
                item = frames.get(timeout=POLL_SECONDS)
            except queue.Empty:
                continue
            if item is _END:
                break
            if isinstance(item, _Failure):
                if isinstance(item.error, av.error.FFmpegError):
                    raise VideoUnreadable(f"decoding failed after {done} frames: {item.error}") from item.error
                raise item.error
            if done == out.shape[0]:
                if pager is not None:  # defensive: an exact count should never be exceeded
                    pager.close()
                    pager = None
                out = _grow(out, options)
                pixels = out.numpy()
                total = max(total, out.shape[0])
            if pager is not None:
                pager.ready(done)
            # One pass into the slice: numpy casts the uint8 frame through small internal buffers, so
            # no float copy of the frame is made. Division (not * 1/255) keeps results equal to rgb24 / 255.
            np.divide(_to_rgb24(item, plan, resize), divisor, out=pixels[done], casting="unsafe")
            done += 1
            if on_progress is not None and (done % PROGRESS_EVERY == 0):
                on_progress(done, max(total, done))
                reported = (done, max(total, done))
    finally:
        stop.set()
        _drain(frames)
        producer.join()
        if pager is not None:
            pager.close()
    if on_progress is not None and reported != (done, done):
        on_progress(done, done)
    return _trim(out, done)


def _produce(video: _Opened, frames: queue.Queue, stop: threading.Event) -> None:
    """Decoder thread: decode every frame and hand the selected ones to the converting thread.

    Colour conversion (and resizing) happens over there: this thread then does nothing but keep
    the frame-threaded decoder fed, which measured 15 % faster end to end at 1080p than converting here.
    """
    options = video.options
    limit = options.frame_cap if options.frame_cap else None
    selected = 0
    try:
        for index, frame in enumerate(video.container.decode(video.stream)):
            if stop.is_set():
                return
            if index < options.start_frame or (index - options.start_frame) % options.every_nth:
                continue
            if not _put(frames, frame, stop):
                return
            selected += 1
            if limit is not None and selected >= limit:
                break
    except Exception as exc:  # handed to the converting thread, which raises it to the caller
        _put(frames, _Failure(exc), stop)
        return
    _put(frames, _END, stop)


def _to_rgb24(frame, plan: DecodePlan, resize: bool) -> np.ndarray:
    if resize or frame.width != plan.width or frame.height != plan.height:
        # libswscale resizes while converting; AREA averages the covered pixels when shrinking.
        return frame.to_ndarray(
            format="rgb24", width=plan.width, height=plan.height, interpolation=_interpolation(plan)
        )
    return frame.to_ndarray(format="rgb24")


def _interpolation(plan: DecodePlan) -> str:
    shrinking = plan.width * plan.height < plan.source_width * plan.source_height
    return "AREA" if shrinking else "BICUBIC"


def _put(frames: queue.Queue, item: object, stop: threading.Event) -> bool:
    while not stop.is_set():
        try:
            frames.put(item, timeout=POLL_SECONDS)
            return True
        except queue.Full:
            continue
    return False


def _drain(frames: queue.Queue) -> None:
    while True:
        try:
            frames.get_nowait()
        except queue.Empty:
            return


def _grow(out: torch.Tensor, options: DecodeOptions) -> torch.Tensor:
    """More frames than the estimate: move into a larger tensor (only for containers without a count)."""
    # Lazy: torch takes seconds to import: only when a tensor is made.
    import torch

    count = out.shape[0]
    new_count = max(count + GROWTH_START_FRAMES, int(count * GROWTH_FACTOR))
    new_bytes = new_count * out[0].numel() * 4
    budget, source = options.budget()
    # The old tensor is still held while the new one fills, so both must fit. Free RAM already excludes it;
    # a set limit or cap does not.
    by_free_ram = options.memory_limit_bytes is None and budget != options.memory_cap_bytes
    if budget is not None and new_bytes + (0 if by_free_ram else out.nbytes) > budget:
        raise MemoryBudgetError(
            f"The video has more frames than its container said; after {count} frames, growing the result "
            f"to {new_count} frames needs {format_bytes(new_bytes)}, but only {format_bytes(budget)} is "
            f"available ({source}). Set frame_cap={count} or every_nth={options.every_nth + 1} to fit."
        )
    logger.debug("growing decode buffer from %d to %d frames", count, new_count)
    grown = torch.empty((new_count, *out.shape[1:]), dtype=out.dtype)
    grown[:count].copy_(out)
    return grown


def _trim(out: torch.Tensor, count: int) -> torch.Tensor:
    if count == out.shape[0]:
        return out
    unused = out.shape[0] - count
    if unused <= max(1, out.shape[0] * TRIM_WASTE_FRACTION):
        return out[:count]  # a view: the few unused frames' memory stays with it, cheaper than a copy
    return out[:count].clone()
