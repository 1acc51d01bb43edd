"""What a LumaFal node's price badge should say, computed independently of nodes/comfy/price_badge.py, and
the generated JSONata evaluated the way ComfyUI's frontend evaluates it (useNodePricing.ts, 1.48.7).

Evaluation uses ``jsonata-python`` (a test dependency, pinned ``jsonata-python==0.7.1``), a port of the
reference JSONata; the browser tests prove the same expressions in the frontend's own evaluator.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

from nodes.luma import constants as C
from nodes.luma.prices import price_of

UNI1_ENDPOINTS = {
    ("LumaFalUni1TextToImage", "uni-1"): C.UNI1_TEXT_TO_IMAGE,
    ("LumaFalUni1TextToImage", "uni-1 max"): C.UNI1_MAX_TEXT_TO_IMAGE,
    ("LumaFalUni1ImageEdit", "uni-1"): C.UNI1_EDIT,
    ("LumaFalUni1ImageEdit", "uni-1 max"): C.UNI1_MAX_EDIT,
}
RAY_ENDPOINTS = {
    "LumaFalRay32TextToVideo": C.RAY32_TEXT_TO_VIDEO,
    "LumaFalRay32ImageToVideo": C.RAY32_IMAGE_TO_VIDEO,
    "LumaFalRay32VideoToVideo": C.RAY32_VIDEO_TO_VIDEO,
    "LumaFalRay32Reframe": C.RAY32_REFRAME,
}
PAID_NODES = (*RAY_ENDPOINTS, "LumaFalUni1TextToImage", "LumaFalUni1ImageEdit")
REFERENCE_INPUTS = {"references", "reference_images"}


def expected_badge(node: Mapping[str, Any]) -> str | None:
    """The badge text for a node (``type``, ``widgets`` values, names of ``linked`` inputs), from price_of."""
    kind, widgets, linked = node["type"], node["widgets"], set(node["linked"])
    if kind in RAY_ENDPOINTS:
        params = {k: widgets[k] for k in ("resolution", "duration", "hdr", "exr_export") if k in widgets}
        return price_of(RAY_ENDPOINTS[kind], params).label
    if (kind, widgets.get("model")) in UNI1_ENDPOINTS:
        endpoint = UNI1_ENDPOINTS[kind, widgets["model"]]
        references = len(linked & REFERENCE_INPUTS)
        sources = 1 if kind == "LumaFalUni1ImageEdit" and "image" in linked else 0
        price = price_of(endpoint, {"input_images": references + sources})
        # A linked reference input may carry a batch of several images: the badge gives a lower bound
        # when more input images cost more.
        more = price_of(endpoint, {"input_images": references + sources + 1})
        lower_bound = price.usd is not None and references > 0 and (more.usd or 0) > price.usd
        return ("from " if lower_bound else "") + price.label
    return None  # no fal request, no badge


def _normalized(raw: Any, declared: str) -> Any:
    """A widget value as useNodePricing.ts normalizeWidgetValue hands it to the expression."""
    if raw is None:
        return None
    kind = declared.upper()
    if kind in ("INT", "FLOAT"):
        return raw if isinstance(raw, (int, float)) and not isinstance(raw, bool) else None
    if kind == "BOOLEAN":
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        return {"true": True, "false": False}.get(text)
    if kind == "COMBO" and isinstance(raw, (int, float, bool)):
        return raw
    return str(raw).strip().lower()


def frontend_context(price_badge: Mapping[str, Any], widgets: Mapping[str, Any], linked: Iterable[str]) -> dict[str, Any]:
    """The context the frontend builds from ``/object_info``'s ``price_badge`` for a node in this state."""
    linked = set(linked)
    depends = price_badge["depends_on"]
    return {
        "widgets": {w["name"]: _normalized(widgets.get(w["name"]), w["type"]) for w in depends["widgets"]},
        "inputs": {name: {"connected": name in linked} for name in depends["inputs"]},
        "inputGroups": {name: 0 for name in depends.get("input_groups", [])},
    }


def badge_result(price_badge: Mapping[str, Any], widgets: Mapping[str, Any], linked: Iterable[str]) -> Any:
    """The generated expression's result for a node in this state."""
    assert price_badge["engine"] == "jsonata"
    return _compiled(price_badge["expr"]).evaluate(frontend_context(price_badge, widgets, linked))


@lru_cache(maxsize=64)
def _compiled(expr: str) -> Any:
    try:
        import jsonata
    except ImportError as exc:  # a missing test dependency fails loudly, never skips
        raise ImportError("jsonata-python==0.7.1 is a test dependency (tools/testhost.sh TEST_PINS)") from exc
    return jsonata.Jsonata(expr)
