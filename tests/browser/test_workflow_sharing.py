"""A workflow saved from the pack on one frontend loads and runs unchanged on every other one: users share workflow
JSON files between installs whose frontends differ (1.32.9, 1.48.7, 1.58.1).

On each host, each frontend edits the chained example (Uni-1 text-to-image -> edit -> Ray 3.2 image-to-video) away
from its defaults and saves it (``graph.serialize()``, what Save and Export write). Every other frontend loads that
file: the node ids, types, links and the pack's widget values it then saves are the ones it loaded, and the
pack's nodes in the API prompt it would queue are those of the prompt the saving frontend would queue. The
newest frontend's file, loaded on the frontend the host ships, is then run, and the requests fal receives
carry the edited values.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.conftest import _make_page, _post_settings
from tests.e2e.pack_helpers import submits
from tests.support.comfy_fixtures import host_server
from tools.layout import ALL_FRONTENDS, HOSTS, TEST_OUTPUT

EXAMPLE = "luma_chain_image_edit_video"


def _graph_facts(workflow: dict[str, Any]) -> dict[str, Any]:
    """What a shared file must keep: each node's id and type, the pack's nodes' widget values, and the links.
    (Core nodes may differ between frontends: 1.32.9 saves 0.33.0's SaveVideo without the codec of its
    dynamic combo, which it does not know.)"""
    nodes = {n["id"]: (n["type"], n.get("widgets_values") if n["type"].startswith("LumaFal") else None)
             for n in workflow["nodes"]}
    links = sorted(tuple(link[:6]) if isinstance(link, list) else
                   (link["id"], link["origin_id"], link["origin_slot"], link["target_id"], link["target_slot"],
                    link["type"]) for link in workflow["links"])
    return {"nodes": nodes, "links": links}


def _pack_prompt(prompt: dict[str, Any]) -> dict[str, Any]:
    """The API prompt's nodes, with the inputs of the pack's nodes (links included)."""
    return {nid: (node["class_type"], node["inputs"] if node["class_type"].startswith("LumaFal") else None)
            for nid, node in prompt.items()}


def _edit(page: Any, seed: int) -> None:
    """Away from the example's defaults, on each of its paid nodes."""
    by_type = {n["type"]: n["id"] for n in page.nodes()}
    page.set_widget(by_type["LumaFalUni1TextToImage"], "aspect_ratio", "1:1")
    page.set_widget(by_type["LumaFalUni1TextToImage"], "seed", seed)
    page.set_widget(by_type["LumaFalUni1ImageEdit"], "prompt", f"Give the fox a scarf, shared {seed}")
    page.set_widget(by_type["LumaFalRay32ImageToVideo"], "resolution", "720p")
    page.set_widget(by_type["LumaFalRay32ImageToVideo"], "loop", True)


@pytest.fixture
def pages(browser: Any, comfy_factory: Any, comfy_version: str) -> Iterator[dict[str, Any]]:
    """One page per frontend, each on a server of this host serving that frontend."""
    opened: dict[str, Any] = {}
    closers = []
    for frontend in ALL_FRONTENDS:
        host = host_server(comfy_factory, comfy_version, frontend)
        _post_settings(host.url)
        pages_of = _make_page(browser, host, frontend)
        opened[frontend] = next(pages_of)
        closers.append(pages_of)
    try:
        yield opened
    finally:
        for pages_of in closers:
            pages_of.close()


def test_a_workflow_saved_on_each_frontend_loads_and_runs_unchanged_on_the_others(pages: dict[str, Any],
                                                                                 comfy_sandbox: Any) -> None:
    shared = TEST_OUTPUT / "shared-workflows"
    shared.mkdir(parents=True, exist_ok=True)
    saved: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
    for frontend, page in pages.items():
        page.load_workflow(page.host.example_workflow(EXAMPLE))
        _edit(page, random.randint(1, 2**31 - 1))
        workflow = page.serialize()
        (shared / f"{page.version}-saved-on-{frontend}.json").write_text(json.dumps(workflow))
        saved[frontend] = (workflow, page.api_prompt())

    for source, (workflow, prompt) in saved.items():
        for frontend, page in pages.items():
            if frontend == source:
                continue
            page.load_workflow(workflow)
            what = f"saved on {source}, loaded on {frontend}"
            assert _graph_facts(page.serialize()) == _graph_facts(workflow), what
            assert _pack_prompt(page.api_prompt()) == _pack_prompt(prompt), what

    # The newest frontend's file, loaded on the frontend this host ships, runs: fal receives the edited values.
    page = pages[HOSTS[page.version].frontend]
    page.load_workflow(saved[ALL_FRONTENDS[-1]][0])
    result = page.host.run(page.api_prompt())
    assert result.ok, result.describe()
    payloads = {c["endpoint_id"]: c.get("payload") for c in submits(comfy_sandbox)}
    t2i = next(p for e, p in payloads.items() if e.endswith("uni-1/v1/text-to-image"))
    i2v = next(p for e, p in payloads.items() if e.endswith("ray/v3.2/image-to-video"))
    assert t2i is not None and t2i["aspect_ratio"] == "1:1", payloads
    assert i2v is not None and i2v["resolution"] == "720p" and i2v["loop"] is True, payloads
