"""The price badge declared for newer frontends says what the pack's price estimate says (price and its
source), for every combination of the widgets and connections it can depend on, with the effective price
table (bundled, or with fal's live/cached unit prices applied) (nodes/comfy/rules/price_badge.py)."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from typing import Any

import pytest

from nodes.comfy.rules.price_badge import UNKNOWN_SETTINGS, VERSION_TAG, BadgeInput, price_badge, table_version
from nodes.luma import constants as C
from nodes.luma import prices
from tests.comfy.badge_expect import badge_result, expected_badge

BOOL = (False, True)
_RAY = [BadgeInput("resolution", "combo", C.RAY_RESOLUTIONS), BadgeInput("duration", "combo", C.RAY_DURATIONS),
        BadgeInput("hdr", "boolean", BOOL), BadgeInput("exr_export", "boolean", BOOL)]
_UNI = [BadgeInput("model", "combo", C.UNI1_MODELS), BadgeInput("style", "combo", C.UNI1_STYLES),
        BadgeInput("output_format", "combo", C.UNI1_OUTPUT_FORMATS)]
_KEYFRAMES = [BadgeInput("keyframes", "image"), BadgeInput("keyframe_positions", "other")]
# The nodes' inputs as the glue describes them (tests/e2e/test_host_features.py checks the real schemas).
NODES: dict[str, tuple[str, list[BadgeInput]]] = {
    "LumaFalRay32TextToVideo": (C.RAY32_TEXT_TO_VIDEO, [
        BadgeInput("prompt", "other"), BadgeInput("aspect_ratio", "combo", C.RAY_ASPECT_RATIOS), *_RAY[:2],
        BadgeInput("loop", "boolean", BOOL), *_RAY[2:], BadgeInput("reference_images", "image")]),
    "LumaFalRay32ImageToVideo": (C.RAY32_IMAGE_TO_VIDEO, [
        BadgeInput("start_image", "image"), BadgeInput("end_image", "image"), *_KEYFRAMES, *_RAY]),
    "LumaFalRay32VideoToVideo": (C.RAY32_VIDEO_TO_VIDEO, [
        BadgeInput("video", "other"), BadgeInput("source_frames", "image"),
        BadgeInput("edit_strength", "combo", ("auto", *C.RAY_EDIT_STRENGTHS)),
        BadgeInput("start_image", "image"), *_KEYFRAMES, *_RAY]),
    "LumaFalRay32Reframe": (C.RAY32_REFRAME, [
        BadgeInput("source_frames", "image"), BadgeInput("aspect_ratio", "combo", C.RAY_ASPECT_RATIOS),
        BadgeInput("resolution", "combo", C.RAY_RESOLUTIONS), BadgeInput("place_source", "boolean", BOOL)]),
    "LumaFalUni1TextToImage": (C.UNI1_TEXT_TO_IMAGE, [
        *_UNI, BadgeInput("web_search", "boolean", BOOL), BadgeInput("references", "image")]),
    "LumaFalUni1ImageEdit": (C.UNI1_EDIT, [BadgeInput("image", "image"), *_UNI, BadgeInput("references", "image")]),
}
TYPES = {"combo": "COMBO", "boolean": "BOOLEAN"}


def declared(node_type: str, inputs: list[BadgeInput] | None = None) -> tuple[dict[str, Any], list[BadgeInput]]:
    """The badge as /object_info carries it (io.PriceBadge.as_dict), and the node's inputs."""
    endpoint, node_inputs = NODES[node_type]
    inputs = node_inputs if inputs is None else inputs
    badge = price_badge(endpoint, inputs)
    kinds = {i.name: i.kind for i in inputs}
    return {
        "engine": "jsonata", "expr": badge.expr,
        "depends_on": {"widgets": [{"name": w, "type": TYPES[kinds[w]]} for w in badge.widgets],
                       "inputs": badge.inputs, "input_groups": []},
    }, inputs


