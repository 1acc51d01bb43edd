"""What fal's live schema makes the pack leave out, told where the user looks (pure: no HTTP, no ComfyUI).

When fal's current schema for an endpoint has no field the node fills, the pack cannot send it (fal would
ignore or refuse it). A connected input (images, a video) left out means the user pays for a result made
without what they wired in: the run is refused before anything is uploaded or sent, and the message says
which input, why, how to go on without it (disconnect it: the user's explicit choice, with no new input
on the node) and what to use instead. A widget value left out is not refused; the run's status line says so.
The price badge's table (``/luma_fal/prices``) carries the same verdicts per node, so the node shows them
before a run (``web/schema_drops.js``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ...luma import constants as C

# Per node type: the inputs the user connects whose files become a fal field, and the endpoints it calls.
CONNECTED_INPUTS: dict[str, dict[str, tuple[str, tuple[str, ...]]]] = {
    "LumaFalRay32TextToVideo": {"reference_images": ("reference_image_urls", (C.RAY32_TEXT_TO_VIDEO,))},
    "LumaFalUni1TextToImage": {"references": ("reference_image_urls",
                                              (C.UNI1_TEXT_TO_IMAGE, C.UNI1_MAX_TEXT_TO_IMAGE))},
    "LumaFalUni1ImageEdit": {"references": ("reference_image_urls", (C.UNI1_EDIT, C.UNI1_MAX_EDIT)),
                             "image": ("image_url", (C.UNI1_EDIT, C.UNI1_MAX_EDIT))},
}
# (endpoint, fal field) -> what does the same with fal's current schemas.
INSTEAD: dict[tuple[str, str], str] = {
    (C.RAY32_TEXT_TO_VIDEO, "reference_image_urls"):
        "Luma Ray 3.2 Image to Video (fal) with a reference as its start frame (start_image)",
}


def dropped_input_text(input_name: str, field: str, endpoint_id: str, source: str) -> str:
    """Why a connected input cannot be sent, how to go on without it, and what to use instead."""
    instead = INSTEAD.get((endpoint_id, field))
    return (f"{input_name}: connected, but fal's current schema for {endpoint_id} ({source}) has no {field}, so "
            f"fal would make the result without it and bill it. To run without it, disconnect {input_name}; "
            + (f"to use it, use {instead}." if instead else "to use it, update comfyui-luma-fal."))


def dropped_widget_text(input_name: str, field: str, value: Any, endpoint_id: str, source: str) -> str:
    return (f"{input_name}={_shown(value)} is not sent: fal's current schema for {endpoint_id} ({source}) has no "
            f"{field}")


def _shown(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def node_drops(schema_for: Callable[[str], Any]) -> dict[str, dict[str, str]]:
    """node type -> {connected input: why a run with it connected is refused}, from the schemas fal serves
    now (``schema_for(endpoint_id)``: the same documents the price badge and the run use)."""
    drops: dict[str, dict[str, str]] = {}
    for node_type, inputs in CONNECTED_INPUTS.items():
        for input_name, (field, endpoints) in inputs.items():
            for endpoint_id in endpoints:
                schema = schema_for(endpoint_id)
                if schema is not None and field not in schema.fields:
                    drops.setdefault(node_type, {})[input_name] = dropped_input_text(
                        input_name, field, endpoint_id, schema.source)
                    break
    return drops


def split_drops(dropped: list[str], file_fields: tuple[str, ...], payload: Mapping[str, Any],
                names: Mapping[str, str], endpoint_id: str, source: str) -> tuple[list[str], list[str]]:
    """(refusals for connected inputs, notices for widget values) for the fields fal's schema dropped."""
    refusals, notices = [], []
    for field in dropped:
        name = names.get(field, field)
        if field in file_fields:
            refusals.append(dropped_input_text(name, field, endpoint_id, source))
        else:
            notices.append(dropped_widget_text(name, field, payload.get(field), endpoint_id, source))
    return refusals, notices
