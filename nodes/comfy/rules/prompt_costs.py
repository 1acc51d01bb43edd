"""What every paid node of a queued prompt will cost, read from the prompt itself (API format).

Used by the spend check so a prompt's paid runs are judged together. Inputs fed by links are not known
here: a linked image input counts as one image, a reframe source as the longest source fal takes
(so the reservation is an upper bound), a linked widget as its default. A node's fan-out counts whole:
``takes`` × the lines of ``prompt_variants`` (a linked prompt_variants counts as one prompt).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...luma import constants as C
from ...luma.prices import Price, money, price_of
from ...luma.spend import RunEstimate
from .takes import takes_count

_RAY = {
    "LumaFalRay32TextToVideo": C.RAY32_TEXT_TO_VIDEO,
    "LumaFalRay32ImageToVideo": C.RAY32_IMAGE_TO_VIDEO,
    "LumaFalRay32VideoToVideo": C.RAY32_VIDEO_TO_VIDEO,
    "LumaFalRay32Reframe": C.RAY32_REFRAME,
}
_UNI = {
    "LumaFalUni1TextToImage": (C.UNI1_TEXT_TO_IMAGE, C.UNI1_MAX_TEXT_TO_IMAGE, ()),
    "LumaFalUni1ImageEdit": (C.UNI1_EDIT, C.UNI1_MAX_EDIT, ("image",)),
}
PAID_NODE_TYPES = frozenset(_RAY) | frozenset(_UNI)


def _value(inputs: Mapping[str, Any], name: str) -> Any:
    value = inputs.get(name)
    return None if isinstance(value, list) else value  # a [node, slot] link: not known before it runs


def _linked(inputs: Mapping[str, Any], name: str) -> bool:
    return isinstance(inputs.get(name), list)


def node_price(class_type: str, inputs: Mapping[str, Any]) -> Price | None:
    """The price of one prompt node's run (an upper bound for reframe), or None for unpaid nodes."""
    if class_type in _RAY:
        params = {k: _value(inputs, k) for k in ("resolution", "duration", "hdr", "exr_export")}
        price = price_of(_RAY[class_type], params)
        if price.per_source_second is not None:
            usd = round(price.per_source_second * C.REFRAME_MAX_SOURCE_SECONDS, 6)
            return Price(usd, f"up to {money(usd)} (a source of up to {C.REFRAME_MAX_SOURCE_SECONDS:g} s)",
                         price.source)
        return price
    if class_type in _UNI:
        standard, maximum, sources = _UNI[class_type]
        endpoint = maximum if _value(inputs, "model") == "uni-1 max" else standard
        inputs_count = sum(1 for name in (*sources, "references") if _linked(inputs, name))
        return price_of(endpoint, {"images": C.UNI1_IMAGES_PER_REQUEST, "input_images": inputs_count})
    return None


def prompt_runs(prompt: Mapping[str, Any] | None, titles: Mapping[str, str],
                skip: set[str]) -> list[RunEstimate]:
    """Estimates for the prompt's paid nodes, leaving out the node ids in ``skip``."""
    runs = []
    for node_id, node in (prompt or {}).items():
        if str(node_id) in skip or not isinstance(node, Mapping):
            continue
        class_type = str(node.get("class_type", ""))
        inputs = node.get("inputs") or {}
        price = node_price(class_type, inputs)
        if price is not None:
            count = takes_count(inputs)  # takes x prompt variants: every request of the node's fan-out
            usd = None if price.usd is None else round(price.usd * count, 6)
            text = price.text if count == 1 else f"{count} requests × {price.text}"
            runs.append(RunEstimate(f"{titles.get(class_type, class_type)} #{node_id}", usd, text))
    return runs
