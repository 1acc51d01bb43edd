"""What a LumaFal node's price badge should say, computed independently of nodes/comfy/price_badge.py and
web/price.js, and the generated JSONata evaluated the way ComfyUI's frontend evaluates it
(useNodePricing.ts, 1.48.7).

A badge reads ``[from ]<price_of label> · <source>``; the spend-limit state (``over cap $0.20``...) is
a separate text (:func:`expected_limit`): the pack's own badge appends it, and where the frontend draws
the badge the pack draws it as a red line of its own.

Evaluation uses ``jsonata-python`` (a test dependency, pinned ``jsonata-python==0.7.1``), a port of the
reference JSONata; the browser tests prove the same expressions in the frontend's own evaluator.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

from nodes.luma import constants as C
from nodes.luma.prices import Price, money, price_of

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


def expected_price(node: Mapping[str, Any], table: Mapping[str, Any] | None = None,
                   input_images: int | None = None) -> tuple[Price, bool] | None:
    """``price_of`` for a node (``type``, ``widgets`` values, names of ``linked`` inputs) with ``table``
    (default: the effective table of this process), and whether it is a lower bound. ``input_images``:
    the exact count where the drawer can know it (the pack's badge follows LoadImage links); None = only
    which inputs are connected is known (the frontend's badge), so a linked reference input counts one
    image and the price is a lower bound when more input images cost more."""
    kind, widgets, linked = node["type"], node["widgets"], set(node["linked"])
    if kind in RAY_ENDPOINTS:
        params = {k: widgets[k] for k in ("resolution", "duration", "hdr", "exr_export") if k in widgets}
        return price_of(RAY_ENDPOINTS[kind], params, table), False
    if (kind, widgets.get("model")) not in UNI1_ENDPOINTS:
        return None  # no fal request, no badge
    endpoint = UNI1_ENDPOINTS[kind, widgets["model"]]
    references = len(linked & REFERENCE_INPUTS)
    sources = 1 if kind == "LumaFalUni1ImageEdit" and "image" in linked else 0
    counted = references + sources if input_images is None else input_images
    price = price_of(endpoint, {"input_images": counted}, table)
    if input_images is not None or references == 0 or price.usd is None:
        return price, False
    more = price_of(endpoint, {"input_images": counted + 1}, table)
    return price, (more.usd or 0) > price.usd


def expected_badge(node: Mapping[str, Any], table: Mapping[str, Any] | None = None,
                   input_images: int | None = None) -> str | None:
    """The price badge's text for a node: price and source (see :func:`expected_price`)."""
    found = expected_price(node, table, input_images)
    if found is None:
        return None
    price, lower_bound = found
    return ("from " if lower_bound else "") + " · ".join(p for p in (price.label, price.source) if p)


def expected_limit(node: Mapping[str, Any], table: Mapping[str, Any], input_images: int | None = None) -> str | None:
    """What a spend limit in ``table["limits"]`` (as /luma_fal/prices serves it) says about a run of the
    node: None when no limit would refuse it (nodes/comfy/money/check.py decides the same at run time)."""
    found = expected_price(node, table, input_images)
    limits = table.get("limits") or {}
    if found is None or not limits:
        return None
    usd = found[0].usd
    if usd is None:
        refuses = limits.get("unknown_price") == "refuse" and found[0].per_source_second is None
        return "refused: unknown price" if refuses else None
    if limits.get("max_run_usd") is not None and usd > limits["max_run_usd"] + 1e-9:
        return f"over cap {money(limits['max_run_usd'])}"
    spent = float(limits.get("spent_today") or 0)
    budget = limits.get("daily_budget_usd")
    if budget is not None and spent + usd > budget + 1e-9:
        return f"over budget ({money(max(0.0, budget - spent))} left today)"
    return None


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
