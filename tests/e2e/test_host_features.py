"""What newer hosts give the pack's nodes, feature-detected: advanced inputs (0.33.0; 0.3.75 keeps working
exactly as before: tests/e2e/test_all_nodes.py). Node ids, input names and input order are the same on every
host, and on no host is a node a Comfy partner (API) node.
"""

from __future__ import annotations

from typing import Any

from tests.e2e.pack_helpers import calls_at, preview_text
from tools.harness import ComfyHost

# What each host is expected to offer; written out, not detected, so a host that silently lost the
# feature fails here instead of passing vacuously.
HAS_ADVANCED_INPUTS = {"0.3.75": False, "0.33.0": True}
ADVANCED = {"max_queue_wait", "max_total_time", "frames_start", "frames_cap", "frames_every_nth", "frames_height",
            "takes", "prompt_variants"}
# Inputs added later go after every older one (takes: issue 13), so saved widget values keep their places.
FAN_OUT = ["takes", "prompt_variants"]

# Input names and order as the pack has always had them (saved workflows depend on them).
INPUT_ORDER: dict[str, dict[str, list[str]]] = {
    "LumaFalRay32TextToVideo": {
        "required": ["prompt", "aspect_ratio", "resolution", "duration", "loop", "hdr", "exr_export", "seed"],
        "optional": ["reference_images", "max_queue_wait", "max_total_time", "frames_start", "frames_cap",
            "frames_every_nth", "frames_height", *FAN_OUT],
    },
    "LumaFalRay32ImageToVideo": {
        "required": ["prompt", "aspect_ratio", "resolution", "duration", "loop", "hdr", "exr_export", "seed"],
        "optional": ["start_image", "end_image", "keyframes", "keyframe_positions", "max_queue_wait",
            "max_total_time", "frames_start", "frames_cap", "frames_every_nth", "frames_height", *FAN_OUT],
    },
    "LumaFalRay32VideoToVideo": {
        "required": ["prompt", "edit_strength", "controls", "resolution", "duration", "hdr", "exr_export",
            "seed"],
        "optional": ["video", "source_frames", "source_fps", "control_pose", "control_depth",
            "control_normals", "control_trajectory", "control_face", "start_image", "keyframes",
            "keyframe_positions", "max_queue_wait", "max_total_time", "frames_start", "frames_cap",
            "frames_every_nth", "frames_height", *FAN_OUT],
    },
    "LumaFalRay32Reframe": {
        "required": ["prompt", "aspect_ratio", "resolution", "place_source", "seed"],
        "optional": ["video", "source_frames", "source_fps", "source_x", "source_y", "source_w",
            "source_h", "max_queue_wait", "max_total_time", "frames_start", "frames_cap",
            "frames_every_nth", "frames_height", *FAN_OUT],
    },
    "LumaFalUni1TextToImage": {
        "required": ["prompt", "model", "aspect_ratio", "style", "output_format", "web_search", "seed"],
        "optional": ["references", "max_queue_wait", "max_total_time", *FAN_OUT],
    },
    "LumaFalUni1ImageEdit": {
        "required": ["image", "prompt", "model", "style", "output_format", "seed"],
        "optional": ["references", "max_queue_wait", "max_total_time", *FAN_OUT],
    },
    "LumaFalRequestById": {
        "required": ["endpoint", "request_id"],
        "optional": ["frames_start", "frames_cap", "frames_every_nth", "frames_height"],
    },
    "LumaFalVideoToFrames": {
        "required": ["start_frame", "frame_cap", "every_nth", "height"],
        "optional": ["video", "path"],
    },
}


def _pack_nodes(comfy: ComfyHost) -> dict[str, dict[str, Any]]:
    return {nid: info for nid, info in comfy.client.object_info().items() if nid.startswith("LumaFal")}


def test_input_names_and_order_never_change(comfy: ComfyHost) -> None:
    nodes = _pack_nodes(comfy)
    assert sorted(nodes) == sorted(INPUT_ORDER)
    for nid, info in nodes.items():
        order = {k: v for k, v in info["input_order"].items() if k != "hidden"}
        assert order == INPUT_ORDER[nid], nid


def test_no_node_is_a_partner_node_or_declares_a_frontend_price_badge(comfy: ComfyHost) -> None:
    """The nodes bill the user's own fal key: never ``api_node`` (a frontend would take them for Comfy-billed
    partner nodes and ask a signed-out user to sign in before Run), and so no ``price_badge``, which frontends
    draw only on API nodes; the pack's own badge shows the price (tests/browser/test_price_badge.py)."""
    for nid, info in _pack_nodes(comfy).items():
        assert info.get("api_node") in (None, False), nid
        assert not info.get("price_badge"), nid


def test_limits_and_frame_options_are_advanced_where_the_host_supports_it(comfy: ComfyHost, comfy_version: str) -> None:
    for nid, info in _pack_nodes(comfy).items():
        flagged = {name for section in ("required", "optional") for name, spec in info["input"].get(section, {}).items()
                   if len(spec) > 1 and isinstance(spec[1], dict) and spec[1].get("advanced")}
        names = {n for section in ("required", "optional") for n in info["input"].get(section, {})}
        assert flagged == (ADVANCED & names if HAS_ADVANCED_INPUTS[comfy_version] else set()), nid
    if HAS_ADVANCED_INPUTS[comfy_version]:
        assert ADVANCED <= set(_pack_nodes(comfy)["LumaFalRay32TextToVideo"]["input_order"]["optional"])


def test_text_to_video_runs_with_its_advanced_inputs_on_every_host(comfy: ComfyHost, comfy_sandbox: Any) -> None:
    # An API prompt written by hand (no UI conversion): the advanced inputs still reach the node.
    prompt = {
        "1": {"class_type": "LumaFalRay32TextToVideo", "inputs": {
            "prompt": "a lighthouse at dusk, advanced inputs", "aspect_ratio": "16:9", "resolution": "540p",
            "duration": "5s", "loop": False, "hdr": False, "exr_export": False, "seed": 7,
            "max_queue_wait": 300, "max_total_time": 900,
            "frames_start": 1, "frames_cap": 0, "frames_every_nth": 4, "frames_height": 0}},
        "2": {"class_type": "GetImageSize", "inputs": {"image": ["1", 1]}},
        "3": {"class_type": "PreviewAny", "inputs": {"source": ["2", 2]}},
    }
    result = comfy.run(prompt)
    assert result.ok, result.describe()
    assert preview_text(result, "3") == "30"  # frames 1..120 of 121, every 4th
    submitted = calls_at(comfy_sandbox.log(), "submit")
    assert [c["endpoint_id"] for c in submitted] == ["luma/agent/ray/v3.2/text-to-video"]
