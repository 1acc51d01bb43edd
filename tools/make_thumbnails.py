"""`make thumbnails`: example_workflows/<name>.jpg beside every example, the card the template browser shows.

Frontend 1.58.1 shows a custom node pack's templates with ``<name>.jpg`` from the same folder as the
workflow. Each thumbnail is the example's graph as the real frontend draws it: ComfyUI 0.3.75 with the pack
(the sandbox as its fal, so the price badges show as they do for a user) serves frontend 1.58.1 to Debian's
headless Chromium; each example is loaded as the template browser loads it, framed, and photographed.
The JPEGs are 400 x 400 pixels, the size most of ComfyUI's own template thumbnails have (the
comfyui-workflow-templates packages: 400 x 400 and 350 x 350 squares).

The frame: the whole graph when it fits at a zoom where node titles and widgets can still be read
(``MIN_ZOOM``); else a window at that zoom centred on the pack's nodes (a long chain shows its middle, the
links leaving the edges). Each JPEG's comment holds the sha256 of the workflow file it shows, so
tests/test_example_thumbnails.py fails when an example has no thumbnail, one of the wrong size or format,
or one older than its workflow. Run after tools/make_examples.py (docs/development.md says the order):

    python -m tools.make_thumbnails [name ...]      # default: every example_workflows/*.json
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import sys
from pathlib import Path
from typing import Any

from tools.browser import CHROMIUM, CHROMIUM_ARGS, QUIET_SETTINGS, post_settings
from tools.harness import ComfyHost, start_host
from tools.layout import REPO, TEST_OUTPUT, frontend_root
from tools.procs import ComfyOptions, start_sandbox

log = logging.getLogger("thumbnails")

EXAMPLES = REPO / "example_workflows"
THUMBNAIL_SIZE = (400, 400)
JPEG_QUALITY = 90
COMMENT_PREFIX = "comfyui-luma-fal example thumbnail; workflow sha256="
# The graph is drawn in a square of this many CSS pixels in the middle of the page, then scaled down to
# THUMBNAIL_SIZE: twice the thumbnail, so the frame holds twice the graph at the same legibility as a
# 1:1 shot would at double zoom, and the downscale smooths the edges.
CAPTURE_SIDE = 800
VIEWPORT = {"width": 1600, "height": 1000}
MIN_ZOOM = 0.75  # graph units to CSS pixels; at 0.75 and 800 -> 400 a node title is ~5 px high
MAX_ZOOM = 1.2
MARGIN = 40  # graph units around the framed nodes
# Drawn as for a first-time user, without the overlays that are not the graph.
SETTINGS = {**QUIET_SETTINGS, "Comfy.Minimap.Visible": False, "LiteGraph.Canvas.MinFontSizeForLOD": 1,
            "Comfy.Graph.CanvasInfo": False}


def workflow_digest(workflow_file: Path) -> str:
    return hashlib.sha256(workflow_file.read_bytes()).hexdigest()


def thumbnail_path(workflow_file: Path) -> Path:
    return workflow_file.with_suffix(".jpg")


def example_files(names: list[str] | None = None) -> list[Path]:
    files = sorted(EXAMPLES.glob("*.json"))
    if names:
        wanted = {n.removesuffix(".json") for n in names}
        unknown = wanted - {f.stem for f in files}
        if unknown:
            raise SystemExit(f"no example named {sorted(unknown)} in {EXAMPLES}")
        files = [f for f in files if f.stem in wanted]
    return files


# The frame, in graph units: the nodes' bounding box (titles included), and the window shown.
_BOUNDS_JS = """() => {
    const title = window.LiteGraph.NODE_TITLE_HEIGHT || 30;
    const box = (nodes) => nodes.reduce((b, n) => [
        Math.min(b[0], n.pos[0]), Math.min(b[1], n.pos[1] - title),
        Math.max(b[2], n.pos[0] + n.size[0]), Math.max(b[3], n.pos[1] + n.size[1])], [1e9, 1e9, -1e9, -1e9]);
    const nodes = window.app.graph._nodes;
    return {all: box(nodes), pack: box(nodes.filter(n => n.type.startsWith("LumaFal")))};
}"""

_FRAME_JS = """([scale, cx, cy, sx, sy]) => {
    const canvas = window.app.canvas, rect = canvas.canvas.getBoundingClientRect();
    canvas.ds.scale = scale;
    // LiteGraph: screen = (graph + offset) * scale, in the canvas element's CSS pixels.
    canvas.ds.offset[0] = (sx - rect.left) / scale - cx;
    canvas.ds.offset[1] = (sy - rect.top) / scale - cy;
    canvas.deselectAll?.();
    window.app.graph.setDirtyCanvas(true, true);
    canvas.draw(true, true);
}"""


def frame(bounds: dict[str, list[float]], side: float = CAPTURE_SIDE) -> tuple[float, float, float]:
    """(zoom, centre x, centre y) in graph units: the whole graph if it fits at MIN_ZOOM or more, else a
    window at MIN_ZOOM centred on the pack's nodes, kept inside the graph."""
    x0, y0, x1, y1 = bounds["all"]
    x0, y0, x1, y1 = x0 - MARGIN, y0 - MARGIN, x1 + MARGIN, y1 + MARGIN
    fit = side / max(x1 - x0, y1 - y0)
    zoom = min(max(fit, MIN_ZOOM), MAX_ZOOM)
    if fit >= MIN_ZOOM:
        return zoom, (x0 + x1) / 2, (y0 + y1) / 2
    half = side / zoom / 2
    px0, py0, px1, py1 = bounds["pack"] if bounds["pack"][0] < bounds["pack"][2] else bounds["all"]

    def inside(centre: float, low: float, high: float) -> float:
        return (low + high) / 2 if high - low <= 2 * half else min(max(centre, low + half), high - half)

    return zoom, inside((px0 + px1) / 2, x0, x1), inside((py0 + py1) / 2, y0, y1)


