"""Widget values in an API-format prompt must be what the widget claims: refuse the rest, readably.

Scripts write API-format prompts as often as the frontend does. ComfyUI converts widget values with
``bool()``, ``int()``, ``float()`` and ``str()`` before a node runs, so the string ``"false"`` for a
BOOLEAN arrives as ``True``, ``3.7`` for an INT as ``3``, ``"nan"`` for a FLOAT as NaN (which passes
min/max), and the number ``5`` for a STRING as ``"5"``: a paid request with a meaning nobody chose.
The node cannot tell, so the raw prompt is checked in ComfyUI's on-prompt hook.

A hook cannot refuse by raising (ComfyUI logs and ignores that), so an offending input is replaced
by a value ComfyUI's own validation rejects: text that explains the problem, of a ``str`` subclass
whose conversion to the widget's type fails (a COMBO gets a link that cannot be followed, see
``_RefusedLinkSource``). POST /prompt then answers 400 with ComfyUI's usual node error, whose details
carry the explanation. This module knows no ComfyUI: it works on dicts.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

NOTHING_SENT = "nothing was sent to fal (not billed)"
_MAX_OPTIONS_LISTED = 20
_MAX_SHOWN_CHARS = 60


@dataclass(frozen=True)
class WidgetSpec:
    """What one widget input accepts: ``kind`` is BOOLEAN, INT, FLOAT, STRING or COMBO."""

    kind: str
    options: tuple[Any, ...] = ()


@dataclass(frozen=True)
class NodeSpec:
    display_name: str
    widgets: Mapping[str, WidgetSpec]


# -- what is wrong with a value ---------------------------------------------------------------------


def describe(value: Any) -> str:
    """A value as a user who wrote JSON would recognise it."""
    if isinstance(value, bool):
        return f"the boolean {'true' if value else 'false'}"
    if value is None:
        return "null"
    if isinstance(value, (int, float)):
        return f"the number {_number_text(value)}"
    if isinstance(value, str):
        shown = value if len(value) <= _MAX_SHOWN_CHARS else value[:_MAX_SHOWN_CHARS] + "..."
        return f"the string {json.dumps(shown)}"
    if isinstance(value, list):
        return f"a list of {len(value)} item{'s' if len(value) != 1 else ''}"
    if isinstance(value, dict):
        return "an object"
    return f"a {type(value).__name__}"


def _number_text(value: float) -> str:
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    if isinstance(value, float) and math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return repr(value)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)  # True is an int to Python, not to a user


def widget_problem(spec: WidgetSpec, value: Any) -> str | None:
    """Why ``value`` is not a value of this widget, or None when it is.

    Only conversions that keep the meaning pass: an int for a FLOAT, a whole float (3.0) for an INT.
    Everything ComfyUI would otherwise bend into another value is refused.
    """
    if spec.kind == "BOOLEAN":
        ok = isinstance(value, bool)
        expected = "a boolean (true/false)"
    elif spec.kind == "INT":
        ok = _is_int(value) or (isinstance(value, float) and value.is_integer())  # inf and NaN are not
        expected = "a whole number"
    elif spec.kind == "FLOAT":
        ok = _is_int(value) or (isinstance(value, float) and math.isfinite(value))
        expected = "a finite number"
    elif spec.kind == "STRING":
        ok = isinstance(value, str)
        expected = "text (a string)"
    elif spec.kind == "COMBO":
        # Same value and same type: True == 1 and 1.0 == 1 in Python, but not in a dropdown.
        ok = any(type(value) is type(option) and value == option for option in spec.options)
        expected = _one_of(spec.options)
    else:
        return None
    return None if ok else f"expected {expected}, got {describe(value)}"


def _one_of(options: tuple[Any, ...]) -> str:
    if len(options) > _MAX_OPTIONS_LISTED:
        return f"one of the {len(options)} listed options"
    return "one of " + ", ".join(str(o) for o in options)


def is_link(value: Any) -> bool:
    """ComfyUI reads every two-item list as a link [node_id, output_slot]; those are core's to check."""
    return isinstance(value, list) and len(value) == 2


# -- values ComfyUI's validation rejects -----------------------------------------------------------


class _Refusal(str):
    """Explanation text standing in for a refused value.

    Each subclass fails exactly the conversion ComfyUI's validate_inputs applies to its widget type,
    with an exception ComfyUI adds to the node error's details. Everything else (JSON, repr, f-strings,
    deepcopy) sees plain text, so a prompt carrying one can still be logged or shown.
    """

    __slots__ = ()

    def _refuse(self, *_: Any) -> Any:
        raise ValueError(NOTHING_SENT)

    def __format__(self, spec: str) -> str:  # f-strings must not go through a refusing __str__
        return format(str.__str__(self), spec)