def states(inputs: list[BadgeInput]) -> list[tuple[dict[str, Any], list[str]]]:
    """Every combination of the combo/boolean widgets and image connections of a node."""
    widgets = [i for i in inputs if i.kind in TYPES]
    images = [i.name for i in inputs if i.kind == "image"]
    found = []
    for values in itertools.product(*(w.options for w in widgets)):
        for links in itertools.product(BOOL, repeat=len(images)):
            found.append(({w.name: v for w, v in zip(widgets, values)},
                          [name for name, on in zip(images, links) if on]))
    return found


@pytest.mark.parametrize("node_type", list(NODES))
def test_badge_matches_price_estimate_for_every_combination(node_type: str) -> None:
    badge, inputs = declared(node_type)
    checked = 0
    for widgets, linked in states(inputs):
        expected = expected_badge({"type": node_type, "widgets": widgets, "linked": linked})
        assert badge_result(badge, widgets, linked) == {"type": "text", "text": expected}, (widgets, linked)
        checked += 1
    assert checked >= 8


def test_badge_reads_the_widgets_and_inputs_that_change_the_price() -> None:
    # With the bundled table: text-to-video's hint follows resolution, duration and hdr; exr changes nothing.
    badge, _ = declared("LumaFalRay32TextToVideo")
    assert [w["name"] for w in badge["depends_on"]["widgets"]] == ["resolution", "duration", "hdr"]
    badge, _ = declared("LumaFalUni1ImageEdit")
    assert [w["name"] for w in badge["depends_on"]["widgets"]] == ["model"]
    assert badge["depends_on"]["inputs"] == ["image", "references"]
    assert badge_result(badge, {"model": "uni-1"}, ["image", "references"])["text"].startswith("from $")


def test_frontend_normalized_values_match() -> None:
    # The frontend lower-cases and trims combo values before evaluating; the map's keys are written so.
    badge, _ = declared("LumaFalRay32VideoToVideo")
    assert badge_result(badge, {"resolution": " 1080P ", "duration": "10S", "hdr": True, "exr_export": True},
                        [])["text"] == expected_badge({"type": "LumaFalRay32VideoToVideo", "linked": [], "widgets": {
                            "resolution": "1080p", "duration": "10s", "hdr": True, "exr_export": True}})


@pytest.mark.parametrize("widgets", [
    {"resolution": "4k", "duration": "5s", "hdr": False, "exr_export": False},
    {"resolution": "720p", "duration": None, "hdr": False, "exr_export": False},
    {"resolution": "720p", "duration": "5s", "hdr": None, "exr_export": False},
], ids=["unknown-option", "missing-duration", "missing-hdr"])
def test_unknown_settings_say_so_instead_of_guessing(widgets: dict[str, Any]) -> None:
    badge, _ = declared("LumaFalRay32VideoToVideo")
    assert badge_result(badge, widgets, []) == {"type": "text", "text": UNKNOWN_SETTINGS}


def test_constant_badge_is_a_plain_result() -> None:
    # A reframe node described without its resolution widget: nothing to depend on, nothing to look up.
    inputs = [i for i in NODES["LumaFalRay32Reframe"][1] if i.name != "resolution"]
    badge, _ = declared("LumaFalRay32Reframe", inputs)
    expected = expected_badge({"type": "LumaFalRay32Reframe", "widgets": {}, "linked": []})
    assert expected == "$0.06 per started source second · bundled 2026-10"
    assert badge["depends_on"]["widgets"] == [] and badge["depends_on"]["inputs"] == []
    assert badge_result(badge, {}, []) == {"type": "text", "text": expected}


def test_badge_names_the_bundled_source() -> None:
    badge, _ = declared("LumaFalRay32ImageToVideo")
    widgets = {"resolution": "1080p", "duration": "10s", "hdr": False, "exr_export": False}
    assert badge_result(badge, widgets, [])["text"] == "$2.40 · bundled 2026-10"


@pytest.fixture
def live_prices() -> Iterator[None]:
    """fal's price list as fal_docs registers it after a fetch: text-to-video at $0.16 per video second,
    uni-1 edit at $0.05 per image."""
    prices.set_price_document({"prices": [
        {"endpoint_id": C.RAY32_TEXT_TO_VIDEO, "unit_price": 0.16, "unit": "video_second", "currency": "USD"},
        {"endpoint_id": C.UNI1_EDIT, "unit_price": 0.05, "unit": "image", "currency": "USD"},
    ]}, "live", time.time())
    yield
    prices.clear_price_document()


