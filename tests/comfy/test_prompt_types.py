"""refuse_wrong_types on plain dicts: what is refused, what passes, and odd shapes left alone.

The end-to-end proof that ComfyUI then answers 400 is tests/e2e/test_prompt_types.py; these cases pin
the rules and the hook's manners (it never changes the caller's dicts, never chokes on a shape).
"""

from __future__ import annotations

import copy
import json
import math

import pytest

from nodes.comfy.rules.prompt_types import NodeSpec, WidgetSpec, refuse_wrong_types, widget_problem

SPECS = {"Pack": NodeSpec("Pack Node", {
    "flag": WidgetSpec("BOOLEAN"), "count": WidgetSpec("INT"), "level": WidgetSpec("FLOAT"),
    "text": WidgetSpec("STRING"), "choice": WidgetSpec("COMBO", ("a", "b")), "number": WidgetSpec("COMBO", (1, 2)),
})}

PASS = [("BOOLEAN", True), ("BOOLEAN", False), ("INT", 3), ("INT", 3.0), ("INT", -2**40), ("FLOAT", 1),
        ("FLOAT", 0.25), ("STRING", ""), ("STRING", "text"), ("COMBO", "a")]
REFUSE = [("BOOLEAN", "false"), ("BOOLEAN", 1), ("BOOLEAN", None), ("INT", 3.7), ("INT", "5"), ("INT", True),
          ("INT", math.nan), ("FLOAT", "nan"), ("FLOAT", math.inf), ("FLOAT", -math.inf), ("FLOAT", False),
          ("FLOAT", "0.5"), ("STRING", 5), ("STRING", ["a"]), ("STRING", None), ("COMBO", "c"), ("COMBO", 1),
          ("COMBO", ["a"])]


@pytest.mark.parametrize(("kind", "value"), PASS, ids=[f"{k}-{v!r}" for k, v in PASS])
def test_values_of_the_widget_type_pass(kind, value) -> None:
    assert widget_problem(WidgetSpec(kind, ("a", "b")), value) is None


@pytest.mark.parametrize(("kind", "value"), REFUSE, ids=[f"{k}-{v!r}" for k, v in REFUSE])
def test_values_that_would_change_meaning_are_refused(kind, value) -> None:
    assert widget_problem(WidgetSpec(kind, ("a", "b")), value).startswith("expected ")


def test_combo_compares_type_as_well_as_value() -> None:
    spec = WidgetSpec("COMBO", (1, 2))
    assert widget_problem(spec, 1) is None
    assert widget_problem(spec, True) is not None and widget_problem(spec, 1.0) is not None


def _body(**inputs):
    return {"prompt": {"3": {"class_type": "Pack", "inputs": inputs, "_meta": {"title": "t"}},
                       "4": {"class_type": "Other", "inputs": {"flag": "false"}}}, "client_id": "c"}


def test_each_wrong_value_becomes_a_refusal_core_cannot_convert() -> None:
    body = _body(flag="false", count=3.7, level="nan", text=5, choice="z", extra="kept")
    before = copy.deepcopy(body)
    out = refuse_wrong_types(body, SPECS)
    assert body == before, "the caller's dicts were changed"
    inputs = out["prompt"]["3"]["inputs"]
    for name, convert in (("flag", bool), ("count", int), ("level", float), ("text", str)):
        with pytest.raises(ValueError, match="nothing was sent to fal"):
            convert(inputs[name])
        assert f"{inputs[name]}".startswith(f"Pack Node, node 3: {name}: expected ")
    # The COMBO refusal is a link whose source id cannot be looked up; it carries every problem.
    source, slot = inputs["choice"]
    with pytest.raises(ValueError) as lookup:
        out["prompt"][source]
    assert "choice: expected one of a, b" in str(lookup.value) and "flag: expected a boolean" in str(lookup.value)
    assert slot == 0
    assert inputs["extra"] == "kept" and out["prompt"]["3"]["_meta"] == {"title": "t"} and out["client_id"] == "c"
    assert out["prompt"]["4"] is body["prompt"]["4"], "another pack's node was touched"
    json.dumps(out)  # still JSON: ComfyUI puts values into its error answer
    copy.deepcopy(out)


def test_links_wrapped_values_and_correct_values_leave_the_body_as_it_was() -> None:
    body = _body(flag=["1", 0], count={"__value__": 4}, level=0.5, text="x", choice="a", number=2)
    assert refuse_wrong_types(body, SPECS) is body


def test_a_wrapped_wrong_value_is_refused() -> None:
    out = refuse_wrong_types(_body(flag={"__value__": "false"}), SPECS)
    with pytest.raises(ValueError):
        bool(out["prompt"]["3"]["inputs"]["flag"])


@pytest.mark.parametrize("body", [
    None, [], "text", {"no": "prompt"}, {"prompt": ["a"]}, {"prompt": {"1": "node"}}, {"prompt": {"1": None}},
    {"prompt": {"1": {"class_type": ["Pack"], "inputs": {"flag": "x"}}}},
    {"prompt": {"1": {"class_type": "Pack"}}}, {"prompt": {"1": {"class_type": "Pack", "inputs": [1, 2]}}},
])
def test_odd_shapes_pass_through_unchanged(body) -> None:
    assert refuse_wrong_types(body, SPECS) is body
