"""Dynamic combos as ComfyUI 0.33.0's own frontend (1.48.7) saves them, and tools/workflow_api.py reading
them.

Core SaveVideo's ``codec`` is a dynamic combo there: choosing ``h264`` adds ``codec.encoding``, choosing
``re-encode`` adds ``codec.encoding.crf``. The page builds a graph with three SaveVideo nodes (one per
depth) the way a user does, and what it saves must be what tests/support/workflows/ holds (the fixture the
e2e test queues); then the converter must turn the fixture into exactly the prompt the frontend queues.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.workflows import SAVEVIDEO_DYNAMIC_COMBO, load_workflow
from tools.layout import TEST_OUTPUT
from tools.workflow_api import ui_to_api

pytestmark = pytest.mark.hosts("0.33.0")

# SaveVideo codec settings, each a chain of dynamic-combo choices set one level at a time.
CODEC_CHOICES: list[list[tuple[str, Any]]] = [
    [("codec", "auto")],
    [("codec", "h264"), ("codec.encoding", "auto")],
    [("codec", "h264"), ("codec.encoding", "re-encode"), ("codec.encoding.crf", 30)],
]


def build_savevideo_graph(canvas_page: Any) -> None:
    """LoadImage -> RepeatImageBatch -> CreateVideo -> three SaveVideo nodes, one per codec depth."""
    canvas_page.clear()
    load = canvas_page.add_node("LoadImage", 50, 50)
    canvas_page.set_widget(load, "image", "example.png")
    repeat = canvas_page.add_node("RepeatImageBatch", 400, 50)
    canvas_page.set_widget(repeat, "amount", 24)
    video = canvas_page.add_node("CreateVideo", 700, 50)
    canvas_page.connect(load, "IMAGE", repeat, "image")
    canvas_page.connect(repeat, "IMAGE", video, "images")
    for row, choices in enumerate(CODEC_CHOICES):
        save = canvas_page.add_node("SaveVideo", 1050, 50 + 300 * row)
        canvas_page.set_widget(save, "filename_prefix", f"luma-fal/dynamic-combo-{row}")
        canvas_page.connect(video, "VIDEO", save, "video")
        for name, value in choices:  # each choice makes the next widget appear
            canvas_page.set_widget(save, name, value)
    canvas_page.redraw()


def _shape(workflow: dict[str, Any]) -> list[tuple[Any, ...]]:
    """What a saved workflow means, without layout: per node its type, widget values, inputs and links."""
    links = {link[0]: tuple(link[1:5]) for link in workflow["links"]}
    return [
        (n["type"], n.get("widgets_values"),
         [(i["name"], links.get(i.get("link"))) for i in n.get("inputs", [])])
        for n in sorted(workflow["nodes"], key=lambda n: n["id"])
    ]


def test_frontend_saves_nested_dynamic_combo_values_as_the_fixture_holds(canvas_page: Any) -> None:
    build_savevideo_graph(canvas_page)
    saved = canvas_page.serialize()
    # The fresh capture, kept with the test artifacts: copy it over the fixture if the frontend changes.
    capture = TEST_OUTPUT / "browser" / f"savevideo-dynamic-combo-frontend-{canvas_page.frontend}.json"
    capture.parent.mkdir(parents=True, exist_ok=True)
    capture.write_text(json.dumps(saved, indent=1) + "\n")

    saves = [n for n in saved["nodes"] if n["type"] == "SaveVideo"]
    assert [n["widgets_values"][2:] for n in saves] == [[v for _, v in c] for c in CODEC_CHOICES]
    fixture = load_workflow(SAVEVIDEO_DYNAMIC_COMBO)
    assert _shape(saved) == _shape(fixture), f"the frontend now saves {capture}"


def test_converter_gives_the_prompt_the_frontend_queues(canvas_page: Any) -> None:
    workflow = load_workflow(SAVEVIDEO_DYNAMIC_COMBO)
    canvas_page.load_workflow(workflow)
    # Loading must restore every nested widget, or the comparison below would prove nothing.
    widgets = {n["id"]: n["widgets"] for n in canvas_page.nodes() if n["type"] == "SaveVideo"}
    assert sorted(w.get("codec.encoding.crf") for w in widgets.values() if "codec.encoding.crf" in w) == [30]
    expected = canvas_page.api_prompt()
    converted = ui_to_api(workflow, canvas_page.host.client.object_info())
    assert converted == expected
    assert {k: v for k, v in converted[str(max(widgets))]["inputs"].items() if k.startswith("codec")} == {
        "codec": "h264", "codec.encoding": "re-encode", "codec.encoding.crf": 30,
    }
