"""ComfyUI 0.33.0's frontends in their "Nodes 2.0" design: the pack's price badge in the node header, once (there
no canvas foreground is drawn: web/price.js priceBadge), and the limits and frame options folded behind "Show
advanced inputs" (classic canvas mode shows every widget)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.test_price_badge import served_table
from tests.comfy.badge_expect import expected_badge
from tools.layout import TEST_OUTPUT

ADVANCED = ("max_queue_wait", "max_total_time", "frames_start", "frames_cap", "frames_every_nth", "frames_height")
VUE_NODES = "Comfy.VueNodes.Enabled"


@pytest.fixture
def nodes_2_page(comfy_page: Any) -> Iterator[Any]:
    """The page in Nodes 2.0 mode; the setting (stored on the shared server) is turned back off after."""
    set_setting = "([id, on]) => window.app.extensionManager.setting.set(id, on)"
    comfy_page.page.evaluate(set_setting, [VUE_NODES, True])
    try:
        yield comfy_page
    finally:
        comfy_page.page.evaluate(set_setting, [VUE_NODES, False])


def _node_text(page: Any, node_id: int) -> str:
    return " ".join(page.locator(f'[data-node-id="{node_id}"]').first.inner_text().split())


@pytest.mark.hosts("0.33.0")
def test_text_to_video_in_nodes_2_shows_one_badge_and_folds_advanced_inputs(nodes_2_page: Any) -> None:
    page = nodes_2_page.page
    nodes_2_page.load_workflow(nodes_2_page.host.example_workflow("luma_ray32_text_to_video"))
    node = next(n for n in nodes_2_page.nodes() if n["type"] == "LumaFalRay32TextToVideo")
    expected = expected_badge(node, served_table(nodes_2_page.host))
    card = page.locator(f'[data-node-id="{node["id"]}"]').first
    card.wait_for(state="visible", timeout=30_000)
    page.wait_for_function(
        "([id, text]) => document.querySelector(`[data-node-id='${id}']`)?.innerText.replace(/\\s+/g, ' ')"
        ".includes(text)", arg=[node["id"], expected], timeout=10_000,
    )
    text = _node_text(page, node["id"])
    assert text.count(expected) == 1, text
    assert all(name not in text for name in ADVANCED), text
    assert "resolution" in text and "Show advanced inputs" in text
    shots = TEST_OUTPUT / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    card.screenshot(path=str(shots / f"t2v-nodes2-{nodes_2_page.version}-{nodes_2_page.frontend}.png"))

    page.get_by_text("Show advanced inputs").first.click()
    page.wait_for_function(
        "(id) => document.querySelector(`[data-node-id='${id}']`)?.innerText.includes('max_queue_wait')",
        arg=node["id"], timeout=10_000,
    )
    assert all(name in _node_text(page, node["id"]) for name in ADVANCED)
