"""An install whose Python side lacks the pack's routes (missing or older) must not break the page:
the pack's badge says the price is unknown, the key setting says the server did not answer,
nothing throws."""

from __future__ import annotations

from typing import Any



def test_missing_routes_degrade_quietly(page_without_pack_routes: Any) -> None:
    comfy_page = page_without_pack_routes
    comfy_page.load_workflow(comfy_page.host.example_workflow("luma_ray32_image_to_video"))
    node = next(n for n in comfy_page.nodes() if n["type"] == "LumaFalRay32ImageToVideo")
    wanted = "price unknown (the pack's price table is not available)"
    assert comfy_page.drawn_price(node["id"], wanted) == wanted

    page = comfy_page.page
    page.evaluate("() => window.app.extensionManager.command.execute('Comfy.ShowSettingsDialog')")
    page.get_by_text("Luma (fal)", exact=True).first.click()
    state = page.locator(".luma-fal-key-state", has_text="did not answer")
    state.wait_for(timeout=20_000)
    comfy_page.screenshot("without-server-side")
    ours = [e for e in comfy_page.recorder.page_errors if "luma" in e.lower()]
    assert ours == [], f"the extension threw: {ours}"
    # The graph still works: the workflow serialises with all its nodes.
    count = page.evaluate("() => window.app.graph.serialize().nodes.length")
    assert count == len(comfy_page.nodes())
