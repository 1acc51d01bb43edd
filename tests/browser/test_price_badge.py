"""Every LumaFal node shows exactly one price badge, and it says what ``price_of()`` says for its settings
with the price table the server serves (live, cached or bundled), naming that source; when a spend limit
would refuse the run, the node says which limit, in red.

The pack's own badge (web/price.js drawPrice) is the one drawn on every host and frontend: the nodes are not
API nodes, so no frontend draws a credits badge of its own on them (that would also make the frontend ask a
signed-out user to sign in before Run: tests/browser/test_run_button.py). Every test runs on every host and
frontend the fixtures offer, and fails on any error the page throws.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nodes.luma import constants as C
from tests.browser.conftest import _make_page, _post_settings
from tests.comfy.badge_expect import expected_badge, expected_limit
from tests.support.comfy_fixtures import host_server
from tools.harness import EXAMPLE_WORKFLOWS
from tools.layout import HOSTS, TEST_OUTPUT

SCREENSHOTS = TEST_OUTPUT / "screenshots"
LIMIT_COLOUR = "rgba(190, 30, 30, 0.97)"  # web/price.js LIMIT_COLOUR
NO_LIMITS = {"max_run_usd": None, "daily_budget_usd": None, "balance_floor_usd": None, "unknown_price": "warn"}
# How long a badge must stay as it is (the frontend evaluates its own badges asynchronously: a second badge
# would have appeared by then).
SETTLE_S = 3.0

# What the node shows: every price badge (the pack's: the text web/price.js last drew; the frontend's
# credits badges: usePriceBadge.ts's LGraphBadge whose icon is its "component" SVG, with text, which must
# never appear on these nodes) and the colour of the pack's badge.
_SHOWN = """(id) => {
    const node = window.app.graph.getNodeById(id);
    const state = node?.lumaFal ?? {};
    const badges = [];
    if (state.drawnPrice != null) badges.push({by: "pack", text: state.drawnPrice});
    for (const item of node?.badges ?? []) {
        const badge = typeof item === "function" ? item() : item;
        const src = badge?.icon?.image?.src ?? "";
        if (src.includes("M15.536") && badge.text) badges.push({by: "frontend", text: badge.text});
    }
    return {badges, colour: state.drawnPrice != null ? state.drawnPriceColour ?? null : null};
}"""


def served_table(host: Any) -> dict[str, Any]:
    """The effective price table and spend limits as the page's badge gets them."""
    return host.client.get_json("/luma_fal/prices")


def pack_count(node: dict[str, Any]) -> int:
    """Input images as the pack's badge counts them when every linked image input is a LoadImage."""
    linked = set(node["linked"])
    return len(linked & {"references", "reference_images"}) + (
        1 if node["type"] == "LumaFalUni1ImageEdit" and "image" in linked else 0)


def expected_view(node: dict[str, Any], table: dict[str, Any], input_images: int | None = None) -> dict[str, Any]:
    """What the node should show: the pack's one price badge, red with the limit when a spend limit would
    refuse the run. The pack follows image links and counts (``input_images``, default one image per linked
    input)."""
    count = pack_count(node) if input_images is None else input_images
    price = expected_badge(node, table, count)
    limit = expected_limit(node, table, count)
    if price is None:
        return {"badges": [], "colour": None}
    text = price if limit is None else f"{price} · {limit}"
    return {"badges": [{"by": "pack", "text": text}], "colour": LIMIT_COLOUR if limit else None}


def shown(comfy_page: Any, node_id: int, wanted: dict[str, Any] | None = None, timeout: float = 10.0) -> dict[str, Any]:
    """What the node shows; waits (redrawing) until it is ``wanted`` if given."""
    deadline = time.monotonic() + timeout
    while True:
        comfy_page.redraw()
        seen = comfy_page.page.evaluate(_SHOWN, node_id)
        if wanted is None or seen == wanted or time.monotonic() > deadline:
            return seen
        comfy_page.page.wait_for_timeout(100)


def assert_shows(comfy_page: Any, node: dict[str, Any], what: str = "", *, table: dict[str, Any] | None = None,
                 input_images: int | None = None, settle: bool = False) -> dict[str, Any]:
    """Exactly one price badge with price_of's text, and the limit state; ``settle``: still so after
    ``SETTLE_S`` (a frontend's own badge would have appeared by then)."""
    wanted = expected_view(node, served_table(comfy_page.host) if table is None else table, input_images)
    seen = shown(comfy_page, node["id"], wanted)
    assert seen == wanted, f"{what} node {node['id']}: shows {seen}, price_of says {wanted}"
    if settle:
        comfy_page.page.wait_for_timeout(int(SETTLE_S * 1000))
        seen = shown(comfy_page, node["id"])
        assert seen == wanted, f"{what} node {node['id']}: after {SETTLE_S} s shows {seen}"
    return wanted


