"""Reading price badges off a node in the page: the pack's own (web/price.js) and the frontend's."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tools.layout import TEST_OUTPUT

# Who draws the badge on each host (written out, not detected, so a lost feature fails here).
DRAWN_BY = {"0.3.75": "pack", "0.33.0": "frontend"}
SCREENSHOTS = TEST_OUTPUT / "screenshots"

# Every price badge on a node: the pack's (the text web/price.js last drew) and the frontend's credits
# badges (usePriceBadge.ts: an LGraphBadge whose icon is its "component" SVG), with non-empty text.
_SHOWN_BADGES = """(id) => {
    const node = window.app.graph.getNodeById(id);
    const shown = [];
    if (node?.lumaFal?.drawnPrice != null) shown.push({by: "pack", text: node.lumaFal.drawnPrice});
    for (const item of node?.badges ?? []) {
        const badge = typeof item === "function" ? item() : item;
        const src = badge?.icon?.image?.src ?? "";
        if (src.includes("M15.536") && badge.text) shown.push({by: "frontend", text: badge.text});
    }
    return shown;
}"""


def shown_badges(comfy_page: Any, node_id: int, expected: str | None, timeout: float = 10.0, *,
                 by: str | None = None) -> list[dict[str, str]]:
    """The price badges the node shows; waits (redrawing) until they are exactly the expected one."""
    wanted = [] if expected is None else [{"by": by or DRAWN_BY[comfy_page.version], "text": expected}]
    deadline = time.monotonic() + timeout
    while True:
        comfy_page.redraw()
        shown = comfy_page.page.evaluate(_SHOWN_BADGES, node_id)
        if shown == wanted or time.monotonic() > deadline:
            return shown
        comfy_page.page.wait_for_timeout(100)


# web/price.js waits this long for the frontend's own badge before drawing its own (see ownBadgeWanted).
FRONTEND_GRACE_S = 2.0


def assert_one_badge(comfy_page: Any, node_id: int, expected: str | None, what: str = "", *,
                     drawn_by: str | None = None, settle: bool = False) -> None:
    """Exactly one price badge, with the expected text; ``settle``: and still so after the pack's grace time."""
    by = drawn_by or DRAWN_BY[comfy_page.version]
    wanted = [] if expected is None else [{"by": by, "text": expected}]
    shown = shown_badges(comfy_page, node_id, expected, by=by)
    assert shown == wanted, f"{what} node {node_id}: shows {shown}, price_of says {expected!r}"
    if settle:
        comfy_page.page.wait_for_timeout(int((FRONTEND_GRACE_S + 1.0) * 1000))
        comfy_page.redraw()
        shown = comfy_page.page.evaluate(_SHOWN_BADGES, node_id)
        assert shown == wanted, f"{what} node {node_id}: after {FRONTEND_GRACE_S + 1} s shows {shown}"


def node_screenshot(comfy_page: Any, node_id: int, name: str) -> Path:
    """A picture of one node with its title bar and the badges above it, in test-output/screenshots/."""
    box = comfy_page.page.evaluate(
        """(id) => {
            const node = window.app.graph.getNodeById(id);
            const { offset, scale } = window.app.canvas.ds;
            const rect = window.app.canvas.canvas.getBoundingClientRect();
            const title = window.LiteGraph.NODE_TITLE_HEIGHT;
            const x = rect.left + (node.pos[0] + offset[0]) * scale;
            const y = rect.top + (node.pos[1] - title + offset[1]) * scale;
            return {x: Math.max(0, x - 30), y: Math.max(0, y - 70),
                    width: node.size[0] * scale + 60, height: (node.size[1] + title) * scale + 100};
        }""",
        node_id,
    )
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}-{comfy_page.version}-{comfy_page.frontend}.png"
    comfy_page.page.screenshot(path=str(path), clip=box)
    return path
