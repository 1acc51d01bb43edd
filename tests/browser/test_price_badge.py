"""The price badge drawn on every LumaFal node equals what ``price_of()`` says for the node's settings
with the price table the server serves (live, cached or bundled), names that source, and turns red with
the limit it would break when a spend limit would refuse the run."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nodes.luma import constants as C
from nodes.luma.prices import money, price_of
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
NO_LIMITS = {"max_run_usd": None, "daily_budget_usd": None, "balance_floor_usd": None, "unknown_price": "warn"}


def served_table(host: Any) -> dict[str, Any]:
    return host.client.get_json("/luma_fal/prices")


def expected_badge(node: dict[str, Any], table: dict[str, Any], input_images: int | None = None) -> str | None:
    """The badge text for a node as the page reports it (type, widget values, linked inputs), priced
    with the server's table. ``input_images`` overrides the count for batches the test built."""
    kind, widgets, linked = node["type"], node["widgets"], set(node["linked"])
    if kind in RAY_ENDPOINTS:
        params = {k: widgets[k] for k in ("resolution", "duration", "hdr", "exr_export") if k in widgets}
        price = price_of(RAY_ENDPOINTS[kind], params, table)
    elif (kind, widgets.get("model")) in UNI1_ENDPOINTS:
        endpoint = UNI1_ENDPOINTS[kind, widgets["model"]]
        if input_images is None:  # the examples feed LoadImage nodes: one image each
            input_images = len(linked & {"references", "reference_images"}) + (
                1 if kind == "LumaFalUni1ImageEdit" and "image" in linked else 0)
        price = price_of(endpoint, {"input_images": input_images}, table)
    else:
        return None  # no fal request, no badge
    parts = [price.label, price.source]
    limits = table.get("limits") or {}
    if price.usd is not None and limits.get("max_run_usd") is not None and price.usd > limits["max_run_usd"]:
        parts.append(f"over cap {money(limits['max_run_usd'])}")
    return " · ".join(parts)


def example_paths() -> list[Path]:
    return sorted(EXAMPLE_WORKFLOWS.glob("*.json"))


@pytest.mark.parametrize("path", example_paths(), ids=lambda p: p.stem)
def test_example_workflow_badges_match_price_of(comfy_page: Any, path: Path) -> None:
    comfy_page.load_workflow(json.loads(path.read_text()))
    nodes = comfy_page.nodes()
    pack_nodes = [n for n in nodes if n["type"].startswith("LumaFal")]
    assert pack_nodes, f"{path.name} has no LumaFal node"
    table = served_table(comfy_page.host)
    for node in pack_nodes:
        expected = expected_badge(node, table)
        drawn = comfy_page.drawn_price(node["id"], expected)
        assert drawn == expected, f"{path.name} node {node['id']} ({node['type']}): badge {drawn!r}, price_of {expected!r}"
    # Other nodes are left alone: the extension never attaches its state to them.
    foreign = comfy_page.page.evaluate(
        "() => window.app.graph._nodes.filter(n => !n.type.startsWith('LumaFal') && n.lumaFal).map(n => n.type)"
    )
    assert foreign == []
    comfy_page.screenshot(f"badges-{path.stem}")


def _node_of(comfy_page: Any, node_type: str) -> dict[str, Any]:
    return next(n for n in comfy_page.nodes() if n["type"] == node_type)


def _check(comfy_page: Any, node_type: str, wanted: str, input_images: int | None = None) -> None:
    node = _node_of(comfy_page, node_type)
    expected = expected_badge(node, served_table(comfy_page.host), input_images)
    assert expected == wanted, "the test's own expectation drifted from the price table"
    assert comfy_page.drawn_price(node["id"], expected) == expected


def _source(comfy_page: Any, endpoint: str) -> str:
    return served_table(comfy_page.host)["endpoints"][endpoint]["source"]["label"]