@pytest.mark.parametrize("node_type", ["LumaFalRay32TextToVideo", "LumaFalUni1ImageEdit"])
def test_badge_follows_the_live_price_table(live_prices: None, node_type: str) -> None:
    # The effective table now carries fal's prices: a badge generated now says them, and "live".
    badge, inputs = declared(node_type)
    for widgets, linked in states(inputs):
        expected = expected_badge({"type": node_type, "widgets": widgets, "linked": linked})
        assert badge_result(badge, widgets, linked) == {"type": "text", "text": expected}, (widgets, linked)
    t2v, _ = declared("LumaFalRay32TextToVideo")
    assert badge_result(t2v, {"resolution": "720p", "duration": "5s", "hdr": False}, [])["text"] == "$1.60 · live"
    edit, _ = declared("LumaFalUni1ImageEdit")
    assert badge_result(edit, {"model": "uni-1"}, ["image"])["text"] == "$0.053 (1 image + 1 input image) · live"
    # Endpoints fal did not quote keep the bundled price and say so.
    i2v, _ = declared("LumaFalRay32ImageToVideo")
    assert badge_result(i2v, {"resolution": "540p", "duration": "5s", "hdr": False, "exr_export": False},
                        [])["text"] == "$0.15 · bundled 2026-10"


def test_badge_generated_after_the_live_table_is_gone_is_bundled_again(live_prices: None) -> None:
    # Generation is cached per table: a changed table never gets the previous table's badge.
    assert badge_result(declared("LumaFalRay32TextToVideo")[0], {"resolution": "540p", "duration": "5s",
                                                                  "hdr": False}, [])["text"] == "$0.80 · live"
    prices.clear_price_document()
    assert badge_result(declared("LumaFalRay32TextToVideo")[0], {"resolution": "540p", "duration": "5s",
                                                                  "hdr": False}, [])["text"] == "$0.50 · bundled 2026-10"


def test_expression_names_the_table_it_was_generated_from(live_prices: None) -> None:
    # web/price.js compares this with /luma_fal/prices' badge_version to tell an open page its declared
    # badges show older prices than the server's.
    live = table_version(prices.effective_price_table())
    assert declared("LumaFalRay32TextToVideo")[0]["expr"].startswith(f"/* {VERSION_TAG}{live} */\n")
    prices.clear_price_document()
    bundled = table_version(prices.effective_price_table())
    assert bundled != live
    assert declared("LumaFalRay32TextToVideo")[0]["expr"].startswith(f"/* {VERSION_TAG}{bundled} */\n")
    # Fetch times do not matter, only what a badge can say: the same prices fetched later, same version.
    doc = {"prices": [{"endpoint_id": C.RAY32_TEXT_TO_VIDEO, "unit_price": 0.16, "unit": "video_second"}]}
    prices.set_price_document(doc, "live", time.time() - 60)
    earlier = table_version(prices.effective_price_table())
    prices.set_price_document(doc, "live", time.time())
    assert table_version(prices.effective_price_table()) == earlier


def test_a_bad_setting_never_breaks_the_declared_badge(monkeypatch: pytest.MonkeyPatch) -> None:
    # 0.33.0 builds node schemas (and so the badge) at every /object_info: a malformed base URL is reported
    # when a node runs, and the badge meanwhile says the bundled prices.
    from nodes.comfy.money import fal_docs
    from tools.layout import COMFY_HOME

    monkeypatch.syspath_prepend(str(COMFY_HOME))  # ComfyUI's folder_paths, where the key file lives
    monkeypatch.setenv("LUMA_FAL_BASE_URL", "ftp://not-a-fal-host")
    monkeypatch.setattr(fal_docs, "_state", None)
    table = fal_docs.price_table()
    assert {e["source"]["label"] for e in table["endpoints"].values()} == {"bundled 2026-10"}
