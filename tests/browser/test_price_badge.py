"""The price badge drawn on every LumaFal node equals what ``price_of()`` says for the node's settings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from nodes.luma import constants as C
from nodes.luma.prices import price_of, price_table
from tools.harness import EXAMPLE_WORKFLOWS

UNI1_ENDPOINTS = {
    ("LumaFalUni1TextToImage", "uni-1"): C.UNI1_TEXT_TO_IMAGE,
    ("LumaFalUni1TextToImage", "uni-1 max"): C.UNI1_MAX_TEXT_TO_IMAGE,
    ("LumaFalUni1ImageEdit", "uni-1"): C.UNI1_EDIT,
    ("LumaFalUni1ImageEdit", "uni-1 max"): C.UNI1_MAX_EDIT,
}
RAY_ENDPOINTS = {
    "LumaFalRay32TextToVideo": C.RAY32_TEXT_TO_VIDEO,
    "LumaFalRay32ImageToVideo": C.RAY32_IMAGE_TO_VIDEO,
    "LumaFalRay32VideoToVideo": C.RAY32_VIDEO_TO_VIDEO,
    "LumaFalRay32Reframe": C.RAY32_REFRAME,
}
REFERENCE_INPUTS = {"references", "reference_images"}


def expected_badge(node: dict[str, Any]) -> str | None:
    """The badge text for a node as the page reports it (type, widget values, linked inputs)."""
    kind, widgets, linked = node["type"], node["widgets"], set(node["linked"])
    if kind in RAY_ENDPOINTS:
        params = {k: widgets[k] for k in ("resolution", "duration", "hdr", "exr_export") if k in widgets}
        return price_of(RAY_ENDPOINTS[kind], params).label
    if (kind, widgets.get("model")) in UNI1_ENDPOINTS:
        endpoint = UNI1_ENDPOINTS[kind, widgets["model"]]
        references = len(linked & REFERENCE_INPUTS)
        sources = 1 if kind == "LumaFalUni1ImageEdit" and "image" in linked else 0
        price = price_of(endpoint, {"input_images": references + sources})
        # A linked reference input may carry a batch of several images: the badge gives a lower bound.
        per_input = price_table()["endpoints"][endpoint]["per_input_image"] or 0
        lower_bound = price.usd is not None and references > 0 and per_input > 0
        return ("from " if lower_bound else "") + price.label
    return None  # no fal request, no badge


def example_paths() -> list[Path]:
    return sorted(EXAMPLE_WORKFLOWS.glob("*.json"))


@pytest.mark.parametrize("path", example_paths(), ids=lambda p: p.stem)
def test_example_workflow_badges_match_price_of(canvas_page: Any, path: Path) -> None:
    canvas_page.load_workflow(json.loads(path.read_text()))
    nodes = canvas_page.nodes()
    pack_nodes = [n for n in nodes if n["type"].startswith("LumaFal")]
    assert pack_nodes, f"{path.name} has no LumaFal node"
    for node in pack_nodes:
        expected = expected_badge(node)
        drawn = canvas_page.drawn_price(node["id"], expected)
        assert drawn == expected, f"{path.name} node {node['id']} ({node['type']}): badge {drawn!r}, price_of {expected!r}"
    # Other nodes are left alone: the extension never attaches its state to them.
    foreign = canvas_page.page.evaluate(
        "() => window.app.graph._nodes.filter(n => !n.type.startsWith('LumaFal') && n.lumaFal).map(n => n.type)"
    )
    assert foreign == []
    canvas_page.screenshot(f"badges-{path.stem}")


def _node_of(canvas_page: Any, node_type: str) -> dict[str, Any]:
    return next(n for n in canvas_page.nodes() if n["type"] == node_type)


def _check(canvas_page: Any, node_type: str, wanted: str) -> None:
    node = _node_of(canvas_page, node_type)
    expected = expected_badge(node)
    assert expected == wanted, "the test's own expectation drifted from the price table"
    assert canvas_page.drawn_price(node["id"], expected) == expected


@pytest.mark.parametrize(
    ("workflow", "node_type", "changes", "wanted"),
    [
        ("luma_ray32_image_to_video", "LumaFalRay32ImageToVideo",
         {"resolution": "1080p", "duration": "10s"}, "$4.00"),
        ("luma_ray32_image_to_video", "LumaFalRay32ImageToVideo",
         {"resolution": "720p", "hdr": True}, "price not published"),
        ("luma_ray32_video_to_video", "LumaFalRay32VideoToVideo",
         {"resolution": "1080p", "duration": "10s", "hdr": True, "exr_export": True}, "$12.96"),
        ("luma_ray32_text_to_video", "LumaFalRay32TextToVideo",
         {"resolution": "720p"}, "price not published (image-to-video: $1.00)"),
        ("luma_uni1_text_to_image", "LumaFalUni1TextToImage", {"model": "uni-1 max"}, "price not published"),
    ],
    ids=["i2v-1080p-10s", "i2v-hdr", "v2v-hdr-exr", "t2v-hint", "uni1-max"],
)
def test_badge_follows_widget_changes(canvas_page: Any, workflow: str, node_type: str, changes: dict[str, Any],
                                      wanted: str) -> None:
    canvas_page.load_workflow(canvas_page.host.example_workflow(workflow))
    node_id = _node_of(canvas_page, node_type)["id"]
    # The badge must change for the wait below to prove the change was drawn (not the old badge).
    before = canvas_page.drawn_price(node_id, expected_badge(_node_of(canvas_page, node_type)))
    assert before is not None and before != wanted, f"the badge already says {wanted!r} before the change"
    for name, value in changes.items():
        canvas_page.set_widget(node_id, name, value)
    _check(canvas_page, node_type, wanted)
    canvas_page.screenshot(f"badge-change-{workflow}-{'-'.join(changes)}")


def test_badge_counts_connected_references(canvas_page: Any) -> None:
    canvas_page.load_workflow(canvas_page.host.example_workflow("luma_uni1_image_edit"))
    _check(canvas_page, "LumaFalUni1ImageEdit", "$0.045 (1 image + 1 input image)")
    # Connect the loaded image to the references input as well: one more billed input image, at least.
    canvas_page.page.evaluate(
        """() => {
            const g = window.app.graph;
            const load = g._nodes.find(n => n.type === 'LoadImage');
            const edit = g._nodes.find(n => n.type === 'LumaFalUni1ImageEdit');
            load.connect(0, edit, edit.inputs.findIndex(i => i.name === 'references'));
        }"""
    )
    _check(canvas_page, "LumaFalUni1ImageEdit", "from $0.048 (1 image + 2 input images)")
    canvas_page.screenshot("badge-edit-with-reference")
