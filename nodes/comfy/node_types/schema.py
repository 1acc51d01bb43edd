"""Node-schema pieces every node of the pack shares: inputs, outputs and host feature detection."""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any

from comfy_api.latest import io

from ...luma import constants as C
from ..rules.takes import MAX_TAKES
from ..run.limits import DEFAULT_QUEUE_WAIT_S, DEFAULT_TOTAL_TIME_S

CATEGORY = "Luma (fal)"
CATEGORY_VIDEO = f"{CATEGORY}/Ray 3.2"
CATEGORY_IMAGE = f"{CATEGORY}/Uni-1"
CATEGORY_UTIL = f"{CATEGORY}/utils"



def schema_fields() -> set[str]:
    return {f.name for f in dataclasses.fields(io.Schema)}


def make_schema(**fields: Any) -> io.Schema:
    """An ``io.Schema`` with only the fields this host knows (0.3.75 lacks e.g. ``search_aliases``)."""
    known = schema_fields()
    return io.Schema(**{k: v for k, v in fields.items() if k in known})


def host_has_advanced_inputs() -> bool:
    """Whether inputs take ``advanced=True`` (shown behind the node's "Show Advanced" toggle, 0.33.0)."""
    return "advanced" in inspect.signature(io.Int.Input.__init__).parameters


def _advanced() -> dict[str, Any]:
    return {"advanced": True} if host_has_advanced_inputs() else {}


def prompt_input(tooltip: str) -> io.String.Input:
    return io.String.Input(
        "prompt", multiline=True, default="",
        tooltip=f"{tooltip} 1 to {C.PROMPT_MAX_CHARS} characters.",
    )


def seed_input() -> io.Int.Input:
    return io.Int.Input(
        "seed", default=0, min=0, max=2**31 - 1, control_after_generate=True,
        tooltip=(
            "Not sent to fal: Luma's results differ on every run whatever the seed. Change it to run the node "
            "again (a new paid take); keep it fixed and ComfyUI reuses the last result without paying again."
        ),
    )


def limit_inputs() -> list[io.Input]:
    return [
        io.Int.Input(
            "max_queue_wait", default=DEFAULT_QUEUE_WAIT_S, min=10, max=86_400, step=10, optional=True, **_advanced(),
            tooltip=(
                "Seconds the request may wait in fal's queue before it is cancelled (not billed). "
                "A request stuck in the queue often means the account has no credit."
            ),
        ),
        io.Int.Input(
            "max_total_time", default=DEFAULT_TOTAL_TIME_S, min=30, max=86_400, step=30, optional=True, **_advanced(),
            tooltip="Seconds the whole request (upload, queue, run, download) may take before the pack gives up.",
        ),
    ]


def frame_inputs() -> list[io.Input]:
    """Options for the frames output; they change nothing in the request or its price."""
    advanced = _advanced()
    return [
        io.Int.Input("frames_start", default=0, min=0, max=100_000, optional=True, **advanced,
                     tooltip="Frames output: first frame to decode (0 = from the start)."),
        io.Int.Input("frames_cap", default=0, min=0, max=100_000, optional=True, **advanced,
                     tooltip="Frames output: most frames to decode (0 = all)."),
        io.Int.Input("frames_every_nth", default=1, min=1, max=1000, optional=True, **advanced,
                     tooltip="Frames output: keep every n-th frame (1 = every frame)."),
        io.Int.Input("frames_height", default=0, min=0, max=4320, step=2, optional=True, **advanced,
                     tooltip="Frames output: resize to this height while decoding, keeping aspect (0 = as is)."),
    ]


_PER_TAKE = " With several takes: one per take (nodes downstream run once per take)."


def _per_take(tooltip: str, takes: bool) -> dict[str, Any]:
    """Output fields of a generating node: with ``takes`` a list output (ComfyUI's OUTPUT_IS_LIST), one value
    per take; one take gives a list of one value, which ComfyUI hands downstream exactly like a plain value."""
    return {"tooltip": tooltip + (_PER_TAKE if takes else ""), "is_output_list": takes}


