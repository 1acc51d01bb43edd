"""Luma fal: Result by Request ID — the outputs of any earlier request, fetched by its id, never re-submitted.

One node serves both kinds of endpoint, because a ComfyUI node's outputs are fixed by its type, not by a
widget value. Its first six outputs are exactly a Ray 3.2 node's (video, frames, path, fps, request_id,
exr_path), then a Uni-1 node's images and paths. The outputs of the other kind stay empty (None, "" or
0), and connecting one of them is refused before anything is fetched, with a message naming the
outputs to use instead: a wrong wire fails clearly at once instead of deep inside a downstream node.
"""

from __future__ import annotations

from typing import Any

from comfy_api.latest import io

from ...fal.errors import FalServerError, InputRejected, RequestFailed, ResultExpired
from ...luma import constants as C
from ..host.journaling import journal
from ..outputs.values import VideoNode, image_node_output, output_is_linked, tracks_inputs, video_node_output
from ..run.by_id import (
    FetchRefused,
    ResultKindMismatch,
    Saved,
    expired_text,
    output_kind_of,
    parse_request_id,
    start_fetch,
)
from ..run.fal_bridge import NodeReporter, wait_for_outcome
from ..run.job import NothingSent
from ..run.saving import Generated
from .ray32 import frame_options_of
from .schema import CATEGORY_UTIL, HIDDEN, frame_inputs, make_schema

NODE_ID = "LumaFalRequestById"
DISPLAY_NAME = "Luma fal: Result by Request ID"
VIDEO_OUTPUTS = ("video", "frames", "path", "fps", "exr_path")
IMAGE_OUTPUTS = ("images", "paths")
# Output slot of each name, in the order define_schema declares them.
SLOTS = {name: slot for slot, name in enumerate(("video", "frames", "path", "fps", "request_id", "exr_path",
                                                  "images", "paths"))}


def _outputs() -> list[io.Output]:
    video_only = " Video endpoints only (empty for Uni-1 endpoints)."
    image_only = " Image endpoints only (empty for Ray 3.2 endpoints)."
    return [
        io.Video.Output(display_name="video", tooltip="The result MP4 as ComfyUI's VIDEO." + video_only),
        io.Image.Output(display_name="frames", tooltip="Every frame as IMAGE, decoded only when connected (see the "
                                                       "frames_ options)." + video_only),
        io.String.Output(display_name="path", tooltip="The saved MP4 in ComfyUI's output folder." + video_only),
        io.Float.Output(display_name="fps", tooltip="Frames per second, read from the file." + video_only),
        io.String.Output(display_name="request_id", tooltip="fal's request id (the one fetched)."),
        io.String.Output(display_name="exr_path", tooltip="The request's EXR export, if it made one, else empty."),
        io.Image.Output(display_name="images", tooltip="The result images (float32 RGB)." + image_only),
        io.String.Output(display_name="paths", tooltip="Saved image files, one per line." + image_only),
    ]


def _refuse_wrong_wires(hidden: Any, kind: str, endpoint: str) -> None:
    prompt, node_id = getattr(hidden, "prompt", None), getattr(hidden, "unique_id", None)
    if not prompt or node_id is None:
        return  # a host that does not pass the prompt: nothing to check, unused outputs stay empty
    if kind == "video":
        unused, use = IMAGE_OUTPUTS, "video, frames, path, fps"
    else:
        unused, use = VIDEO_OUTPUTS, "images, paths"
    wired = [name for name in unused if output_is_linked(prompt, node_id, SLOTS[name])]
    if wired:
        what = "a video" if kind == "video" else "images"
        raise NothingSent(DISPLAY_NAME, f"{endpoint} returns {what}, so the {', '.join(wired)} output(s) stay "
                                        f"empty; connect {use} instead.")


class LumaFalRequestById(VideoNode, io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return make_schema(
            node_id=NODE_ID,
            display_name=DISPLAY_NAME,
            category=CATEGORY_UTIL,
            description=("The outputs of an earlier fal request, by its request id: from the saved files when "
                         "this ComfyUI has them (no network), else fetched from fal and saved. Never submits, "
                         "never pays. A request still running is followed with live status; Cancel cancels it "
                         "at fal."),
            search_aliases=["fal", "request id", "result by id", "fetch result", "luma", "inbox"],
            inputs=[
                io.Combo.Input("endpoint", options=list(C.ALL_ENDPOINTS), default=C.RAY32_TEXT_TO_VIDEO,
                               tooltip="The fal endpoint the request was made on (Ray 3.2: a video, Uni-1: "
                                       "images)."),
                io.String.Input("request_id", default="",
                                tooltip="fal's request id (a UUID), e.g. from a node's request_id output or the "
                                        "Luma fal inbox."),
                *frame_inputs(),
            ],
            outputs=_outputs(),
            hidden=HIDDEN,
            is_output_node=True,
        )

    @classmethod
    @tracks_inputs
    async def execute(cls, endpoint: str, request_id: str, **kwargs: Any) -> io.NodeOutput:
        node_id = getattr(cls.hidden, "unique_id", None)
        try:
            kind = output_kind_of(endpoint)
            rid = parse_request_id(request_id)
            _refuse_wrong_wires(cls.hidden, kind, endpoint)
            verdict = start_fetch(endpoint, rid, node_name=DISPLAY_NAME, node_id=node_id)
        except FetchRefused as exc:
            raise NothingSent(DISPLAY_NAME, str(exc)) from None
        if isinstance(verdict, Saved):
            generated = Generated(endpoint, rid, verdict.entry.result or {}, verdict.files, from_memory=True)
        else:
            generated = await _wait(verdict, node_id, rid)
        if kind == "video":
            out = await video_node_output(generated, cls.hidden, frame_options_of(kwargs), with_exr=True)
            return io.NodeOutput(*out.args, None, "", ui=out.ui)
        out = await image_node_output(generated)
        images, paths, request = out.args
        return io.NodeOutput(None, None, "", 0.0, request, "", images, paths, ui=out.ui)


async def _wait(follower: Any, node_id: str | None, request_id: str) -> Generated:
    """The follower's outcome, with live status and Cancel on this node; fal's failures said plainly."""
    try:
        return await wait_for_outcome(follower, NodeReporter(node_id))
    except ResultExpired:
        entry = journal().get_by_request_id(request_id)
        raise RuntimeError(expired_text(DISPLAY_NAME, request_id, entry)) from None
    except ResultKindMismatch as exc:
        raise RuntimeError(f"{DISPLAY_NAME}: {exc}") from None
    except (FalServerError, InputRejected, RequestFailed) as exc:  # fal's answer for the request itself
        raise RuntimeError(f"{DISPLAY_NAME}: request {request_id} failed at fal, so it has no result to fetch: "
                           f"{exc}") from None


NODES = [LumaFalRequestById]
