"""A node's frames when it runs takes: memory prepared while fal works, each take decoded as it lands.

Decoding after everything has arrived, one video after another, added half again to the time of eight takes
on 2 cores (bench/fanout.py); most of that was not decoding but faulting in fresh memory for the tensors,
which now happens while fal is still generating.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from pathlib import Path
from typing import Any

from ...fal.deadline import Deadline
from ...media.growing_file import DownloadBroken, GrowingFile, ReadStopped, ReadTimedOut
from ...media.memory import format_bytes
from ...media.prepared import PreparedFrames
from ...media.video_decode import DecodeStopped, decode_frames
from ...media.video_plan import (BYTES_PER_PIXEL, DecodePlan, MemoryBudgetError, fitting_options, plan_decode,
                                 selected_count, target_size)
from .. import host
from ..run.saving import Generated
from .values import FRAMES_SLOT, FrameOptions, decode_options_of, decode_video_frames, output_is_linked

log = logging.getLogger(__name__)

DECODES_AT_ONCE = max(1, min(4, os.cpu_count() or 1))  # 2 at once measured best on 2 cores (bench/fanout.py)


class FramesAsTakesLand:
    """The frames of a node's takes, for a node whose frames output is connected (the job's ``TakeHooks``).

    Before the takes are sent, their frame tensors are put in memory while fal works, when the request says
    what size its video will be and the whole set fits (media.prepared). In a fan-out each take's frames are
    then decoded as soon as its video is saved, while other takes still run, at most ``DECODES_AT_ONCE`` at a
    time. The memory guard covers the whole set before the first decode starts: the first video's frames
    times the number of takes (every take shares the request's resolution and duration). A refusal or a
    failed decode stops further decodes but never the takes: every paid video is still saved, then the node
    fails."""

    def __init__(self, options: FrameOptions) -> None:
        self.options = options
        self.frames: dict[str, Any] = {}
        self.error: BaseException | None = None
        self.prepared: Any = None  # media.prepared.PreparedFrames, while it lives
        self._checked = False
        self._check_lock = asyncio.Lock()
        self._slots = asyncio.Semaphore(DECODES_AT_ONCE)
        self.count = 0
        self.streams: dict[str, StreamedFrames] = {}  # one take's video decoded as it downloads
        self._closed = False

    async def before_takes(self, count: int, request: Any) -> None:
        """Refuse (MemoryError: nothing is sent) takes whose frames could not fit, else claim their memory.
        Only when the request's fields fix the video's size; otherwise the guard waits for the first video."""
        self.count = count
        expected = getattr(request, "expected_video", lambda: None)()
        if expected is None:
            return
        refuse_frames_that_cannot_fit(expected, count, self.options)
        shape = expected_frames_shape(expected, self.options)
        if shape is not None:
            self.prepared = PreparedFrames(shape, count)

    def _check_memory(self, first: Path, count: int) -> None:
        decode_options = decode_options_of(self.options)
        plan = plan_decode(first, decode_options)
        prepared = self.prepared
        if (prepared is not None and plan.count_exact
                and prepared.shape == (plan.frame_count, plan.height, plan.width, 3)):
            return  # the whole set's memory is held already, checked before it was claimed
        self.close()  # a wrong guess: its memory must not count against the real set
        check_takes_memory(plan.bytes_needed, count, decode_options)

    def take_prepared(self, shape: tuple[int, ...]) -> Any:
        return self.prepared.take(shape) if self.prepared is not None else None

    def close(self) -> None:
        self._closed = True
        for stream in self.streams.values():
            stream.stop()
        # The node's outputs hold the frames now; this object may outlive the run (the follower task's context
        # refers to it), so it must not keep a second reference to gigabytes of frames.
        self.streams.clear()
        self.frames = {}
        if self.prepared is not None:
            self.prepared.close()
            self.prepared = None

    def stream_started(self, request_id: str, dest: Path, live: GrowingFile, deadline: Deadline) -> bool:
        """One take's video began downloading (run/stream_frames.py): decode it as it lands. A fan-out's takes keep
        decoding after each download (their memory guard wants the first video whole, and the other takes'
        downloads and decodes overlap already)."""
        if self._closed or self.count != 1 or str(dest) in self.streams:
            return False
        self.streams[str(dest)] = StreamedFrames(request_id, dest, live, deadline, self.options, self.take_prepared)
        return True

    async def settle(self) -> None:
        """Wait for the streamed decodes; their frames (whole videos only) join ``frames``, or ``error`` is set."""
        for key, stream in list(self.streams.items()):
            try:
                self.frames[key] = await stream.result()
            except Exception as exc:
                if host.is_interrupt(exc):
                    raise
                self.error = self.error or exc

    async def after_take(self, index: int, count: int, generated: Generated, reporter: Any) -> None:
        path = generated.files["video"][0]
        async with self._check_lock:
            if not self._checked:
                self._checked = True
                try:
                    await asyncio.to_thread(self._check_memory, path, count)
                except (MemoryError, ValueError) as exc:
                    self.error = exc
        if self.error is not None:
            return
        reporter.show("decoding", "waiting to decode frames")

        def on_progress(done: int, total: int) -> None:
            reporter.show("decoding", f"decoding frames {done}/{total}")

        try:
            async with self._slots:
                if self.error is None:
                    self.frames[str(path)] = await decode_video_frames(path, self.options, None, on_progress,
                                                                       self.take_prepared)
        except Exception as exc:  # the take shows done (its reporter's release) unless it failed here
            if host.is_interrupt(exc):  # Cancel stops the node, not only this take's frames
                reporter.show("cancelled", "cancelled while decoding frames")
                raise
            self.error = self.error or exc
            reporter.show("error", "frames not decoded")

    def failure(self, paths: list[Path]) -> BaseException | None:
        """What stops the node once every take has ended (None: all frames decoded)."""
        if self.error is None:
            return None
        if isinstance(self.error, MemoryError):
            return MemoryError(f"{self.error}\nThe videos are saved: " + ", ".join(str(p) for p in paths))
        return self.error


class StreamedFrames:
    """The decode of one video from its growing .part file, started as its download starts (on the node's loop).

    Its outcome is the whole video's frames or an error naming the request and the saved file: a decode that
    fails while the download succeeded (a damaged stream) is tried once more on the finished file, and a video
    that ends before the frames its header announces is an error, never a shorter tensor."""

    def __init__(self, request_id: str, dest: Path, live: Any, deadline: Any, options: FrameOptions,
                 prepared: Any) -> None:
        self.request_id, self.dest, self.live = request_id, dest, live
        self._stopped = threading.Event()
        self._task = asyncio.ensure_future(self._decode(deadline, options, prepared))
        self._task.add_done_callback(lambda t: t.cancelled() or t.exception())  # retrieved even if unread

    def stop(self) -> None:
        self._stopped.set()

    def _should_stop(self) -> bool:
        return self._stopped.is_set() or host.interrupted()

    async def _decode(self, deadline: Any, options: FrameOptions, prepared: Any) -> Any:
        decode_options = decode_options_of(options)
        expired = getattr(deadline, "expired", None)
        reader = self.live.reader(self._should_stop, expired)
        try:
            try:
                return await asyncio.to_thread(decode_frames, reader, decode_options, None, self._should_stop,
                                               prepared, whole=True)
            finally:
                reader.close()
        except (ReadStopped, DecodeStopped):
            raise host.interrupt_exception("Cancelled while decoding frames; the video is saved at "
                                           f"{self.dest} (request {self.request_id})") from None
        except MemoryBudgetError as exc:
            raise MemoryError(f"{options.input_names(str(exc))}\nThe video itself is saved at {self.dest} "
                              f"(request {self.request_id}).") from None
        except (DownloadBroken, ReadTimedOut):
            raise  # the download's own error reaches the node through the run; this one goes unread
        except Exception as exc:
            if self.live.final is None or self.live.error is not None:
                raise
            log.warning("luma-fal: decoding %s as it downloaded failed (%s); decoding the saved file", self.dest, exc)
        try:
            return await asyncio.to_thread(decode_frames, self.dest, decode_options, None, self._should_stop,
                                           None, whole=True)
        except DecodeStopped:
            raise host.interrupt_exception(f"Cancelled while decoding frames; the video is saved at {self.dest}") from None
        except MemoryBudgetError as exc:
            raise MemoryError(f"{options.input_names(str(exc))}\nThe video itself is saved at {self.dest}.") from None
        except Exception as exc:
            raise RuntimeError(f"The frames of request {self.request_id} could not be decoded: {exc}\n"
                               f"The video is saved at {self.dest}.") from None

    async def result(self) -> Any:
        return await asyncio.shield(self._task)


def expected_frames_shape(expected: tuple[int, int, int], options: FrameOptions) -> tuple[int, ...] | None:
    """The frames tensor's shape for a video of (frames, width, height), after the node's frame options."""
    frames, width, height = expected
    count = selected_count(frames, options.start, options.every_nth, options.cap)
    out_w, out_h = target_size(width, height, 0, options.height)
    return (count, out_h, out_w, 3) if count > 0 else None


def refuse_frames_that_cannot_fit(expected: tuple[int, int, int], count: int, options: FrameOptions) -> None:
    """Before anything is sent: a MemoryError saying what would fit, when the frames of ``count`` videos of
    (frames, width, height) exceed the memory budget (paying for takes whose frames cannot be decoded helps
    no one)."""
    shape = expected_frames_shape(expected, options)
    if shape is None:
        return
    decode_options = decode_options_of(options)
    budget, source = decode_options.budget()
    frames, height, width = shape[0], shape[1], shape[2]
    each = frames * height * width * BYTES_PER_PIXEL
    if budget is None or each * count <= budget:
        return
    plan = DecodePlan(frame_count=frames, width=width, height=height, bytes_needed=each, source_width=expected[1],
                      source_height=expected[2], source_frame_count=expected[0], fps=0.0, count_exact=True)
    fits = options.input_names(" or ".join(fitting_options(plan, decode_options, budget // count)))
    what = (_all_takes_need(count, each, f": {frames} frames at {width}x{height}") if count > 1 else
            f"Its frames would need about {format_bytes(each)} as float32 ({frames} frames at {width}x{height})")
    raise MemoryError(f"{what}, but only {format_bytes(budget)} is available ({source}). To fit, set {fits}"
                      + (", or use fewer takes" if count > 1 else "")
                      + "; or leave the frames output unconnected (the video output needs no memory).")


def check_takes_memory(each: int, count: int, decode_options: Any) -> None:
    """Refuse, before any decode starts, a fan-out whose frames (``each`` bytes a take) would not fit together."""
    budget, source = decode_options.budget()
    if budget is not None and each * count > budget:
        raise MemoryError(
            f"{_all_takes_need(count, each)}, but only {format_bytes(budget)} is available ({source}); no frames "
            f"were decoded. Use frames_cap, frames_every_nth or frames_height, or fewer takes.")


def _all_takes_need(count: int, each: int, detail: str = "") -> str:
    return (f"The frames of all {count} takes would need about {format_bytes(each * count)} as float32 "
            f"({format_bytes(each)} each{detail})")


def frames_as_takes_land(hidden: Any, options: FrameOptions) -> FramesAsTakesLand | None:
    """The after-take hook of a video node whose frames output is connected (None when it is not)."""
    linked = output_is_linked(getattr(hidden, "prompt", None), getattr(hidden, "unique_id", None), FRAMES_SLOT)
    return FramesAsTakesLand(options) if linked else None
