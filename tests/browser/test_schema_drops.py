"""What fal's live schema drops is told on the node, before a run: reference images connected to Ray 3.2
text-to-video (fal's current schema has no reference_image_urls) show a line on the node and the input's
tooltip, from the same table as the price badge (/luma_fal/prices); queued anyway, the run is refused before
anything is paid and the node's status line keeps saying why."""

from __future__ import annotations

import random
import time
from typing import Any

T2V = "LumaFalRay32TextToVideo"

_STATE = """(id) => {
    const node = window.app.graph.getNodeById(id);
    const slot = (node.inputs || []).find(i => i.name === "reference_images");
    return {drops: node.lumaFal?.drawnSchemaDrops ?? null, tooltip: slot?.tooltip ?? null,
            status: node.lumaFal?.statusLines ? node.lumaFal.statusLines.join(" | ") : null,
            phase: node.lumaFal?.status?.phase ?? null};
}"""


def _state(page: Any, node_id: int, until: str, timeout: float = 30.0) -> dict[str, Any]:
    """The node's state once the JS condition ``until`` (given ``s``) holds, redrawing meanwhile."""
    deadline = time.monotonic() + timeout
    while True:
        page.redraw()
        state = page.page.evaluate(_STATE, node_id)
        if page.page.evaluate(f"(s) => !!({until})", state) or time.monotonic() > deadline:
            return state
        page.page.wait_for_timeout(100)


def test_connected_references_fal_dropped_show_on_the_node_and_its_tooltip(canvas_page: Any) -> None:
    node_id = canvas_page.add_node(T2V, 400, 200)
    image_id = canvas_page.add_node("LoadImage", 50, 200)
    assert _state(canvas_page, node_id, "true")["drops"] is None  # nothing connected: nothing to say
    canvas_page.connect(image_id, "IMAGE", node_id, "reference_images")

    state = _state(canvas_page, node_id, "s.drops")
    assert state["drops"] and "reference_images: connected, but fal's current schema" in state["drops"], state
    assert "has no reference_image_urls" in state["drops"] and "disconnect reference_images" in state["drops"]
    assert state["tooltip"] == state["drops"]
    canvas_page.screenshot("schema-drop-on-node")
    canvas_page.page.evaluate("(id) => window.app.graph.getNodeById(id).disconnectInput(" 
                              "window.app.graph.getNodeById(id).inputs.findIndex(i => i.name === 'reference_images'))",
                              node_id)
    assert _state(canvas_page, node_id, "s.drops === null")["drops"] is None
    assert canvas_page.recorder.page_errors == []


def test_a_run_with_them_connected_is_refused_and_the_status_line_keeps_why(comfy_page: Any,
                                                                            comfy_sandbox: Any) -> None:
    comfy_page.load_workflow(comfy_page.host.example_workflow("luma_ray32_text_to_video"))
    node_id = next(n["id"] for n in comfy_page.nodes() if n["type"] == T2V)
    comfy_page.set_widget(node_id, "seed", random.randint(1, 2**31 - 1))
    image_id = comfy_page.add_node("LoadImage", 50, 600)
    comfy_page.connect(image_id, "IMAGE", node_id, "reference_images")
    comfy_page.page.evaluate("() => window.app.queuePrompt(0, 1)")

    state = _state(comfy_page, node_id, "s.phase === 'refused'", timeout=60)
    assert state["phase"] == "refused" and "Not run: reference_images: connected" in (state["status"] or ""), state
    # the execution error does not clear it: it stays until the node runs again
    comfy_page.page.wait_for_timeout(1500)
    assert _state(comfy_page, node_id, "true")["phase"] == "refused"
    comfy_page.screenshot("schema-drop-refused")
    assert [c for c in comfy_sandbox.log() if c.get("point") in ("submit", "upload") or "upload" in c] == []
