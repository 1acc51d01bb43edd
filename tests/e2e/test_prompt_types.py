"""Widget values of the wrong type in an API-format prompt are refused by POST /prompt (a 400 from
ComfyUI's own validation), naming the node and the input, before anything runs or is sent.

ComfyUI turns the string "false" into True (and 3.7 into 3, "nan" into NaN, 5 into "5") before a
node runs; the pack's on-prompt hook sees the raw prompt. The expected widget types are read from the
server's /object_info, i.e. the nodes' own schemas, so every widget of every pack node is covered.
"""

from __future__ import annotations

from typing import Any

import pytest

from tools.layout import PACK_NODE_IDS

Prompt = dict[str, Any]
WIDGET_TYPES = ("BOOLEAN", "INT", "FLOAT", "STRING", "COMBO")

# Per widget type, wrong values and how the refusal must describe them. Round k of the matrix below
# gives every widget of a node its type's k-th wrong value (cycling), so each value is tried everywhere.
WRONG: dict[str, list[tuple[Any, str]]] = {
    "BOOLEAN": [("false", 'got the string "false"'), ("true", 'got the string "true"'), (0, "got the number 0"),
                (None, "got null"), ("no", 'got the string "no"')],
    "INT": [(3.7, "got the number 3.7"), ("5", 'got the string "5"'), (True, "got the boolean true"),
            (float("inf"), "got the number Infinity"), ([1, 2, 3], "got a list of 3 items")],
    "FLOAT": [("nan", 'got the string "nan"'), (float("nan"), "got the number NaN"), (True, "got the boolean true"),
              ("inf", 'got the string "inf"'), ("0.5", 'got the string "0.5"')],
    "STRING": [(5, "got the number 5"), (["a", "b", "c"], "got a list of 3 items"), (True, "got the boolean true"),
               (2.5, "got the number 2.5"), ({"text": "x"}, "got an object")],
    "COMBO": [("not-an-option", 'got the string "not-an-option"'), (1, "got the number 1"),
              (True, "got the boolean true"), (None, "got null"), ("", 'got the string ""')],
}
ROUNDS = 5
EXPECTED = {"BOOLEAN": "a boolean (true/false)", "INT": "a whole number", "FLOAT": "a finite number",
            "STRING": "text (a string)"}


def _widgets(info: dict[str, Any]) -> dict[str, tuple[str, dict[str, Any], list[Any]]]:
    """{input: (widget type, its options dict, combo options)} for every widget input of a node."""
    found = {}
    for section in ("required", "optional"):
        for name, spec in info["input"].get(section, {}).items():
            kind, extra = spec[0], (spec[1] if len(spec) > 1 else {})
            if isinstance(kind, list):
                found[name] = ("COMBO", extra, kind)
            elif kind in WIDGET_TYPES:
                found[name] = (kind, extra, list(extra.get("options", [])) if kind == "COMBO" else [])
    return found


def _default(kind: str, extra: dict[str, Any], options: list[Any]) -> Any:
    if kind == "COMBO":
        return extra.get("default", options[0])
    return extra.get("default", {"BOOLEAN": False, "INT": 0, "FLOAT": 0.0, "STRING": ""}[kind])


def base_prompt(comfy: Any, class_type: str) -> tuple[Prompt, str]:
    """A prompt whose only node of the pack holds every widget's default (and whose required IMAGE is a
    LoadImage); the video-to-frames node feeds a PreviewAny so that ComfyUI validates it."""
    info = comfy.client.object_info(class_type)[class_type]
    inputs: dict[str, Any] = {name: _default(*w) for name, w in _widgets(info).items()}
    prompt: Prompt = {"1": {"class_type": "LoadImage", "inputs": {"image": "example.png"}}}
    for name, spec in info["input"].get("required", {}).items():
        if spec[0] == "IMAGE":
            inputs[name] = ["1", 0]
    prompt["5"] = {"class_type": class_type, "inputs": inputs}
    if not info.get("output_node"):
        prompt["9"] = {"class_type": "PreviewAny", "inputs": {"source": ["5", 2]}}
    return prompt, "5"


def post(comfy: Any, body: Any) -> tuple[int, Any]:
    reply = comfy.client.post_json("/prompt", body)
    return reply.status_code, reply.json() if reply.headers.get("content-type", "").startswith("application/json") \
        else reply.text


def node_error_details(answer: dict[str, Any], node_id: str) -> list[str]:
    return [e["details"] for e in answer["node_errors"][node_id]["errors"]]


@pytest.mark.parametrize("round_", range(ROUNDS))
@pytest.mark.parametrize("class_type", PACK_NODE_IDS)
def test_every_widget_of_every_node_refuses_a_wrong_type(comfy, comfy_sandbox, class_type, round_) -> None:
    prompt, node_id = base_prompt(comfy, class_type)
    info = comfy.client.object_info(class_type)[class_type]
    display = info["display_name"]
    widgets = _widgets(info)
    assert widgets, f"{class_type} shows no widgets in /object_info"
    expected: dict[str, str] = {}
    for index, (name, (kind, _, options)) in enumerate(sorted(widgets.items())):
        value, described = WRONG[kind][(round_ + index) % len(WRONG[kind])]
        prompt[node_id]["inputs"][name] = value
        wanted = EXPECTED.get(kind) or "one of " + ", ".join(options)
        expected[name] = f"{name}: expected {wanted}, {described}"

    status, answer = post(comfy, {"prompt": prompt})

    assert status == 400, answer
    details = node_error_details(answer, node_id)
    text = "\n".join(details)
    # A wrong COMBO stops ComfyUI's check of the node with one error listing every problem; otherwise
    # each input has its own error. Either way each problem shows once (the hook ran once: a refusal is
    # never refused again), under the node's name and id, and nothing else in the base prompt is wrong.
    for name, explanation in expected.items():
        assert text.count(explanation) == 1, f"{name}: {explanation!r} not once in {details}"
    assert all(f"{display}, node {node_id}: " in d for d in details), details
    assert comfy_sandbox.log() == []


