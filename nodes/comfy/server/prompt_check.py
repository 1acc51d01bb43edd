"""The pack's widget type check on every queued prompt, hooked into ComfyUI's on-prompt handlers.

Expected types come from the nodes' own schemas, so a widget added to a node is checked without
touching this file. The handler never raises (ComfyUI would only log it) and leaves prompts without
the pack's nodes exactly as they came.
"""

from __future__ import annotations

import logging
from typing import Any

from .. import host
from ..node_types import pack_nodes
from ..rules.prompt_types import NodeSpec, WidgetSpec, refuse_wrong_types

log = logging.getLogger(__name__)

_MARK = "luma_fal_prompt_check"  # on the handler, so a second registration (or a reloaded module) is seen
_WIDGET_KINDS = {"BOOLEAN", "INT", "FLOAT", "STRING", "COMBO"}
_specs: dict[str, NodeSpec] | None = None


def pack_node_specs() -> dict[str, NodeSpec]:
    """{node id: its display name and widgets}, read once from the pack's node schemas."""
    global _specs
    if _specs is None:
        specs: dict[str, NodeSpec] = {}
        for node_cls in pack_nodes():
            schema = node_cls.define_schema()
            widgets: dict[str, WidgetSpec] = {}
            for spec_input in schema.inputs:
                kind = str(getattr(spec_input, "io_type", ""))
                if kind not in _WIDGET_KINDS or getattr(spec_input, "multiselect", False):
                    continue
                widgets[spec_input.id] = WidgetSpec(kind, tuple(getattr(spec_input, "options", None) or ()))
            specs[schema.node_id] = NodeSpec(schema.display_name or schema.node_id, widgets)
        _specs = specs
    return _specs


def check_prompt_types(json_data: Any) -> Any:
    """ComfyUI on-prompt handler: the body with wrongly typed widget values of pack nodes refused."""
    try:
        return refuse_wrong_types(json_data, pack_node_specs())
    except Exception:  # never in the way of a prompt: ComfyUI validates it as usual
        log.exception("comfyui-luma-fal: the prompt type check failed; the prompt goes on unchecked")
        return json_data


setattr(check_prompt_types, _MARK, True)


def register_prompt_check() -> bool:
    """Add the handler to ComfyUI's server unless it is there already. False outside a server."""
    instance = host.prompt_server()
    if instance is None or not hasattr(instance, "add_on_prompt_handler"):
        return False
    handlers = getattr(instance, "on_prompt_handlers", None) or []
    if any(getattr(handler, _MARK, False) for handler in handlers):
        return True
    instance.add_on_prompt_handler(check_prompt_types)
    return True
