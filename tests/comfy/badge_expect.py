"""What a LumaFal node's price badge should say, computed from ``price_of`` independently of web/price.js.

A badge reads ``[from ]<price_of label> · <source>``; the spend-limit state (``over cap $0.20``...) is
a separate text (:func:`expected_limit`) that the pack's badge appends.
"""

from __future__ import annotations

from collections.abc import Mapping
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