def test_the_string_false_for_loop_is_refused_with_a_readable_message(comfy, comfy_sandbox) -> None:
    prompt, node_id = base_prompt(comfy, "LumaFalRay32TextToVideo")
    prompt[node_id]["inputs"].update(prompt="a lighthouse at dusk", loop="false")

    status, answer = post(comfy, {"prompt": prompt})

    assert status == 400, answer
    (error,) = answer["node_errors"][node_id]["errors"]
    assert error["message"] == "Failed to convert an input value to a BOOLEAN value"
    assert error["details"] == (
        'loop, Luma Ray 3.2 Text to Video (fal), node 5: loop: expected a boolean (true/false), got the string '
        '"false", nothing was sent to fal (not billed)')
    assert answer["node_errors"][node_id]["class_type"] == "LumaFalRay32TextToVideo"
    assert comfy_sandbox.log() == []


def test_values_that_keep_their_meaning_pass(comfy, comfy_sandbox) -> None:
    """An int for a FLOAT, a whole float for an INT, a __value__-wrapped value and links all pass."""
    prompt, node_id = base_prompt(comfy, "LumaFalRay32Reframe")
    prompt["2"] = {"class_type": "PrimitiveBoolean", "inputs": {"value": True}}
    prompt["3"] = {"class_type": "PrimitiveString", "inputs": {"value": "a wide harbour"}}
    prompt[node_id]["inputs"].update(
        source_fps=24, source_x=0, seed=7.0, frames_cap={"__value__": 3}, place_source=["2", 0], prompt=["3", 0],
        max_queue_wait=600.0)

    result = comfy.run(prompt)  # raises PromptRejected on a 400

    # Accepted, converted by ComfyUI and run: the node itself then refuses the missing source video.
    assert result.status == "error", result.describe()
    assert result.error["node_type"] == "LumaFalRay32Reframe"
    assert "nothing was sent to fal" in result.error["exception_message"]
    assert "video" in result.error["exception_message"]
    assert comfy_sandbox.log() == []


def test_wrapped_wrong_value_is_refused(comfy, comfy_sandbox) -> None:
    prompt, node_id = base_prompt(comfy, "LumaFalUni1TextToImage")
    prompt[node_id]["inputs"]["web_search"] = {"__value__": "false"}

    status, answer = post(comfy, {"prompt": prompt})

    assert status == 400, answer
    assert any('web_search: expected a boolean (true/false), got the string "false"' in d
               for d in node_error_details(answer, node_id))


def test_prompts_without_pack_nodes_are_left_to_comfyui(comfy) -> None:
    # Core converts "false" to True for its own nodes; the pack does not judge other packs' nodes.
    prompt = {"1": {"class_type": "PrimitiveBoolean", "inputs": {"value": "false"}},
              "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}}}
    result = comfy.run(prompt)
    assert result.ok, result.describe()
    assert result.outputs["2"]["text"] == ["True"]


@pytest.mark.parametrize("body", [
    ["not", "a", "dict"],
    {"prompt": ["a", "list"]},
    {"prompt": {"1": "a string node"}},
    {"prompt": {"1": ["a", "list", "node"], "2": {"class_type": "LumaFalRay32TextToVideo"}}},
    {"prompt": {"2": {"class_type": "LumaFalRay32TextToVideo", "inputs": "not a dict"}}},
    {"prompt": {"2": {"class_type": 5, "inputs": {}}}},
    {"prompt": {"2": {"class_type": "LumaFalRay32TextToVideo", "inputs": {}, "_meta": {"title": "x"}, "extra": 1}}},
], ids=["body-list", "prompt-list", "node-string", "node-list", "inputs-string", "class-type-number",
        "inputs-missing-extra-keys"])
def test_odd_prompt_shapes_never_trip_the_hook(comfy, body) -> None:
    before = comfy.log_text().count("on_prompt_handler")
    status, _ = post(comfy, body)
    assert status in (400, 500)  # ComfyUI's own answer to a malformed prompt
    assert comfy.log_text().count("on_prompt_handler") == before, "the pack's prompt hook raised"
    assert "prompt type check failed" not in comfy.log_text()
    assert comfy.client.system_stats()["system"]  # the server is still serving


def test_odd_neighbours_do_not_hide_a_wrong_type(comfy, comfy_sandbox) -> None:
    prompt, node_id = base_prompt(comfy, "LumaFalRay32ImageToVideo")
    prompt[node_id]["inputs"]["hdr"] = "true"
    prompt[node_id]["_meta"] = {"title": "renamed by the user"}
    prompt[node_id]["inputs"]["not_an_input"] = "ignored"
    # Another pack node with every input missing: core reports it. (Its "inputs" key stays: without one,
    # ComfyUI 0.3.75 queues the prompt when another output is valid, and its prompt worker then dies.)
    prompt["7"] = {"class_type": "LumaFalRay32TextToVideo", "inputs": {}, "is_changed": None}

    status, answer = post(comfy, {"prompt": prompt})

    assert status == 400, answer
    assert any('hdr: expected a boolean (true/false), got the string "true"' in d
               for d in node_error_details(answer, node_id))
    assert comfy_sandbox.log() == []
