"""The node classes, one module per node family, and the schema pieces they share.

``pack_nodes`` is the pack's node list.
"""

from __future__ import annotations

from comfy_api.latest import io

from .by_id import NODES as BY_ID_NODES
from .frames import NODES as FRAME_NODES
from .ray32 import NODES as RAY_NODES
from .uni1 import NODES as UNI_NODES


def pack_nodes() -> list[type[io.ComfyNode]]:
    return [*RAY_NODES, *UNI_NODES, *FRAME_NODES, *BY_ID_NODES]