@pytest.mark.parametrize(
    ("workflow", "node_type", "changes", "endpoint", "wanted"),
    [
        ("luma_ray32_image_to_video", "LumaFalRay32ImageToVideo",
         {"resolution": "1080p", "duration": "10s"}, C.RAY32_IMAGE_TO_VIDEO, "$2.40"),
        ("luma_ray32_image_to_video", "LumaFalRay32ImageToVideo",
         {"resolution": "720p", "hdr": True}, C.RAY32_IMAGE_TO_VIDEO, "$0.60"),
        ("luma_ray32_video_to_video", "LumaFalRay32VideoToVideo",
         {"resolution": "1080p", "duration": "10s", "hdr": True, "exr_export": True}, C.RAY32_VIDEO_TO_VIDEO, "$12.96"),
        ("luma_ray32_text_to_video", "LumaFalRay32TextToVideo",
         {"resolution": "720p"}, C.RAY32_TEXT_TO_VIDEO, "$1.00"),
        ("luma_ray32_text_to_video", "LumaFalRay32TextToVideo",
         {"resolution": "720p", "hdr": True}, C.RAY32_TEXT_TO_VIDEO, "price not published"),
        ("luma_ray32_reframe", "LumaFalRay32Reframe",
         {"resolution": "1080p"}, C.RAY32_REFRAME, "$0.36 per started source second"),
        ("luma_uni1_text_to_image", "LumaFalUni1TextToImage", {"model": "uni-1 max"}, C.UNI1_MAX_TEXT_TO_IMAGE,
         "$0.102 (1 image)"),
    ],
    ids=["i2v-1080p-10s", "i2v-hdr", "v2v-hdr-exr", "t2v-720p", "t2v-hdr-unpublished", "reframe-rate", "uni1-max"],
)
def test_badge_follows_widget_changes(comfy_page: Any, workflow: str, node_type: str, changes: dict[str, Any],
                                      endpoint: str, wanted: str) -> None:
    comfy_page.load_workflow(comfy_page.host.example_workflow(workflow))
    node_id = _node_of(comfy_page, node_type)["id"]
    for name, value in changes.items():
        comfy_page.set_widget(node_id, name, value)
    _check(comfy_page, node_type, f"{wanted} · {_source(comfy_page, endpoint)}")
    comfy_page.screenshot(f"badge-change-{workflow}-{'-'.join(changes)}")


def test_badge_counts_connected_references(comfy_page: Any) -> None:
    comfy_page.load_workflow(comfy_page.host.example_workflow("luma_uni1_image_edit"))
    source = _source(comfy_page, C.UNI1_EDIT)
    _check(comfy_page, "LumaFalUni1ImageEdit", f"$0.045 (1 image + 1 input image) · {source}")
    # The loaded image into references as well: one more billed input image, counted exactly.
    comfy_page.page.evaluate(
        """() => {
            const g = window.app.graph;
            const load = g._nodes.find(n => n.type === 'LoadImage');
            const edit = g._nodes.find(n => n.type === 'LumaFalUni1ImageEdit');
            load.connect(0, edit, edit.inputs.findIndex(i => i.name === 'references'));
        }"""
    )
    _check(comfy_page, "LumaFalUni1ImageEdit", f"$0.048 (1 image + 2 input images) · {source}")
    # A RepeatImageBatch of 3 in between: the browser follows the link and counts three references.
    comfy_page.page.evaluate(
        """() => {
            const g = window.app.graph;
            const load = g._nodes.find(n => n.type === 'LoadImage');
            const edit = g._nodes.find(n => n.type === 'LumaFalUni1ImageEdit');
            const repeat = window.LiteGraph.createNode('RepeatImageBatch');
            g.add(repeat);
            repeat.widgets.find(w => w.name === 'amount').value = 3;
            load.connect(0, repeat, 0);
            repeat.connect(0, edit, edit.inputs.findIndex(i => i.name === 'references'));
        }"""
    )
    _check(comfy_page, "LumaFalUni1ImageEdit", f"$0.054 (1 image + 4 input images) · {source}", input_images=4)
    comfy_page.screenshot("badge-edit-with-references")


