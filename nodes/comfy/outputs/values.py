"""Turn a finished request into what downstream nodes need: VIDEO, frames, paths, fps, request id."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import itertools
import logging
import os
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from comfy_api.latest import InputImpl, io, ui

from ...media.images import decode_image
from ...media.memory import parse_size
from ...media.video_decode import DecodeStopped, decode_frames
from ...media.video_info import probe_video
from ...media.video_plan import DecodeOptions, MemoryBudgetError
from .. import host
from ..rules.input_identity import cheap_signature
from ..run.job import Takes
from ..run.saving import Generated

log = logging.getLogger(__name__)

FRAMES_SLOT = 1  # index of the "frames" output on every video node

# Frames are decoded only when the frames output is connected. ComfyUI keeps a node's outputs while
# its inputs are unchanged, so connecting frames later would hand the new consumer the placeholder.
# Video nodes therefore remember which input signatures ran without decoding, and report those as
# changed: ComfyUI runs the node again, which reuses the saved result (not billed) and decodes.
_SKIPPED_FRAMES: set[str] = set()
_SIGNATURE: contextvars.ContextVar[str | None] = contextvars.ContextVar("luma_fal_signature", default=None)
_RERUN = itertools.count()


class VideoNode:
    """Mixed into the pack's video nodes, before ``io.ComfyNode``: knows whether the frames output was skipped
    last time. Not a ComfyNode itself, so that every node class names ``io.ComfyNode`` among its own bases:
    ComfyUI-Manager's scanner (what "Install Missing Custom Nodes" looks up) counts only such classes, and
    would list a ComfyNode base class as a node of the pack."""

    @classmethod
    def fingerprint_inputs(cls, **inputs: Any) -> Any:
        signature = cheap_signature(inputs)
        return f"{signature}:rerun-{next(_RERUN)}" if signature in _SKIPPED_FRAMES else signature


def tracks_inputs(execute: Callable[..., Awaitable[io.NodeOutput]]) -> Callable[..., Awaitable[io.NodeOutput]]:
    """Wrap a video node's ``execute`` so ``video_node_output`` knows the inputs' signature."""

    @functools.wraps(execute)
    async def wrapper(cls: Any, **inputs: Any) -> io.NodeOutput:
        token = _SIGNATURE.set(cheap_signature(inputs))
        try:
            return await execute(cls, **inputs)
        finally:
            _SIGNATURE.reset(token)

    return wrapper


def one_call_fans_out(execute: Callable[..., Awaitable[io.NodeOutput]]) -> Callable[..., Awaitable[io.NodeOutput]]:
    """For a generating node declared with ``is_input_list`` (INPUT_IS_LIST): ComfyUI hands every input as a
    list, so a STRING list from upstream reaches ``prompt_variants`` whole and one node call fans out all its
    prompts (one spend check, one status line, one report). Every other input keeps ComfyUI's usual meaning:
    a single value is unwrapped, and a longer list from upstream runs the node once per item (the last item
    repeating for shorter lists, as ComfyUI maps), those runs at once, their list outputs joined in order."""

    @functools.wraps(execute)
    async def wrapper(cls: Any, **inputs: Any) -> io.NodeOutput:
        variants = inputs.pop("prompt_variants", None)
        lists = {k: v if isinstance(v, list) else [v] for k, v in inputs.items()}
        count = max((len(v) for v in lists.values()), default=1)
        calls = []
        for i in range(count):
            item = {k: v[i if len(v) > i else -1] for k, v in lists.items() if v}
            if variants is not None:
                item["prompt_variants"] = variants
            calls.append(execute(cls, **item))
        if count == 1:
            return await calls[0]
        return _joined(list(await asyncio.gather(*calls)))

    return wrapper


def _joined(outputs: list[io.NodeOutput]) -> io.NodeOutput:
    """The outputs of several runs of one node as one: list outputs concatenated, the report texts joined."""
    values: list[Any] = []
    for slot in range(len(outputs[0].args)):
        parts = [out.args[slot] for out in outputs]
        values.append([v for part in parts for v in part] if isinstance(parts[0], list) else "\n\n".join(parts))
    ui_parts = [out.ui.as_dict() if hasattr(out.ui, "as_dict") else dict(out.ui or {}) for out in outputs]
    merged: dict[str, list[Any]] = {}
    for part in ui_parts:
        for key, items in part.items():
            merged.setdefault(key, []).extend(items if isinstance(items, list) else [items])
    return io.NodeOutput(*values, ui=merged)


@dataclass(frozen=True)
class FrameOptions:
    start: int = 0
    cap: int = 0
    every_nth: int = 1
    height: int = 0
    # What the node calls these inputs, for messages ("frames_" on generating nodes: frames_cap, ...).
    input_prefix: str = ""

    def input_names(self, message: str) -> str:
        """A decoder message with its option names (frame_cap=...) as the node's input names."""
        if not self.input_prefix:
            return message
        names = {"start_frame": "start", "frame_cap": "cap", "every_nth": "every_nth", "height": "height"}
        return re.sub(r"\b(start_frame|frame_cap|every_nth|height)=",
                      lambda m: f"{self.input_prefix}{names[m.group(1)]}=", message)


