"""A picture of the text-to-video node on the canvas with its price badge, per host and frontend, kept in
test-output/browser/ (``price-badge-LumaFalRay32TextToVideo-comfyui-<host>-frontend-<frontend>.png``).

How the badge is proven drawn: the pack's own badge (web/price.js, on every host) records its text in
``node.lumaFal.drawnPrice``; a frontend's badge would be in ``node.badges``. The text must then be painted on the canvas (a recorded ``fillText`` call) inside the
node's title area or the badge row above it, during a redraw the test forces.
"""

from __future__ import annotations

import re
from typing import Any

from tests.browser.test_price_badge import expected_view, served_table, shown
from tests.comfy.badge_expect import expected_badge

NODE = "LumaFalRay32TextToVideo"
PRICE_TEXT = re.compile(r"\$|credit|price", re.IGNORECASE)
ABOVE = 60  # px above the title bar: where a badge goes when the title leaves no room

DRAW_AND_RECORD = """(id) => {
    const canvas = window.app.canvas, element = canvas.canvas, proto = CanvasRenderingContext2D.prototype;
    const original = proto.fillText, drawn = [];
    proto.fillText = function (text, x, y, ...rest) {
        if (this.canvas === element) {
            const at = this.getTransform().transformPoint(new DOMPoint(x, y));
            drawn.push({ text: String(text), x: at.x / devicePixelRatio, y: at.y / devicePixelRatio });
        }
        return original.call(this, text, x, y, ...rest);
    };
    try { window.app.graph.setDirtyCanvas(true, true); canvas.draw(true, true); } finally { proto.fillText = original; }
    const node = window.app.graph.getNodeById(id);
    const badges = (node.badges || []).map(b => (typeof b === 'function' ? b() : b)?.text).filter(Boolean);
    const [ox, oy] = canvas.ds.offset, scale = canvas.ds.scale, title = window.LiteGraph.NODE_TITLE_HEIGHT;
    const rect = element.getBoundingClientRect();
    return { drawn, badges, pack: node.lumaFal?.drawnPrice ?? null,
             box: { x: (node.pos[0] + ox) * scale, y: (node.pos[1] - title + oy) * scale,
                    w: node.size[0] * scale, h: (node.size[1] + title) * scale },
             canvas: { x: rect.x, y: rect.y } };
}"""


def test_text_to_video_node_shows_its_price_badge(canvas_page: Any) -> None:
    comfy_page = canvas_page  # builds a graph and reads the canvas: the shared page does
    comfy_page.clear()
    node_id = comfy_page.add_node(NODE, 200, 200)
    comfy_page.page.evaluate("() => { window.app.canvas.ds.offset = [0, 0]; window.app.canvas.ds.scale = 1; }")
    node = next(n for n in comfy_page.nodes() if n["id"] == node_id)
    expected = expected_badge(node, served_table(comfy_page.host))
    # The badge has settled: the pack's table arrived.
    shown(comfy_page, node_id, expected_view(node, served_table(comfy_page.host)))
    seen = comfy_page.page.evaluate(DRAW_AND_RECORD, node_id)

    badge_texts = [t for t in [seen["pack"], *seen["badges"]] if t and PRICE_TEXT.search(t)]
    assert badge_texts, f"no price badge on the node: pack {seen['pack']!r}, node badges {seen['badges']!r}"
    # Exactly what price_of() says for these settings, whoever draws it.
    assert expected in badge_texts, (expected, badge_texts)
    box = seen["box"]
    in_node = [d["text"] for d in seen["drawn"]
               if box["x"] <= d["x"] <= box["x"] + box["w"] and box["y"] - ABOVE <= d["y"] <= box["y"] + box["h"]]
    painted = [t for t in badge_texts if any(t == d or (len(d) >= 4 and d in t) for d in in_node)]
    assert painted, f"badge {badge_texts} not painted on the node; texts drawn there: {in_node}"

    canvas = seen["canvas"]
    clip = {"x": canvas["x"] + box["x"] - 20, "y": canvas["y"] + box["y"] - ABOVE,
            "width": box["w"] + 40, "height": box["h"] + ABOVE + 20}
    path = comfy_page.screenshot(f"price-badge-{NODE}", clip=clip)
    assert comfy_page.version in path.name and path.stat().st_size > 1000
