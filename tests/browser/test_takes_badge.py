"""The price badge counts a node's whole fan-out (takes × prompt_variants lines), on every host: the pack's
JavaScript badge (0.3.75) and the frontend's own badge from the generated JSONata (0.33.0)."""

from __future__ import annotations

from typing import Any

from nodes.luma.prices import money
from tests.browser.test_price_badge import _SHOWN_BADGES, assert_one_badge
from tests.comfy.badge_expect import expected_price


def test_badge_multiplies_by_takes_and_prompt_variants(comfy_page: Any) -> None:
    comfy_page.load_workflow(comfy_page.host.example_workflow("luma_ray32_text_to_video"))
    node = next(n for n in comfy_page.nodes() if n["type"] == "LumaFalRay32TextToVideo")
    one, _ = expected_price(node)
    # The source (live, cached or bundled) is whatever this server's pack has now; the amount is price_of's.
    one_text = _one_badge_text(comfy_page, node["id"])
    label, source = one_text.split(" · ", 1)
    assert label == one.label, one_text

    comfy_page.set_widget(node["id"], "takes", 4)
    assert_one_badge(comfy_page, node["id"], f"{money(one.usd * 4)} (4 × {label}) · {source}", "4 takes")
    comfy_page.set_widget(node["id"], "prompt_variants", "a boat\n\na kite\n")
    assert_one_badge(comfy_page, node["id"], f"{money(one.usd * 8)} (8 × {label}) · {source}", "4 takes × 2 prompts")
    comfy_page.set_widget(node["id"], "takes", 1)
    comfy_page.set_widget(node["id"], "prompt_variants", "")
    assert_one_badge(comfy_page, node["id"], one_text, "back to one take")


def _one_badge_text(comfy_page: Any, node_id: int) -> str:
    for _ in range(50):
        comfy_page.redraw()
        shown = comfy_page.page.evaluate(_SHOWN_BADGES, node_id)
        if len(shown) == 1:
            return shown[0]["text"]
        comfy_page.page.wait_for_timeout(100)
    raise AssertionError(f"node {node_id} shows {shown}, not one badge")