def _placeholder_frames() -> torch.Tensor:
    # Nothing reads it: the frames output is not connected, so the video is not decoded at all.
    return torch.zeros((1, 8, 8, 3), dtype=torch.float32)


FRAMES_MEMORY_ENV = "LUMA_FAL_FRAMES_MEMORY_LIMIT"


def frames_memory_cap() -> int | None:
    """The most memory decoded frames may take, if the user set one (``LUMA_FAL_FRAMES_MEMORY_LIMIT``, e.g.
    ``8GiB``): room kept for models and other nodes. A malformed value fails the run, naming the variable."""
    raw = os.environ.get(FRAMES_MEMORY_ENV, "").strip()
    if not raw:
        return None
    try:
        return parse_size(raw)
    except ValueError as exc:
        raise ValueError(f"{FRAMES_MEMORY_ENV}: {exc}") from None


def decode_options_of(options: FrameOptions) -> DecodeOptions:
    return DecodeOptions(start_frame=options.start, frame_cap=options.cap, every_nth=options.every_nth,
                         height=options.height, memory_cap_bytes=frames_memory_cap(),
                         memory_cap_name=FRAMES_MEMORY_ENV)


async def decode_video_frames(path: Any, options: FrameOptions, node_id: str | None,
                              on_progress: Callable[[int, int], None] | None = None,
                              prepared: Callable[[tuple[int, ...]], Any] | None = None) -> Any:
    """Frames of a saved video, decoded off the event loop, with progress (on the node's bar unless
    ``on_progress`` is given) and Cancel; ``prepared`` may hand over the output tensor, already in memory."""
    if on_progress is None:
        bar = host.ProgressBar(node_id)

        def on_progress(done: int, total: int) -> None:
            if total:
                bar.set_fraction(done / total)

    decode_options = decode_options_of(options)
    try:
        frames = await asyncio.to_thread(decode_frames, path, decode_options, on_progress, host.interrupted, prepared)
    except DecodeStopped:
        raise host.interrupt_exception("Cancelled while decoding frames; the video is saved at " + str(path)) from None
    except MemoryBudgetError as exc:
        raise MemoryError(f"{options.input_names(str(exc))}\nThe video itself is saved at {path}.") from None
    log.info("luma-fal: decoded %d frames from %s", frames.shape[0], Path(path).name)
    return frames


async def video_node_output(result: Generated, hidden: Any, options: FrameOptions, *, with_exr: bool) -> io.NodeOutput:
    path = result.files["video"][0]
    info = await asyncio.to_thread(probe_video, path)
    node_id = getattr(hidden, "unique_id", None)
    signature = _SIGNATURE.get()
    if output_is_linked(getattr(hidden, "prompt", None), node_id, FRAMES_SLOT):
        frames = await decode_video_frames(path, options, node_id)
        _SKIPPED_FRAMES.discard(signature or "")
    else:
        frames = _placeholder_frames()
        if signature:
            _SKIPPED_FRAMES.add(signature)
    values: list[Any] = [InputImpl.VideoFromFile(str(path)), frames, str(path), float(info.fps), result.request_id]
    if with_exr:
        exr = result.files.get("exr_file") or []
        values.append(str(exr[0]) if exr else "")
    return io.NodeOutput(*values, ui=ui.PreviewVideo([host.ui_file_entry(path)]))