@pytest.fixture(autouse=True)
def no_page_errors(request: pytest.FixtureRequest) -> Iterator[None]:
    """The pack's scripts (web/luma_fal.js, web/price.js...) throw nothing on any host."""
    yield
    args = request.node.funcargs or {}
    page = args.get("comfy_page") or args.get("canvas_page")
    if page is not None:
        assert page.recorder.page_errors == [], f"page errors: {page.recorder.page_errors}"


def _node_of(comfy_page: Any, node_type: str) -> dict[str, Any]:
    return next(n for n in comfy_page.nodes() if n["type"] == node_type)


def example_paths() -> list[Path]:
    return sorted(EXAMPLE_WORKFLOWS.glob("*.json"))


@pytest.mark.parametrize("path", example_paths(), ids=lambda p: p.stem)
def test_example_workflow_badges_match_price_of(canvas_page: Any, path: Path) -> None:
    canvas_page.load_workflow(json.loads(path.read_text()))
    pack_nodes = [n for n in canvas_page.nodes() if n["type"].startswith("LumaFal")]
    assert pack_nodes, f"{path.name} has no LumaFal node"
    for i, node in enumerate(pack_nodes):
        assert_shows(canvas_page, node, f"{path.name} {node['type']}", settle=i == len(pack_nodes) - 1)
    # Other nodes are left alone: the extension never attaches its state to them.
    foreign = canvas_page.page.evaluate(
        "() => window.app.graph._nodes.filter(n => !n.type.startsWith('LumaFal') && n.lumaFal).map(n => n.type)"
    )
    assert foreign == []
    canvas_page.screenshot(f"badges-{path.stem}")


def _source(table: dict[str, Any], endpoint: str) -> str:
    return table["endpoints"][endpoint]["source"]["label"]


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
def test_badge_follows_widget_changes(canvas_page: Any, workflow: str, node_type: str, changes: dict[str, Any],
                                      endpoint: str, wanted: str) -> None:
    canvas_page.load_workflow(canvas_page.host.example_workflow(workflow))
    table = served_table(canvas_page.host)
    before = assert_shows(canvas_page, _node_of(canvas_page, node_type), node_type, table=table)
    for name, value in changes.items():
        canvas_page.set_widget(_node_of(canvas_page, node_type)["id"], name, value)
    after = assert_shows(canvas_page, _node_of(canvas_page, node_type), node_type, table=table)
    # The test's own expectation is written out, so a drifted price table fails here too; and the badge
    # changed, so the wait above proves the change was drawn (not the old badge).
    assert after["badges"][0]["text"] == f"{wanted} · {_source(table, endpoint)}"
    assert before["badges"] != after["badges"]
    canvas_page.screenshot(f"badge-change-{workflow}-{'-'.join(changes)}")


_CONNECT_REFERENCE = """() => {
    const g = window.app.graph;
    const load = g._nodes.find(n => n.type === 'LoadImage');
    const edit = g._nodes.find(n => n.type === 'LumaFalUni1ImageEdit');
    load.connect(0, edit, edit.inputs.findIndex(i => i.name === 'references'));
}"""
_REPEAT_REFERENCE = """() => {
    const g = window.app.graph;
    const load = g._nodes.find(n => n.type === 'LoadImage');
    const edit = g._nodes.find(n => n.type === 'LumaFalUni1ImageEdit');
    const repeat = window.LiteGraph.createNode('RepeatImageBatch');
    g.add(repeat);
    repeat.widgets.find(w => w.name === 'amount').value = 3;
    load.connect(0, repeat, 0);
    repeat.connect(0, edit, edit.inputs.findIndex(i => i.name === 'references'));
}"""


def test_badge_counts_connected_references(canvas_page: Any) -> None:
    canvas_page.load_workflow(canvas_page.host.example_workflow("luma_uni1_image_edit"))
    table = served_table(canvas_page.host)
    source = _source(table, C.UNI1_EDIT)
    edit = "LumaFalUni1ImageEdit"
    view = assert_shows(canvas_page, _node_of(canvas_page, edit), edit, table=table)
    assert view["badges"][0]["text"] == f"$0.045 (1 image + 1 input image) · {source}"
    # The loaded image into references as well: one more billed input image. The pack follows the link
    # to the LoadImage and counts exactly.
    canvas_page.page.evaluate(_CONNECT_REFERENCE)
    view = assert_shows(canvas_page, _node_of(canvas_page, edit), edit, table=table)
    assert view["badges"][0]["text"] == f"$0.048 (1 image + 2 input images) · {source}"
    # A RepeatImageBatch of 3 in between: the pack counts three references.
    canvas_page.page.evaluate(_REPEAT_REFERENCE)
    view = assert_shows(canvas_page, _node_of(canvas_page, edit), edit, table=table, input_images=4)
    assert view["badges"][0]["text"] == f"$0.054 (1 image + 4 input images) · {source}"
    canvas_page.screenshot("badge-edit-with-references")


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


