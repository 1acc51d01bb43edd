"""Browser fixtures: Debian's Chromium driven by Playwright against real ComfyUI servers with the pack.

Each test runs once per (host, frontend): ComfyUI 0.3.75 with 1.32.9 (what it ships) and 1.58.1
(``--front-end-root``), and ComfyUI 0.33.0 with 1.48.7 (what it ships) and 1.58.1; ids such as
``test_x[0.33.0-frontend-1.48.7]`` (tests/support/host_params.py parametrizes them).
The page may only talk to loopback: Chromium sends every other request (the frontend calls api.comfy.org)
to a proxy on a closed loopback port, so it fails inside the browser, and the page's failed requests to other
hosts are recorded. No Playwright route sits on the page's requests: a route is answered from Python only
while the test is inside a Playwright call (a ``time.sleep`` would hold the page's requests), and routing the
frontend's ~500 files through Python cost a quarter of each page load's CPU. The one route left answers 404
for the pack's routes on the page that plays an install without the Python side (``missing``).
Every response body and websocket frame the page receives is recorded, so a test can prove that a
secret never came back from the server.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from tests.support.comfy_fixtures import (  # noqa: F401  (imported fixtures register with pytest)
    comfy,
    comfy_factory,
    comfy_fal,
    comfy_new_frontend,
    comfy_sandbox,
    comfy_version,
    host_server,
)
from tools.browser import CHROMIUM, CHROMIUM_ARGS, CLOSED_PORT, QUIET_SETTINGS  # noqa: F401  (tests import them)
from tools.browser import post_settings as _post_settings
from tools.harness import ComfyHost
from tools.layout import HOSTS, TEST_OUTPUT

SCREENSHOTS = TEST_OUTPUT / "browser"
LOOPBACK = {"127.0.0.1", "localhost"}


@pytest.fixture(scope="session")
def frontend(comfy_version: str) -> str:
    """The frontend under test; tests/conftest.py parametrizes it with ``comfy_version``."""
    return HOSTS[comfy_version].frontend


@pytest.fixture(scope="session")
def host(comfy_version: str, frontend: str, comfy_factory: Callable[..., ComfyHost]) -> ComfyHost:
    """The shared ComfyUI ``comfy_version`` (key in its environment, sandbox as fal) serving ``frontend``."""
    server = host_server(comfy_factory, comfy_version, frontend)
    _post_settings(server.url)
    return server


@pytest.fixture(scope="session")
def keyless_host(comfy_version: str, frontend: str, comfy_factory: Callable[..., ComfyHost]) -> Iterator[ComfyHost]:
    """A ComfyUI with NO key in its environment (so a key stored from the browser decides), per variant."""
    saved = {k: os.environ.pop(k) for k in ("FAL_KEY", "FAL_KEY_ID", "FAL_KEY_SECRET") if k in os.environ}
    try:
        server = host_server(comfy_factory, comfy_version, frontend, fal_key=None)
    finally:
        os.environ.update(saved)
    _post_settings(server.url)
    yield server


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} missing: tools/testhost.sh installs Debian's chromium (never `playwright install`)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@dataclass
class Recorder:
    """What the page received: response bodies (fetched lazily) and websocket frames."""

    responses: list[Any] = field(default_factory=list)
    ws_frames: list[str | bytes] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    aborted: list[str] = field(default_factory=list)

    def bodies(self) -> Iterator[tuple[str, bytes]]:
        for response in self.responses:
            try:
                yield response.url, response.body()
            except Exception:  # redirects and evicted resources have no body to read
                continue
        for frame in self.ws_frames:
            yield "websocket", frame.encode() if isinstance(frame, str) else frame


class ComfyPage:
    """A ComfyUI tab plus the few graph operations the tests need, done through the page's own objects."""

    def __init__(self, page: Any, host: ComfyHost, frontend: str, recorder: Recorder) -> None:
        self.page = page
        self.host = host
        self.frontend = frontend
        self.recorder = recorder

    def open(self) -> None:
        self.page.goto(self.host.url + "/", wait_until="domcontentloaded", timeout=120_000)  # a busy 2-core machine
        self.page.wait_for_function(
            "() => !!(window.app?.graph && window.LiteGraph?.registered_node_types?.LumaFalRay32TextToVideo)",
            timeout=120_000,
        )
        # The extension is loaded once its price table arrived (or was found missing).
        self.page.wait_for_function(
            "() => window.app.extensions?.some?.(e => e.name === 'comfyui-luma-fal')", timeout=60_000
        )

    def load_workflow(self, workflow: dict[str, Any]) -> None:
        self.page.evaluate("(wf) => window.app.loadGraphData(wf)", workflow)
        self.redraw()

    def clear(self) -> None:
        self.page.evaluate("() => window.app.graph.clear()")

    def add_node(self, node_type: str, x: int, y: int) -> int:
        """Add a node as the search box does (LiteGraph.createNode + graph.add); return its id."""
        return self.page.evaluate(
            """([type, x, y]) => {
                const node = window.LiteGraph.createNode(type);
                node.pos = [x, y];
                window.app.graph.add(node);
                return node.id;
            }""",
            [node_type, x, y],
        )

    def connect(self, source_id: int, output: str, target_id: int, input_name: str) -> None:
        self.page.evaluate(
            """([src, output, dst, input]) => {
                const g = window.app.graph, a = g.getNodeById(src), b = g.getNodeById(dst);
                const slot = b.inputs.findIndex(i => i.name === input);
                if (slot < 0) throw new Error(`no input ${input} on ${b.type}`);
                a.connect(a.outputs.findIndex(o => o.name === output), b, slot);
            }""",
            [source_id, output, target_id, input_name],
        )

    def serialize(self) -> dict[str, Any]:
        """The workflow JSON the frontend saves (what "Save" and "Export" write: graph.serialize())."""
        return self.page.evaluate("() => JSON.parse(JSON.stringify(window.app.graph.serialize()))")

    def api_prompt(self) -> dict[str, Any]:
        """The API prompt the frontend itself would queue for the current graph (app.graphToPrompt)."""
        return self.page.evaluate("async () => (await window.app.graphToPrompt()).output")

    def redraw(self) -> None:
        self.page.evaluate("() => { window.app.graph.setDirtyCanvas(true, true); window.app.canvas?.draw?.(true, true); }")

    def nodes(self) -> list[dict[str, Any]]:
        return self.page.evaluate(
            """() => window.app.graph._nodes.map(n => ({
                id: n.id, type: n.type,
                widgets: Object.fromEntries((n.widgets || []).filter(w => w.name).map(w => [w.name, w.value])),
                linked: (n.inputs || []).filter(i => i.link != null).map(i => i.name),
            }))"""
        )

    def set_widget(self, node_id: int, name: str, value: Any) -> None:
        self.page.evaluate(
            """([id, name, value]) => {
                const node = window.app.graph.getNodeById(id);
                const widget = node.widgets.find(w => w.name === name);
                widget.value = value;
                widget.callback?.(value, window.app.canvas, node);
                node.onWidgetChanged?.(name, value, value, widget);
                window.app.graph.setDirtyCanvas(true, true);
            }""",
            [node_id, name, value],
        )

    def drawn_price(self, node_id: int, expected: str | None = None, timeout: float = 10.0) -> str | None:
        """The badge text last drawn on the node; waits (redrawing) until it equals ``expected`` if given."""
        deadline = time.monotonic() + timeout
        while True:
            self.redraw()
            text = self.page.evaluate(
                "(id) => window.app.graph.getNodeById(id)?.lumaFal?.drawnPrice ?? null", node_id
            )
            if expected is None and text is not None or text == expected or time.monotonic() > deadline:
                return text
            self.page.wait_for_timeout(100)

    @property
    def version(self) -> str:
        """The ComfyUI version the page is served by."""
        return self.host.server.version

    def screenshot(self, name: str, clip: dict[str, float] | None = None) -> Path:
        """Save a screenshot (of ``clip``, page pixels, when given) to test-output/browser/, named with the
        host version and the frontend."""
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        variant = f"comfyui-{self.version}-frontend-{self.frontend}"
        path = SCREENSHOTS / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', name)}-{variant}.png"
        self.page.screenshot(path=str(path), clip=clip)
        return path