async def image_node_output(result: Generated) -> io.NodeOutput:
    paths = result.files["images"]
    images = [await asyncio.to_thread(lambda p=p: decode_image(p.read_bytes())) for p in paths]
    # An IMAGE batch needs one size; Uni-1 returns one image, so differing sizes only keep the first size.
    first = images[0].shape[1:3]
    batch = torch.cat([im for im in images if im.shape[1:3] == first], dim=0)
    return io.NodeOutput(batch, "\n".join(str(p) for p in paths), result.request_id,
                         ui=ui.SavedImages([host.ui_file_entry(p) for p in paths]))


# -- a fan-out's outputs: one value per take (list outputs), plus the report ----------------------

async def video_takes_output(takes: Takes, hidden: Any, options: FrameOptions, *, with_exr: bool,
                             landed: Any = None) -> io.NodeOutput:
    """A generating video node's outputs: each a list with one value per take that succeeded, then the report.
    One take gives lists of one value. ``landed`` (a take_frames.FramesAsTakesLand) holds the frames a fan-out
    decoded as its takes landed, and any frame memory prepared while fal worked; a single take is decoded here."""
    paths = [r.files["video"][0] for r in takes.results]
    node_id = getattr(hidden, "unique_id", None)
    signature = _SIGNATURE.get()
    frames: list[Any]
    if output_is_linked(getattr(hidden, "prompt", None), node_id, FRAMES_SLOT):
        if landed is not None:
            await landed.settle()  # frames decoded as the video downloaded (stream_frames.py)
        failure = landed.failure(paths) if landed is not None else None
        if failure is not None:
            raise failure
        decoded = landed.frames if landed is not None else {}
        prepared = landed.take_prepared if landed is not None else None
        frames = [decoded[str(p)] if str(p) in decoded else await decode_video_frames(p, options, node_id,
                                                                                      prepared=prepared)
                  for p in paths]
        _SKIPPED_FRAMES.discard(signature or "")
    else:
        frames = [_placeholder_frames() for _ in paths]
        if signature:
            _SKIPPED_FRAMES.add(signature)
    infos = [await asyncio.to_thread(probe_video, p) for p in paths]
    values: list[Any] = [[InputImpl.VideoFromFile(str(p)) for p in paths], frames, [str(p) for p in paths],
                         [float(i.fps) for i in infos], [r.request_id for r in takes.results]]
    if with_exr:
        values.append([str((r.files.get("exr_file") or [""])[0]) for r in takes.results])
    values.append(takes.report)
    return io.NodeOutput(*values, ui=ui.PreviewVideo([host.ui_file_entry(p) for p in paths]))


async def image_takes_output(takes: Takes) -> io.NodeOutput:
    """A generating image node's outputs: one IMAGE batch, paths text and request id per take, then the report."""
    per_take = [await image_node_output(r) for r in takes.results]
    images, paths, ids = ([out.args[i] for out in per_take] for i in range(3))
    files = [p for r in takes.results for p in r.files["images"]]
    return io.NodeOutput(list(images), list(paths), list(ids), takes.report,
                         ui=ui.SavedImages([host.ui_file_entry(p) for p in files]))


def output_is_linked(prompt: dict[str, Any] | None, node_id: str | None, slot: int) -> bool:
    """Whether any node in the queued prompt reads output ``slot`` of ``node_id``.

    Unknown (no prompt available) counts as linked, so a host that does not pass the prompt still
    gets its frames.
    """
    if not prompt or node_id is None:
        return True
    for node in prompt.values():
        for value in (node.get("inputs") or {}).values():
            if isinstance(value, list) and len(value) == 2 and str(value[0]) == str(node_id) and value[1] == slot:
                return True
    return False
