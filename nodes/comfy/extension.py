"""The pack as a ComfyUI extension: its node list, its server routes, and its start-up recovery."""

from __future__ import annotations

import logging

from comfy_api.latest import ComfyExtension, io

from ..version import PACK_VERSION
from .money.check import register_node_titles
from .node_types import pack_nodes
from .run.recovery import start_recovery_once
from .server.prompt_check import register_prompt_check
from .server.routes import register_routes

log = logging.getLogger(__name__)

_routes_registered = False


def register_routes_once() -> None:
    """Add the pack's routes and its prompt type check to ComfyUI's server, once each (0.3.75 never
    calls ``on_load``; newer hosts call it as well as the entry point)."""
    global _routes_registered
    try:
        register_prompt_check()  # guards itself against a second registration
    except Exception:  # the nodes must still load when the hook cannot be added
        log.exception("comfyui-luma-fal: could not register its prompt type check")
    if _routes_registered:
        return
    try:
        register_routes()
        _routes_registered = True
    except Exception:  # the nodes must still load when a route cannot be added (e.g. no server)
        log.exception("comfyui-luma-fal: could not register its server routes")


def start_background_work_once() -> None:
    """Follow requests left in flight by a stopped ComfyUI, in a thread of its own (never awaited)."""
    try:
        start_recovery_once()
    except Exception:  # the nodes must still load
        log.exception("comfyui-luma-fal: could not start following in-flight requests")


class LumaFalExtension(ComfyExtension):
    async def on_load(self) -> None:
        register_routes_once()
        start_background_work_once()

    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        nodes = pack_nodes()
        schemas = [node.define_schema() for node in nodes]
        # The spend check names a prompt's other paid nodes by these; money never imports the nodes.
        register_node_titles({schema.node_id: schema.display_name or schema.node_id for schema in schemas})
        # The version in ComfyUI's log, where a bug report starts.
        log.info("comfyui-luma-fal %s: %d nodes", PACK_VERSION, len(nodes))
        return nodes