def test_text_to_video_shows_one_badge_that_follows_resolution_and_duration(canvas_page: Any) -> None:
    canvas_page.load_workflow(canvas_page.host.example_workflow("luma_ray32_text_to_video"))
    texts = []
    for name, value in (("resolution", "1080p"), ("duration", "10s"), (None, None)):
        node = _node_of(canvas_page, "LumaFalRay32TextToVideo")
        view = assert_shows(canvas_page, node, "text-to-video", settle=not texts)
        text = view["badges"][0]["text"]
        assert not text.startswith("price unknown")
        texts.append(text)
        if name == "duration":
            node_screenshot(canvas_page, node["id"], "t2v-badge")
        if name is not None:
            canvas_page.set_widget(node["id"], name, value)
    assert len(set(texts)) == 3, f"each change should change the badge: {texts}"


@pytest.fixture(params=["cap", "budget"])
def limited_host(request: pytest.FixtureRequest, host: Any) -> Iterator[Any]:
    """The host with a $0.20 per-run cap, or a daily budget with $0.20 left today (set before the page
    loads its price table)."""
    if request.param == "cap":
        limits = {"max_run_usd": 0.2}
    else:
        limits = {"daily_budget_usd": round(float(served_table(host)["limits"]["spent_today"]) + 0.2, 6)}
    reply = host.client.post_json("/luma_fal/money", limits)
    assert reply.status_code == 200, reply.text
    yield host
    host.client.post_json("/luma_fal/money", NO_LIMITS).raise_for_status()


def test_spend_limit_shows_in_red_beside_the_one_price_badge(limited_host: Any, comfy_page: Any) -> None:
    comfy_page.load_workflow(limited_host.example_workflow("luma_ray32_image_to_video"))
    table = served_table(limited_host)
    node = _node_of(comfy_page, "LumaFalRay32ImageToVideo")
    view = assert_shows(comfy_page, node, "within the limit", table=table, settle=True)
    assert view["colour"] is None  # $0.15: nothing to warn about
    comfy_page.set_widget(node["id"], "resolution", "720p")
    view = assert_shows(comfy_page, _node_of(comfy_page, "LumaFalRay32ImageToVideo"), "over the limit",
                        table=table, settle=True)
    limit = expected_limit(_node_of(comfy_page, "LumaFalRay32ImageToVideo"), table)
    assert limit in ("over cap $0.20", "over budget ($0.20 left today)"), limit
    source = _source(table, C.RAY32_IMAGE_TO_VIDEO)
    # One badge, red, naming the limit.
    assert view["badges"] == [{"by": "pack", "text": f"$0.30 · {source} · {limit}"}]
    assert view["colour"] == LIMIT_COLOUR
    node_screenshot(comfy_page, node["id"], f"badge-{limit.split()[1]}")


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
    view = assert_shows(comfy_page, _node_of(comfy_page, "LumaFalRay32TextToVideo"), "text-to-video")
    assert view["badges"][0]["text"] == "$1.60 · live"
    comfy_page.screenshot("badge-live-price")


def test_prices_refreshed_while_the_page_is_open(drifted_prices: Any, comfy_sandbox: Any, comfy_page: Any) -> None:
    """fal's price changes back while the page is open and the server fetches it: the pack's badge follows
    at its next price reload, without a reload of the page."""
    comfy_page.load_workflow(drifted_prices.example_workflow("luma_ray32_text_to_video"))
    node = _node_of(comfy_page, "LumaFalRay32TextToVideo")
    loaded_with = assert_shows(comfy_page, node, "before the refresh")
    comfy_sandbox.reset()
    drifted_prices.client.post_json("/luma_fal/fal_docs/refresh", {}).raise_for_status()
    table = served_table(drifted_prices)
    # What web/price.js does every minute, now.
    comfy_page.page.evaluate("() => import('/extensions/comfyui-luma-fal/price.js').then(m => m.loadPrices())")
    view = assert_shows(comfy_page, node, "after the refresh", table=table)
    assert view["badges"] != loaded_with["badges"]


@pytest.mark.hosts("0.33.0")
def test_old_frontend_on_a_new_host_gets_the_packs_badge(browser: Any, comfy_factory: Any, comfy_version: str) -> None:
    """An older frontend (1.32.9, started with --front-end-root) in front of 0.33.0 shows the pack's badge,
    once."""
    old = HOSTS["0.3.75"]
    host = host_server(comfy_factory, comfy_version, old.frontend)
    _post_settings(host.url)
    for page in _make_page(browser, host, old.frontend):
        page.load_workflow(page.host.example_workflow("luma_ray32_text_to_video"))
        node = _node_of(page, "LumaFalRay32TextToVideo")
        assert_shows(page, node, "text-to-video", settle=True)
        node_screenshot(page, node["id"], "t2v-badge")
        assert page.recorder.page_errors == []