def video_outputs(with_exr: bool, takes: bool = False) -> list[io.Output]:
    outputs: list[io.Output] = [
        io.Video.Output(display_name="video", **_per_take(
            "The generated MP4 as ComfyUI's VIDEO (backed by the saved file).", takes)),
        io.Image.Output(display_name="frames", **_per_take(
            "Every frame as IMAGE (float32 RGB). Decoded only when this output is connected.", takes)),
        io.String.Output(display_name="path", **_per_take(
            "Path of the saved MP4 under ComfyUI's output folder.", takes)),
        io.Float.Output(display_name="fps", **_per_take("Frames per second of the video, read from the file.", takes)),
        io.String.Output(display_name="request_id", **_per_take(
            "fal's request id (to find or re-fetch the result).", takes)),
    ]
    if with_exr:
        outputs.append(io.String.Output(display_name="exr_path", **_per_take(
            "Path of the EXR export when exr_export is on, else empty.", takes)))
    if takes:
        outputs.append(report_output())
    return outputs


def image_outputs(takes: bool = False) -> list[io.Output]:
    outputs: list[io.Output] = [
        io.Image.Output(display_name="images", **_per_take(
            "The generated images (float32 RGB), one per image returned.", takes)),
        io.String.Output(display_name="paths", **_per_take(
            "Saved files under ComfyUI's output folder, one per line.", takes)),
        io.String.Output(display_name="request_id", **_per_take(
            "fal's request id (to find or re-fetch the result).", takes)),
    ]
    if takes:
        outputs.append(report_output())
    return outputs


def report_output() -> io.Output:
    """One text for the whole node run, after every other output so saved workflows keep their links."""
    return io.String.Output(display_name="report", tooltip=(
        "Every take of this run: its request id, or which take and prompt failed and why. A take that fails "
        "does not discard the others."))


def takes_inputs() -> list[io.Input]:
    """The fan-out, after every other input so saved workflows keep their widget values; the defaults
    (1 take, no variants) run one request of the prompt above."""
    advanced = _advanced()
    return [
        io.Int.Input("takes", default=1, min=1, max=MAX_TAKES, optional=True, **advanced,
                     tooltip=(f"Independent requests of the same inputs, sent to fal at once (1-{MAX_TAKES}); each "
                              "is its own paid request. The price and spend limits count them all.")),
        io.String.Input("prompt_variants", default="", multiline=True, optional=True, **advanced,
                        tooltip=("Optional: one prompt per line; each line runs as its own request (times takes), "
                                 "instead of the prompt above. Empty = use the prompt above (a multi-line prompt "
                                 "there stays one prompt).")),
    ]


HIDDEN = [io.Hidden.unique_id, io.Hidden.prompt]


def request_node_schema(*, inputs: list[io.Input], outputs: list[io.Output], frames: bool,
                        **fields: Any) -> io.Schema:
    """Schema of a node that runs paid requests at fal: its own inputs, then the seed, the time limits, for video nodes the frame options, and the
    fan-out (takes, prompt_variants). An output node, so a lone node runs and shows its result.

    Never an API node (``is_api_node``), and so no declared ``price_badge``: frontends take an API node for a
    Comfy-billed partner node (1.58.1 replaces Run with "Sign in to run" for a signed-out user, its node library
    lists it under Partner Nodes), while these bill the user's own fal key; and every frontend draws a declared
    price badge only on API nodes. web/price.js draws the price on every host instead."""
    all_inputs = [*inputs, seed_input(), *limit_inputs(), *(frame_inputs() if frames else []), *takes_inputs()]
    # is_input_list: a STRING list from upstream reaches prompt_variants whole (outputs.one_call_fans_out).
    return make_schema(inputs=all_inputs, outputs=outputs, hidden=HIDDEN, is_output_node=True, is_input_list=True,
                       **fields)

