"""Convert a UI-format workflow (what ``example_workflows/`` holds and the template browser loads) into the
API-format prompt that ``POST /prompt`` takes, using the server's ``/object_info``.

The UI format stores widget values positionally (``widgets_values``), in the order the frontend created the
widgets: the node's inputs in INPUT_TYPES order, required then optional, that have a widget. The frontend
also serialises a few widgets that are not inputs, and those values must be skipped:
- ``control_after_generate`` ("fixed" / "randomize" / ...) after an input that has it (seeds);
- the upload button after a combo with an ``*_upload`` option (e.g. LoadImage's ``image_upload``).
A widget input that is linked keeps its (stale) value in ``widgets_values``; the link wins.

Dynamic combos (``COMFY_DYNAMICCOMBO_V3``, ComfyUI 0.33.0+, e.g. core SaveVideo's ``codec``): the frontend
inserts the chosen option's own widgets right after the combo, named ``<combo>.<input>`` (required then
optional, in /object_info order), and a nested dynamic combo's option widgets right after it in turn, so
``widgets_values`` holds them depth-first: ``'h264', 're-encode', 23`` -> ``codec``, ``codec.encoding``,
``codec.encoding.crf``. The API prompt uses those dotted names as input keys, as the frontend's own
``graphToPrompt`` does.

Frontend-only nodes (notes, reroutes) are dropped; reroutes are followed to the real source. Muted nodes
(mode 2) are dropped with their links. Bypassed nodes (mode 4) and subgraphs are not supported.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

WIDGET_TYPES = frozenset({"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"})
DYNAMIC_COMBO = "COMFY_DYNAMICCOMBO_V3"
CONTROL_VALUES = frozenset({"fixed", "increment", "decrement", "randomize"})
# Seeds get a control widget from the frontend even when the node does not ask for one.
SEED_NAMES = frozenset({"seed", "noise_seed"})
FRONTEND_ONLY = frozenset({"Note", "MarkdownNote", "Reroute", "PrimitiveNode"})
MODE_MUTED = 2
MODE_BYPASSED = 4
_KEEP_WIDGET = object()


class WorkflowConversionError(ValueError):
    """The workflow cannot be turned into an API prompt; the message names the node and the reason."""


@dataclass(frozen=True)
class _Link:
    origin_id: int
    origin_slot: int
    target_id: int
    target_slot: int


def _links_of(workflow: dict[str, Any]) -> dict[int, _Link]:
    links: dict[int, _Link] = {}
    for raw in workflow.get("links") or []:
        if isinstance(raw, dict):  # schema version 1
            link = _Link(
                int(raw["origin_id"]), int(raw["origin_slot"]), int(raw["target_id"]), int(raw["target_slot"])
            )
            links[int(raw["id"])] = link
        else:  # [id, origin_id, origin_slot, target_id, target_slot, type]
            links[int(raw[0])] = _Link(int(raw[1]), int(raw[2]), int(raw[3]), int(raw[4]))
    return links


def _is_widget(spec: list[Any] | tuple[Any, ...]) -> bool:
    kind = spec[0] if spec else None
    opts = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
    if opts.get("forceInput"):
        return False
    return isinstance(kind, list) or kind in WIDGET_TYPES or kind == DYNAMIC_COMBO


def ordered_inputs(
    declared: dict[str, Any], order: dict[str, list[str]] | None = None
) -> list[tuple[str, list[Any]]]:
    """(name, spec) of every input of a declaration ({"required": {...}, "optional": {...}}), required then
    optional, in ``order`` (/object_info's input_order) when given, else in declaration order."""
    order = order or {s: list(declared.get(s) or {}) for s in ("required", "optional")}
    result: list[tuple[str, list[Any]]] = []
    for section in ("required", "optional"):
        specs = declared.get(section) or {}
        result += [(name, list(specs[name])) for name in order.get(section, []) if name in specs]
    return result


def widget_inputs(
    declared: dict[str, Any], order: dict[str, list[str]] | None = None
) -> list[tuple[str, list[Any]]]:
    """The inputs that have a widget, in the order the frontend creates the widgets."""
    return [(name, spec) for name, spec in ordered_inputs(declared, order) if _is_widget(spec)]


def _node_widget_inputs(info: dict[str, Any]) -> list[tuple[str, list[Any]]]:
    return widget_inputs(info.get("input", {}), info.get("input_order"))


def dynamic_combo_option(spec: list[Any], value: Any) -> dict[str, Any] | None:
    """The option of a dynamic combo spec whose key is ``value`` ({"key", "inputs"}), or None."""
    opts = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
    return next((o for o in opts.get("options") or [] if o.get("key") == value), None)


def dynamic_combo_keys(spec: list[Any]) -> list[str]:
    opts = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
    return [o.get("key") for o in opts.get("options") or []]


def _extra_widget_values(name: str, spec: list[Any], following: Any) -> int:
    """How many serialised non-input widgets follow this input's value."""
    opts = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
    extra = 0
    if any(k.endswith("_upload") and v for k, v in opts.items()):
        extra += 1
    if opts.get("control_after_generate") or (
        name in SEED_NAMES and spec[0] == "INT" and isinstance(following, str) and following in CONTROL_VALUES
    ):
        extra += 1
    return extra


def _take_widget_values(
    node: dict[str, Any],
    widgets: list[tuple[str, list[Any]]],
    raw: list[Any],
    pos: int,
    values: dict[str, Any],
    prefix: str = "",
) -> int:
    """Assign ``raw[pos:]`` to ``widgets`` (names under ``prefix``) into ``values``, walking into the chosen
    option of every dynamic combo; return the position after the last value taken."""
    for name, spec in widgets:
        if pos >= len(raw):
            break
        full_name = prefix + name
        value = values[full_name] = raw[pos]
        following = raw[pos + 1] if pos + 1 < len(raw) else None
        pos += 1 + _extra_widget_values(name, spec, following)
        if spec[0] == DYNAMIC_COMBO:
            option = dynamic_combo_option(spec, value)
            if option is None:
                raise WorkflowConversionError(
                    f"node {node['id']} ({node['type']}): {full_name} = {value!r} is not one of its options "
                    f"{dynamic_combo_keys(spec)}"
                )
            pos = _take_widget_values(node, widget_inputs(option.get("inputs") or {}), raw, pos, values,
                                      full_name + ".")
    return pos


def _widget_values(node: dict[str, Any], info: dict[str, Any]) -> dict[str, Any]:
    raw = node.get("widgets_values")
    if raw is None:
        return {}
    if isinstance(raw, dict):  # some nodes serialise by name
        return dict(raw)
    values: dict[str, Any] = {}
    pos = _take_widget_values(node, _node_widget_inputs(info), raw, 0, values)
    if pos < len(raw):
        raise WorkflowConversionError(
            f"node {node['id']} ({node['type']}): {len(raw)} widget values, only {pos} accounted for by "
            f"its widgets {list(values)}; surplus {raw[pos:]!r}"
        )
    return values


def ui_to_api(workflow: dict[str, Any], object_info: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Return the API-format prompt for a UI-format workflow."""
    if (workflow.get("definitions") or {}).get("subgraphs"):
        raise WorkflowConversionError("workflows with subgraphs are not supported")
    nodes = {int(n["id"]): n for n in workflow.get("nodes", [])}
    links = _links_of(workflow)

    def source_of(link_id: int | None, seen: frozenset[int] = frozenset()) -> list[Any] | object | None:
        """[origin node id, slot] for a link, following reroutes; None when the source is muted/absent;
        _KEEP_WIDGET when a primitive node drives the input (its value is already in widgets_values)."""
        if link_id is None or link_id not in links or link_id in seen:
            return None
        link = links[link_id]
        origin = nodes.get(link.origin_id)
        if origin is None or origin.get("mode", 0) == MODE_MUTED:
            return None
        if origin["type"] == "PrimitiveNode":
            return _KEEP_WIDGET
        if origin["type"] == "Reroute":
            upstream = (origin.get("inputs") or [{}])[0].get("link")
            return source_of(upstream, seen | {link_id})
        return [str(link.origin_id), link.origin_slot]

    prompt: dict[str, dict[str, Any]] = {}
    for node_id, node in sorted(nodes.items()):
        kind = node["type"]
        if kind in FRONTEND_ONLY or node.get("mode", 0) == MODE_MUTED:
            continue
        if node.get("mode", 0) == MODE_BYPASSED:
            raise WorkflowConversionError(f"node {node_id} ({kind}) is bypassed; bypass is not supported")
        info = object_info.get(kind)
        if info is None:
            raise WorkflowConversionError(
                f"node {node_id}: type {kind!r} is not known to this ComfyUI server"
            )
        inputs: dict[str, Any] = _widget_values(node, info)
        for slot in node.get("inputs") or []:
            if slot.get("link") is None:
                continue
            source = source_of(slot["link"])
            if source is _KEEP_WIDGET:
                continue
            if source is None:
                inputs.pop(slot["name"], None)
            else:
                inputs[slot["name"]] = source  # a link wins over the widget's stale value
        prompt[str(node_id)] = {
            "class_type": kind,
            "inputs": inputs,
            "_meta": {"title": node.get("title") or info.get("display_name") or kind},
        }
    return prompt