def _make_page(browser: Any, host: ComfyHost, frontend: str, missing: str | None = None) -> Iterator[ComfyPage]:
    """A page on ``host``; ``missing`` (a URL path part) answers 404 for matching requests, as an install
    without (or with an older) Python side would."""
    # The server's price documents are current before the page loads (/luma_fal/prices refreshes stale
    # ones), so the page's badges and the test's expectations come from the same table.
    host.client.get_json("/luma_fal/prices")
    recorder = Recorder()
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    page = context.new_page()

    def not_loopback(request: Any) -> None:
        if urlparse(request.url).hostname not in LOOPBACK:
            recorder.aborted.append(request.url)

    if missing:
        page.route(f"**{missing}**", lambda route: route.fulfill(status=404, content_type="text/plain",
                                                                 body="404: Not Found"))
    page.on("requestfailed", not_loopback)
    page.on("response", lambda response: recorder.responses.append(response))
    page.on("pageerror", lambda error: recorder.page_errors.append(str(error)))
    page.on("websocket", lambda ws: ws.on("framereceived", lambda frame: recorder.ws_frames.append(frame)))
    comfy_page = ComfyPage(page, host, frontend, recorder)
    try:
        comfy_page.open()
        yield comfy_page
    finally:
        context.close()


@pytest.fixture
def comfy_page(browser: Any, host: ComfyHost, frontend: str) -> Iterator[ComfyPage]:
    yield from _make_page(browser, host, frontend)


@pytest.fixture(scope="session")
def _shared_canvas_page(browser: Any, host: ComfyHost, frontend: str) -> Iterator[ComfyPage]:
    yield from _make_page(browser, host, frontend)


@pytest.fixture
def canvas_page(_shared_canvas_page: ComfyPage) -> ComfyPage:
    """One page per (host, frontend), shared by the tests that only build or load a graph and read the
    canvas (opening the frontend costs seconds; a shared page saves it per test). Each test gets it with an
    empty graph and an empty recorder. Tests that queue runs, open dialogs or record what the server sent
    use ``comfy_page`` (a fresh page) instead, so nothing an earlier test left in the DOM can satisfy a wait."""
    page = _shared_canvas_page
    page.clear()
    page.recorder.responses.clear()
    page.recorder.ws_frames.clear()
    page.recorder.page_errors.clear()
    page.recorder.aborted.clear()
    return page


@pytest.fixture
def page_without_pack_routes(browser: Any, host: ComfyHost, frontend: str) -> Iterator[ComfyPage]:
    yield from _make_page(browser, host, frontend, missing="/luma_fal/")


@pytest.fixture
def keyless_page(browser: Any, keyless_host: ComfyHost, frontend: str) -> Iterator[ComfyPage]:
    yield from _make_page(browser, keyless_host, frontend)


@pytest.fixture
def clean_key_file(keyless_host: ComfyHost) -> Iterator[Path]:
    """The keyless server's key file, absent before and after the test (only the key file: the pack's
    folder also holds the request journal the running server keeps open)."""
    path = keyless_host.user_dir / "comfyui-luma-fal" / "fal_key"
    path.unlink(missing_ok=True)
    yield path
    path.unlink(missing_ok=True)
