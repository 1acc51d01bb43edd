"""The price badge newer ComfyUI frontends draw themselves: a JSONata expression generated from the price table.

ComfyUI 0.33.0's ``io.Schema(price_badge=...)`` sends the frontend an expression that it evaluates over
the node's widgets (``widgets.<name>``, combo values lower-cased, booleans as booleans) and connected
inputs (``inputs.<name>.connected``). The expression must return ``{"type": "text", "text": ...}`` or a
USD amount; USD amounts are drawn as Comfy *credits*, which is not what fal bills, so the badge uses
``text`` and reads exactly like the pack's own JavaScript badge on older hosts.

Nothing about prices is written here: for every combination of the widgets and connections the price
can depend on, :func:`badge_text` asks ``prices.price_of`` (the pack's one price function) and the
expression is a lookup in that generated map. Widgets and inputs whose every value gives the same text
are left out, so the frontend re-evaluates only when something that matters changes. This module does
not import ComfyUI: the glue (``schema.py``) describes the node's inputs with :class:`BadgeInput`.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from ..luma.catalog import request_model_for
from ..luma.constants import UNI1_IMAGES_PER_REQUEST
from ..luma.prices import Price, price_of

# Widgets that are request parameters of the price (prices.price_params) or pick the endpoint (model).
PRICE_WIDGETS = ("model", "resolution", "duration", "hdr", "exr_export")
# Image inputs fal bills per input image (price_params counts image_url and each reference URL).
SINGLE_IMAGE_INPUTS = ("image",)
# A connected batch may hold several images; the frontend only knows it is connected, so a price that
# grows with input images is then a lower bound ("from $0.045").
BATCH_IMAGE_INPUTS = ("references", "reference_images")
UNKNOWN_SETTINGS = "price unknown for these settings"
# Keeps a generated expression small; a node whose price depends on more combinations needs a formula.
MAX_COMBINATIONS = 512


@dataclass(frozen=True)
class BadgeInput:
    """What the frontend can know about one input of a node."""

    name: str
    kind: Literal["combo", "boolean", "image", "other"]
    options: tuple[Any, ...] = ()


@dataclass(frozen=True)
class Badge:
    """A generated price badge: the expression and what it reads (``io.PriceBadgeDepends``)."""

    expr: str
    widgets: list[str] = field(default_factory=list)
    inputs: list[str] = field(default_factory=list)


def endpoint_for(base_endpoint: str, model: str | None) -> str:
    """The endpoint a node whose job names ``base_endpoint`` calls with this ``model`` widget value."""
    request_model = request_model_for(base_endpoint)
    if model is None or "model" not in request_model.model_fields:
        return base_endpoint
    return request_model.model_construct(model=model).endpoint_id


def badge_text(base_endpoint: str, widgets: Mapping[str, Any], connected: Iterable[str] = ()) -> str:
    """What the badge says for these widget values and connected inputs: the pack's price estimate."""
    linked = set(connected)
    singles = sum(1 for name in SINGLE_IMAGE_INPUTS if name in linked)
    batches = sum(1 for name in BATCH_IMAGE_INPUTS if name in linked)
    endpoint = endpoint_for(base_endpoint, widgets.get("model"))
    params = {k: widgets[k] for k in PRICE_WIDGETS if k != "model" and k in widgets}
    if request_model_for(base_endpoint).output_kind == "images":  # as prices.price_params counts them
        params["images"] = UNI1_IMAGES_PER_REQUEST
        params["input_images"] = singles + batches
    price = price_of(endpoint, params)
    lower_bound = batches > 0 and price.usd is not None and _grows_with_inputs(endpoint, params)
    return ("from " if lower_bound else "") + _label(price)


def _grows_with_inputs(endpoint: str, params: Mapping[str, Any]) -> bool:
    more = price_of(endpoint, {**params, "input_images": int(params.get("input_images", 0)) + 1})
    return more.usd is not None and more.usd > (price_of(endpoint, params).usd or 0)


