"""What newer hosts give API nodes, feature-detected: a price badge the frontend draws, advanced inputs.

ComfyUI 0.33.0 gets both; 0.3.75 gets neither and keeps working exactly as before (its nodes still run:
tests/e2e/test_all_nodes.py). Node ids, input names and input order are the same on every host.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from nodes.luma import constants as C
from tests.comfy.badge_expect import PAID_NODES, badge_result, expected_badge
from tests.e2e.pack_helpers import calls_at, preview_text
from tools.harness import ComfyHost

# What each host is expected to offer; written out, not detected, so a host that silently lost the
# feature fails here instead of passing vacuously.
DRAWS_PRICE_BADGES = {"0.3.75": False, "0.33.0": True}
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


def _spec(info: dict[str, Any], name: str) -> list[Any]:
    for section in ("required", "optional"):
        if name in info["input"].get(section, {}):
            return info["input"][section][name]
    raise AssertionError(f"{info['name']} has no input {name!r}")


def _options(spec: list[Any]) -> list[Any]:
    return list(spec[0]) if isinstance(spec[0], list) else list(spec[1]["options"])


def test_input_names_and_order_never_change(comfy: ComfyHost) -> None:
    nodes = _pack_nodes(comfy)
    assert sorted(nodes) == sorted(INPUT_ORDER)
    for nid, info in nodes.items():
        order = {k: v for k, v in info["input_order"].items() if k != "hidden"}
        assert order == INPUT_ORDER[nid], nid


def _served_prices(comfy: ComfyHost) -> dict[str, Any]:
    """The server's effective price table (the route refreshes stale documents first, so a schema built
    after this call is generated from this same table)."""
    return comfy.client.get_json("/luma_fal/prices")


def test_paid_nodes_declare_a_price_badge_where_the_host_draws_them(comfy: ComfyHost, comfy_version: str) -> None:
    table = _served_prices(comfy)
    nodes = _pack_nodes(comfy)
    assert not nodes["LumaFalVideoToFrames"].get("price_badge") and not nodes["LumaFalVideoToFrames"].get("api_node")
    for nid in PAID_NODES:
        info = nodes[nid]
        if not DRAWS_PRICE_BADGES[comfy_version]:
            # Nothing new on this host: the pack's own JavaScript badge is drawn (tests/browser).
            assert not info.get("price_badge") and not info.get("api_node"), nid
            continue
        badge = info["price_badge"]
        assert info["api_node"] is True and badge["engine"] == "jsonata", nid
        depends = badge["depends_on"]
        for widget in depends["widgets"]:
            assert _spec(info, widget["name"])[0] == widget["type"], (nid, widget)
        for name in depends["inputs"]:
            assert _spec(info, name)[0] == "IMAGE", (nid, name)
        _every_state_reads_like_price_of(nid, info, badge, table)


def _every_state_reads_like_price_of(nid: str, info: dict[str, Any], badge: dict[str, Any],
                                    table: dict[str, Any]) -> None:
    """Every combination of the node's real combo/boolean widgets and image connections, as served."""
    names = [n for section in ("required", "optional") for n in info["input_order"].get(section, [])]
    specs = {n: _spec(info, n) for n in names}
    choices = {n: _options(s) for n, s in specs.items() if s[0] == "COMBO" or isinstance(s[0], list)}
    choices |= {n: [False, True] for n, s in specs.items() if s[0] == "BOOLEAN"}
    choices = {n: v for n, v in choices.items() if n in {"model", "resolution", "duration", "hdr", "exr_export"}}
    images = [n for n, s in specs.items() if s[0] == "IMAGE"]
    count = 0
    for values in itertools.product(*choices.values()):
        widgets = dict(zip(choices, values))
        for links in itertools.product([False, True], repeat=len(images)):
            linked = [n for n, on in zip(images, links) if on]
            expected = expected_badge({"type": nid, "widgets": widgets, "linked": linked}, table)
            assert badge_result(badge, widgets, linked) == {"type": "text", "text": expected}, (nid, widgets, linked)
            count += 1
    assert count >= 4, nid


@pytest.mark.hosts("0.33.0")
def test_a_price_refresh_reaches_the_declared_badge_at_the_next_object_info(comfy: ComfyHost, comfy_sandbox: Any) -> None:
    """0.33.0 builds the schema anew for every /object_info: a page loaded after fal's price changed and
    the pack fetched it declares the new price (an open page keeps the expression it compiled)."""
    def t2v_badge() -> str:
        badge = _pack_nodes(comfy)["LumaFalRay32TextToVideo"]["price_badge"]
        return badge_result(badge, {"resolution": "720p", "duration": "5s", "hdr": False}, [])["text"]

    def refresh() -> None:
        comfy.client.post_json("/luma_fal/fal_docs/refresh", {}).raise_for_status()

    try:
        comfy_sandbox.platform(prices={C.RAY32_TEXT_TO_VIDEO: {"unit_price": 0.16, "unit": "video_second"}})
        refresh()
        assert t2v_badge() == "$1.60 · live"  # 720p x 5 s x $0.16
    finally:
        comfy_sandbox.reset()
        refresh()
    assert t2v_badge() == "$1.00 · live"


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