class _RefusedBoolean(_Refusal):
    __slots__ = ()
    __bool__ = _Refusal._refuse


class _RefusedInt(_Refusal):
    __slots__ = ()
    __int__ = __index__ = __trunc__ = _Refusal._refuse


class _RefusedFloat(_Refusal):
    __slots__ = ()
    __float__ = _Refusal._refuse


class _RefusedString(_Refusal):
    __slots__ = ()
    __str__ = _Refusal._refuse


class _RefusedLinkSource(int):
    """The source node id of a link that cannot be followed: looking it up in the prompt fails with
    the explanation.

    ComfyUI 0.3.75 converts nothing and checks nothing for a V3 COMBO value, so text would pass; the
    one shape every host rejects there is a link, which both hosts resolve with ``prompt[node_id]``
    first thing. The lookup hashes this id, which raises, and ComfyUI reports "Exception when
    validating node" with the explanation as details. An int (not a str) so that 0.33.0's node
    replacement pass, which indexes every ``[str, int]`` link before validation, skips it, and so that
    the value stays JSON.
    """

    explanation: str

    def __new__(cls, explanation: str) -> _RefusedLinkSource:
        source = super().__new__(cls, 0)
        source.explanation = explanation
        return source

    def __hash__(self) -> int:
        raise ValueError(self.explanation)

    def __eq__(self, other: object) -> bool:
        return self is other


_REFUSAL_BY_KIND: dict[str, type[str]] = {
    "BOOLEAN": _RefusedBoolean, "INT": _RefusedInt, "FLOAT": _RefusedFloat, "STRING": _RefusedString,
}


def refusal(kind: str, explanation: str) -> Any:
    """A value ComfyUI's validation of a ``kind`` widget rejects, showing ``explanation``."""
    if kind == "COMBO":
        return [_RefusedLinkSource(f"{explanation}; {NOTHING_SENT}"), 0]
    return _REFUSAL_BY_KIND.get(kind, _RefusedString)(explanation)


# -- the prompt ------------------------------------------------------------------------------------


def node_problems(node: Any, spec: NodeSpec) -> dict[str, str]:
    """{input name: "name: what is wrong"} for every widget of a pack node holding a wrong value."""
    inputs = node.get("inputs") if isinstance(node, dict) else None
    if not isinstance(inputs, dict):
        return {}  # ComfyUI reports a node without inputs itself
    problems: dict[str, str] = {}
    for name, widget in spec.widgets.items():
        if name not in inputs:
            continue  # missing: ComfyUI says "Required input is missing", or the default applies
        value = inputs[name]
        if isinstance(value, dict) and "__value__" in value:
            value = value["__value__"]  # ComfyUI unwraps this before converting
        if is_link(value):
            continue
        problem = widget_problem(widget, value)
        if problem is not None:
            problems[name] = f"{name}: {problem}"
    return problems


def _explanations(node_id: str, spec: NodeSpec, problems: dict[str, str]) -> dict[str, str]:
    """The text each refused input shows, naming the node (display name and id) and the input.

    A COMBO refusal stops ComfyUI's validation of the node with an exception, which drops the node's
    other errors; so a COMBO refusal carries every problem of the node.
    """
    head = f"{spec.display_name}, node {node_id}: "
    everything = head + "; ".join(problems.values())
    return {name: everything if spec.widgets[name].kind == "COMBO" else head + problem
            for name, problem in problems.items()}


def refuse_wrong_types(json_data: Any, specs: Mapping[str, NodeSpec]) -> Any:
    """The POST /prompt body with every wrongly typed widget value of the pack's nodes replaced by a
    refusal. Bodies, prompts and nodes of any other shape pass through unchanged (ComfyUI judges them);
    the caller's dicts are never modified: changed levels are copied."""
    if not isinstance(json_data, dict):
        return json_data
    prompt = json_data.get("prompt")
    if not isinstance(prompt, dict):
        return json_data
    new_prompt: dict[Any, Any] | None = None
    for node_id, node in prompt.items():
        class_type = node.get("class_type") if isinstance(node, dict) else None
        spec = specs.get(class_type) if isinstance(class_type, str) else None
        if spec is None:
            continue
        problems = node_problems(node, spec)
        if not problems:
            continue
        inputs = dict(node["inputs"])
        for name, explanation in _explanations(str(node_id), spec, problems).items():
            inputs[name] = refusal(spec.widgets[name].kind, explanation)
        if new_prompt is None:
            new_prompt = dict(prompt)
        new_prompt[node_id] = {**node, "inputs": inputs}
    if new_prompt is None:
        return json_data
    return {**json_data, "prompt": new_prompt}
