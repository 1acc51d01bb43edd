"""The price badge counts a node's whole fan-out (takes × prompt_variants lines), on every host and frontend."""

from __future__ import annotations

from typing import Any

from nodes.luma.prices import money
from tests.browser.test_price_badge import shown
from tests.comfy.badge_expect import expected_price


def _one_badge(comfy_page: Any, node_id: int, text: str | None = None) -> str:
    """The text of the node's one price badge (the pack's); waits for ``text`` when given (the badge must have
    changed to it, not still show the old one)."""
    by = "pack"
    wanted = None if text is None else {"by": by, "text": text}
    seen = shown(comfy_page, node_id)
    for _ in range(100):
        badges = seen["badges"]
        if len(badges) == 1 and badges[0]["by"] == by and (wanted is None or badges[0] == wanted):
            return badges[0]["text"]
        comfy_page.page.wait_for_timeout(100)
        seen = shown(comfy_page, node_id)
    raise AssertionError(f"node {node_id} shows {seen['badges']}, wanted one {by} badge {text!r}")


def test_badge_multiplies_by_takes_and_prompt_variants(canvas_page: Any) -> None:
    comfy_page = canvas_page  # builds a graph and reads the canvas: the shared page does
    comfy_page.load_workflow(comfy_page.host.example_workflow("luma_ray32_text_to_video"))
    node = next(n for n in comfy_page.nodes() if n["type"] == "LumaFalRay32TextToVideo")
    one, _ = expected_price(node)
    # The source (live, cached or bundled) is whatever this server's pack has now; the amount is price_of's.
    one_text = _one_badge(comfy_page, node["id"])
    label, source = one_text.split(" · ", 1)
    assert label == one.label, one_text

    comfy_page.set_widget(node["id"], "takes", 4)
    _one_badge(comfy_page, node["id"], f"{money(one.usd * 4)} (4 × {label}) · {source}")
    comfy_page.set_widget(node["id"], "prompt_variants", "a boat\n\na kite\n")
    _one_badge(comfy_page, node["id"], f"{money(one.usd * 8)} (8 × {label}) · {source}")
    comfy_page.set_widget(node["id"], "takes", 1)
    comfy_page.set_widget(node["id"], "prompt_variants", "")
    _one_badge(comfy_page, node["id"], one_text)
