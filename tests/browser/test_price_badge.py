"""Every LumaFal node shows exactly one price badge, and it says what ``price_of()`` says for its settings.

Who draws it depends on the host: ComfyUI 0.33.0 declares it in the node definition (JSONata generated
by nodes/comfy/price_badge.py) and its frontend draws it like every core API node's; on 0.3.75 the pack's
own JavaScript badge (web/price.js) draws it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.browser.badges import assert_one_badge, node_screenshot
from tests.browser.conftest import _make_page, _post_settings
from tests.comfy.badge_expect import expected_badge
from tools.harness import EXAMPLE_WORKFLOWS
from tools.layout import HOSTS

def example_paths() -> list[Path]:
    return sorted(EXAMPLE_WORKFLOWS.glob("*.json"))


@pytest.mark.parametrize("path", example_paths(), ids=lambda p: p.stem)
def test_example_workflow_badges_match_price_of(comfy_page: Any, path: Path) -> None:
    comfy_page.load_workflow(json.loads(path.read_text()))
    nodes = comfy_page.nodes()
    pack_nodes = [n for n in nodes if n["type"].startswith("LumaFal")]
    assert pack_nodes, f"{path.name} has no LumaFal node"
    for i, node in enumerate(pack_nodes):
        assert_one_badge(comfy_page, node["id"], expected_badge(node), f"{path.name} {node['type']}",
                         settle=i == len(pack_nodes) - 1)
    # Other nodes are left alone: the extension never attaches its state to them.
    foreign = comfy_page.page.evaluate(
        "() => window.app.graph._nodes.filter(n => !n.type.startsWith('LumaFal') && n.lumaFal).map(n => n.type)"
    )
    assert foreign == []
    comfy_page.screenshot(f"badges-{path.stem}")


def _node_of(comfy_page: Any, node_type: str) -> dict[str, Any]:
    return next(n for n in comfy_page.nodes() if n["type"] == node_type)


def _check(comfy_page: Any, node_type: str, wanted: str) -> None:
    node = _node_of(comfy_page, node_type)
    expected = expected_badge(node)
    assert expected == wanted, "the test's own expectation drifted from the price table"
    assert_one_badge(comfy_page, node["id"], expected, node_type)


@pytest.mark.parametrize(
    ("workflow", "node_type", "changes", "wanted"),
    [
        ("luma_ray32_image_to_video", "LumaFalRay32ImageToVideo",
         {"resolution": "1080p", "duration": "10s"}, "$4.00"),
        ("luma_ray32_image_to_video", "LumaFalRay32ImageToVideo",
         {"resolution": "720p", "hdr": True}, "price not published"),
        ("luma_ray32_video_to_video", "LumaFalRay32VideoToVideo",
         {"resolution": "1080p", "duration": "10s", "hdr": True, "exr_export": True}, "$12.96"),
        ("luma_ray32_text_to_video", "LumaFalRay32TextToVideo",
         {"resolution": "720p"}, "price not published (image-to-video: $1.00)"),
        ("luma_uni1_text_to_image", "LumaFalUni1TextToImage", {"model": "uni-1 max"}, "price not published"),
    ],
    ids=["i2v-1080p-10s", "i2v-hdr", "v2v-hdr-exr", "t2v-hint", "uni1-max"],
)
def test_badge_follows_widget_changes(comfy_page: Any, workflow: str, node_type: str, changes: dict[str, Any],
                                      wanted: str) -> None:
    comfy_page.load_workflow(comfy_page.host.example_workflow(workflow))
    node_id = _node_of(comfy_page, node_type)["id"]
    for name, value in changes.items():
        comfy_page.set_widget(node_id, name, value)
    _check(comfy_page, node_type, wanted)
    comfy_page.screenshot(f"badge-change-{workflow}-{'-'.join(changes)}")


def test_badge_counts_connected_references(comfy_page: Any) -> None:
    comfy_page.load_workflow(comfy_page.host.example_workflow("luma_uni1_image_edit"))
    _check(comfy_page, "LumaFalUni1ImageEdit", "$0.045 (1 image + 1 input image)")
    # Connect the loaded image to the references input as well: one more billed input image, at least.
    comfy_page.page.evaluate(
        """() => {
            const g = window.app.graph;
            const load = g._nodes.find(n => n.type === 'LoadImage');
            const edit = g._nodes.find(n => n.type === 'LumaFalUni1ImageEdit');
            load.connect(0, edit, edit.inputs.findIndex(i => i.name === 'references'));
        }"""
    )
    _check(comfy_page, "LumaFalUni1ImageEdit", "from $0.048 (1 image + 2 input images)")
    comfy_page.screenshot("badge-edit-with-reference")


def test_text_to_video_shows_one_badge_that_follows_resolution_and_duration(comfy_page: Any) -> None:
    comfy_page.load_workflow(comfy_page.host.example_workflow("luma_ray32_text_to_video"))
    node_id = _node_of(comfy_page, "LumaFalRay32TextToVideo")["id"]
    texts = []
    for name, value in (("resolution", "1080p"), ("duration", "10s"), (None, None)):
        expected = expected_badge(_node_of(comfy_page, "LumaFalRay32TextToVideo"))
        assert expected and not expected.startswith("price unknown")
        assert_one_badge(comfy_page, node_id, expected, "text-to-video", settle=not texts)
        texts.append(expected)
        if name == "duration":
            node_screenshot(comfy_page, node_id, "t2v-badge")
        if name is not None:
            comfy_page.set_widget(node_id, name, value)
    assert len(set(texts)) == 3, f"each change should change the badge: {texts}"


@pytest.mark.hosts("0.33.0")
def test_old_frontend_on_a_new_host_gets_the_packs_badge(browser: Any, comfy_factory: Any, comfy_version: str) -> None:
    """0.33.0 declares the badge, but a frontend that predates declared badges (1.32.9, started with
    --front-end-root) cannot draw it: the pack's own badge shows instead, once."""
    old = HOSTS["0.3.75"]
    static = next(old.python.parent.parent.glob("lib/python3*/site-packages/comfyui_frontend_package/static"))
    host = comfy_factory(f"{comfy_version}-old-frontend-{old.frontend}", front_end_root=static, host=comfy_version)
    _post_settings(host.url)
    for page in _make_page(browser, host, old.frontend):
        page.load_workflow(page.host.example_workflow("luma_ray32_text_to_video"))
        node = _node_of(page, "LumaFalRay32TextToVideo")
        assert_one_badge(page, node["id"], expected_badge(node), "text-to-video", drawn_by="pack", settle=True)
        node_screenshot(page, node["id"], "t2v-badge")