@pytest.fixture
def capped_host(host: Any) -> Iterator[Any]:
    """The host with a $0.20 per-run cap (set before the page loads its price table)."""
    reply = host.client.post_json("/luma_fal/money", {"max_run_usd": 0.2})
    assert reply.status_code == 200, reply.text
    yield host
    host.client.post_json("/luma_fal/money", NO_LIMITS)


def test_badge_turns_red_when_the_cap_would_refuse(capped_host: Any, comfy_page: Any) -> None:
    comfy_page.load_workflow(capped_host.example_workflow("luma_ray32_image_to_video"))
    source = _source(comfy_page, C.RAY32_IMAGE_TO_VIDEO)
    node_id = _node_of(comfy_page, "LumaFalRay32ImageToVideo")["id"]
    _check(comfy_page, "LumaFalRay32ImageToVideo", f"$0.15 · {source}")
    assert comfy_page.page.evaluate("(id) => window.app.graph.getNodeById(id).lumaFal.drawnPriceColour", node_id) is None
    comfy_page.set_widget(node_id, "resolution", "720p")
    _check(comfy_page, "LumaFalRay32ImageToVideo", f"$0.30 · {source} · over cap $0.20")
    colour = comfy_page.page.evaluate("(id) => window.app.graph.getNodeById(id).lumaFal.drawnPriceColour", node_id)
    assert colour == "rgba(190, 30, 30, 0.97)"
    comfy_page.screenshot("badge-over-cap")


@pytest.fixture
def drifted_prices(host: Any, comfy_sandbox: Any) -> Iterator[Any]:
    """fal quotes text-to-video at $0.16 per video second; the host fetched it before the page loads."""
    comfy_sandbox.platform(prices={C.RAY32_TEXT_TO_VIDEO: {"unit_price": 0.16, "unit": "video_second"}})
    host.client.post_json("/luma_fal/fal_docs/refresh", {}).raise_for_status()
    yield host
    comfy_sandbox.reset()
    host.client.post_json("/luma_fal/fal_docs/refresh", {}).raise_for_status()


def test_badge_shows_fals_live_price(drifted_prices: Any, comfy_page: Any) -> None:
    comfy_page.load_workflow(drifted_prices.example_workflow("luma_ray32_text_to_video"))
    node_id = _node_of(comfy_page, "LumaFalRay32TextToVideo")["id"]
    comfy_page.set_widget(node_id, "resolution", "720p")
    _check(comfy_page, "LumaFalRay32TextToVideo", "$1.60 · live")
    comfy_page.screenshot("badge-live-price")


@pytest.fixture
def budget_nearly_spent(host: Any) -> Iterator[Any]:
    """The host with $0.10 of today's budget left (set before the page loads its price table)."""
    spent = host.client.get_json("/luma_fal/money")["spent_today"]
    reply = host.client.post_json("/luma_fal/money", {"daily_budget_usd": spent + 0.10})
    assert reply.status_code == 200, reply.text
    yield host
    host.client.post_json("/luma_fal/money", NO_LIMITS)


def test_badge_says_when_the_daily_budget_would_refuse(budget_nearly_spent: Any, comfy_page: Any) -> None:
    comfy_page.load_workflow(budget_nearly_spent.example_workflow("luma_uni1_text_to_image"))
    source = _source(comfy_page, C.UNI1_TEXT_TO_IMAGE)
    node = _node_of(comfy_page, "LumaFalUni1TextToImage")
    assert comfy_page.drawn_price(node["id"], f"$0.042 (1 image) · {source}") == f"$0.042 (1 image) · {source}"
    comfy_page.load_workflow(budget_nearly_spent.example_workflow("luma_ray32_image_to_video"))
    i2v = _node_of(comfy_page, "LumaFalRay32ImageToVideo")
    wanted = f"$0.15 · {_source(comfy_page, C.RAY32_IMAGE_TO_VIDEO)} · over budget ($0.10 left today)"
    assert comfy_page.drawn_price(i2v["id"], wanted) == wanted
    colour = comfy_page.page.evaluate("(id) => window.app.graph.getNodeById(id).lumaFal.drawnPriceColour", i2v["id"])
    assert colour == "rgba(190, 30, 30, 0.97)"
    comfy_page.screenshot("badge-over-budget")