def _wait_for_prices(page: Any) -> None:
    """Until every pack node was drawn with its price loaded (web/price.js: ``price`` is null for a node with
    nothing to pay, "price loading" until the table arrives): the badge is what a user sees before Run."""
    page.wait_for_function(
        """() => { window.app.graph.setDirtyCanvas(true, true); window.app.canvas.draw(true, true);
            return window.app.graph._nodes.filter(n => n.type.startsWith("LumaFal"))
                .every(n => n.lumaFal && "price" in n.lumaFal
                    && n.lumaFal.price?.label !== "price loading"); }""",
        timeout=30_000, polling=250,
    )


def shoot(page: Any, workflow_file: Path) -> bytes:
    """The JPEG thumbnail of one example, as loaded and drawn on ``page``."""
    from PIL import Image  # heavy; only this tool needs it

    workflow = json.loads(workflow_file.read_text())
    page.evaluate("(wf) => window.app.loadGraphData(wf)", workflow)
    _wait_for_prices(page)
    zoom, cx, cy = frame(page.evaluate(_BOUNDS_JS))
    sx, sy = VIEWPORT["width"] / 2, VIEWPORT["height"] / 2
    page.evaluate(_FRAME_JS, [zoom, cx, cy, sx, sy])
    page.wait_for_timeout(300)  # the DOM widgets (prompt text boxes) follow the canvas on the next frames
    page.evaluate(_FRAME_JS, [zoom, cx, cy, sx, sy])
    half = CAPTURE_SIDE / 2
    png = page.screenshot(clip={"x": sx - half, "y": sy - half, "width": 2 * half, "height": 2 * half})
    image = Image.open(io.BytesIO(png)).convert("RGB").resize(THUMBNAIL_SIZE, Image.Resampling.LANCZOS)
    out = io.BytesIO()
    comment = (COMMENT_PREFIX + workflow_digest(workflow_file)).encode()
    image.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True, comment=comment)
    return out.getvalue()


def _open(page: Any, host: ComfyHost) -> None:
    page.goto(host.url + "/", wait_until="domcontentloaded", timeout=120_000)
    page.wait_for_function(
        "() => !!(window.app?.graph && window.LiteGraph?.registered_node_types?.LumaFalRay32TextToVideo)"
        " && window.app.extensions?.some?.(e => e.name === 'comfyui-luma-fal')",
        timeout=120_000,
    )


def main(names: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="[thumbnails %(asctime)s] %(message)s", datefmt="%H:%M:%S")
    files = example_files(names)
    if not CHROMIUM.exists():
        log.error("%s missing: `make env` installs Debian's chromium", CHROMIUM)
        return 1
    from playwright.sync_api import sync_playwright  # heavy; only this tool needs it

    logs = TEST_OUTPUT / "thumbnails"
    sandbox = start_sandbox(log_dir=logs)
    host: ComfyHost | None = None
    try:
        host = start_host(ComfyOptions(name="thumbnails", front_end_root=frontend_root(), log_dir=logs),
                          sandbox=sandbox)
        post_settings(host.url, SETTINGS)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                                 args=CHROMIUM_ARGS)
            page = browser.new_page(viewport=VIEWPORT)
            _open(page, host)
            for workflow_file in files:
                target = thumbnail_path(workflow_file)
                target.write_bytes(shoot(page, workflow_file))
                print(target.relative_to(REPO))
            browser.close()
        return 0
    finally:
        if host is not None:
            host.stop()
        sandbox.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