def _label(price: Price) -> str:
    # The same words as the pack's own badge (web/price.js shows the label).
    return price.label


def price_badge(base_endpoint: str, inputs: Sequence[BadgeInput]) -> Badge:
    """The badge of a node that runs ``base_endpoint`` (the model widget may switch it) with these inputs."""
    widgets = [i for i in inputs if i.name in PRICE_WIDGETS and i.kind in ("combo", "boolean") and i.options]
    images = [i for i in inputs if i.kind == "image" and i.name in SINGLE_IMAGE_INPUTS + BATCH_IMAGE_INPUTS]
    axes: list[tuple[str, tuple[Any, ...]]] = [(w.name, w.options) for w in widgets]
    axes += [(f"inputs.{i.name}", (False, True)) for i in images]
    texts = _texts_by_state(base_endpoint, axes)
    axes = [axis for axis in axes if _matters(axis[0], axes, texts)]
    texts = _texts_by_state(base_endpoint, axes)
    return Badge(
        expr=_expression(axes, texts),
        widgets=[name for name, _ in axes if not name.startswith("inputs.")],
        inputs=[name.removeprefix("inputs.") for name, _ in axes if name.startswith("inputs.")],
    )


State = tuple[Any, ...]


def _texts_by_state(base_endpoint: str, axes: Sequence[tuple[str, tuple[Any, ...]]]) -> dict[State, str]:
    count = 1
    for _, options in axes:
        count *= len(options)
    if count > MAX_COMBINATIONS:
        raise ValueError(f"{base_endpoint}: {count} price combinations; the badge map allows {MAX_COMBINATIONS}")
    texts: dict[State, str] = {}
    for state in itertools.product(*(options for _, options in axes)):
        widgets = {name: value for (name, _), value in zip(axes, state) if not name.startswith("inputs.")}
        linked = [name.removeprefix("inputs.") for (name, _), value in zip(axes, state)
                  if name.startswith("inputs.") and value]
        texts[state] = badge_text(base_endpoint, widgets, linked)
    return texts


def _matters(name: str, axes: Sequence[tuple[str, tuple[Any, ...]]], texts: Mapping[State, str]) -> bool:
    """Whether changing ``name`` alone ever changes the text."""
    index = [axis for axis, _ in axes].index(name)
    seen: dict[State, str] = {}
    for state, text in texts.items():
        rest = state[:index] + state[index + 1:]
        if seen.setdefault(rest, text) != text:
            return True
    return False


def _key_part(value: Any) -> str:
    # The frontend lower-cases and trims combo values and keeps booleans as booleans; JSONata's
    # $string(true) is "true".
    return ("true" if value else "false") if isinstance(value, bool) else str(value).strip().lower()


def _expression(axes: Sequence[tuple[str, tuple[Any, ...]]], texts: Mapping[State, str]) -> str:
    if not axes:
        return json.dumps({"type": "text", "text": next(iter(texts.values()))})
    parts = []
    for name, _ in axes:
        if name.startswith("inputs."):
            parts.append(f'({_path(name)}.connected ? "true" : "false")')
        else:
            parts.append(f"$string({_path('widgets.' + name)})")
    table = {"|".join(_key_part(v) for v in state): text for state, text in texts.items()}
    key = ' & "|" & '.join(parts)
    return (
        "(\n"
        f"  $key := {key};\n"
        f"  $text := $lookup({json.dumps(table, separators=(',', ':'))}, $key);\n"
        f'  {{"type": "text", "text": $exists($text) ? $text : {json.dumps(UNKNOWN_SETTINGS)}}}\n'
        ")"
    )


def _path(dotted: str) -> str:
    # Backquoted names: an input name may be a JSONata keyword or contain a character JSONata reads as an operator.
    return ".".join(f"`{part}`" for part in dotted.split("."))
