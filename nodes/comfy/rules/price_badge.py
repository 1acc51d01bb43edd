"""The price badge newer ComfyUI frontends draw themselves: a JSONata expression generated from the price table.

ComfyUI 0.33.0's ``io.Schema(price_badge=...)`` sends the frontend an expression that it evaluates over
the node's widgets (``widgets.<name>``, combo values lower-cased, booleans as booleans) and connected
inputs (``inputs.<name>.connected``). The expression must return ``{"type": "text", "text": ...}`` or a
USD amount; USD amounts are drawn as Comfy *credits*, which is not what fal bills, so the badge uses
``text`` and reads exactly like the pack's own JavaScript badge on older hosts: the price and where it
came from (``$1.00 · live``, ``· cached 2026-11-27``, ``· bundled 2026-10``).

Nothing about prices is written here: for every combination of the widgets and connections the price
can depend on, :func:`badge_text` asks ``prices.price_of`` (the pack's one price function) with ONE
price table (the effective one when the schema is built) and the expression is a lookup in that
generated map. Widgets and inputs whose every value gives the same text are left out, so the frontend
re-evaluates only when something that matters changes. This module does not import ComfyUI: the glue
(``schema.py``) describes the node's inputs with :class:`BadgeInput` and passes the table.

Spend limits are NOT in the expression: they change while a page is open (settings, today's spend) and
the frontend compiles a node type's expression once per page, so the pack's JavaScript draws the limit
state as its own red line (web/price.js) next to the frontend's badge. For the same reason a price
refresh reaches the declared badge only when a page loads: every expression starts with a comment naming
the :func:`table_version` it was generated from, and ``/luma_fal/prices`` serves the current one, so the
pack's JavaScript can tell an open page that its badges show older prices.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

from ...luma.catalog import request_model_for
from ...luma.constants import UNI1_IMAGES_PER_REQUEST
from ...luma.prices import effective_price_table, price_of

# Widgets that are request parameters of the price (prices.price_params) or pick the endpoint (model).
PRICE_WIDGETS = ("model", "resolution", "duration", "hdr", "exr_export")
# Image inputs fal bills per input image (price_params counts image_url and each reference URL).
SINGLE_IMAGE_INPUTS = ("image",)
# A connected batch may hold several images; the frontend only knows it is connected, so a price that
# grows with input images is then a lower bound ("from $0.045").
BATCH_IMAGE_INPUTS = ("references", "reference_images")
UNKNOWN_SETTINGS = "price unknown for these settings"
# The comment every expression starts with; web/price.js looks for it (with /luma_fal/prices' version).
VERSION_TAG = "luma-fal prices "
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


def badge_text(base_endpoint: str, widgets: Mapping[str, Any], connected: Iterable[str] = (),
               table: Mapping[str, Any] | None = None) -> str:
    """What the badge says for these widget values and connected inputs: the pack's price estimate and
    its source, priced with ``table`` (default: the effective table now)."""
    table = effective_price_table() if table is None else table
    linked = set(connected)
    singles = sum(1 for name in SINGLE_IMAGE_INPUTS if name in linked)
    batches = sum(1 for name in BATCH_IMAGE_INPUTS if name in linked)
    endpoint = endpoint_for(base_endpoint, widgets.get("model"))
    params = {k: widgets[k] for k in PRICE_WIDGETS if k != "model" and k in widgets}
    if request_model_for(base_endpoint).output_kind == "images":  # as prices.price_params counts them
        params["images"] = UNI1_IMAGES_PER_REQUEST
        params["input_images"] = singles + batches
    price = price_of(endpoint, params, table)
    lower_bound = batches > 0 and price.usd is not None and _grows_with_inputs(endpoint, params, price.usd, table)
    return ("from " if lower_bound else "") + price.text


def _grows_with_inputs(endpoint: str, params: Mapping[str, Any], usd: float, table: Mapping[str, Any]) -> bool:
    more = price_of(endpoint, {**params, "input_images": int(params.get("input_images", 0)) + 1}, table)
    return more.usd is not None and more.usd > usd


def price_badge(base_endpoint: str, inputs: Sequence[BadgeInput], table: Mapping[str, Any] | None = None) -> Badge:
    """The badge of a node that runs ``base_endpoint`` (the model widget may switch it) with these inputs,
    priced with ``table`` (default: the effective table now)."""
    table = effective_price_table() if table is None else table
    # ComfyUI 0.33.0 builds the schema for every /object_info and several times per queued prompt: the
    # same inputs and the same table give the same badge, so it is generated once per table.
    badge = _badge(base_endpoint, tuple(inputs), json.dumps(table, sort_keys=True, default=str))
    fan_out = [i.name for i in inputs if i.name in FAN_OUT_WIDGETS]
    if fan_out:
        return Badge(times_requests(badge.expr), [*badge.widgets, *fan_out], list(badge.inputs))
    return Badge(badge.expr, list(badge.widgets), list(badge.inputs))  # callers get lists of their own


def table_version(table: Mapping[str, Any]) -> str:
    """A short fingerprint of everything in ``table`` a badge's text can depend on (prices, factors and
    each endpoint's source label; not fetch times nor spend limits)."""
    endpoints = {
        endpoint_id: {**{k: v for k, v in entry.items() if k not in ("source", "live_quote", "note", "base")},
                      "source": (entry.get("source") or {}).get("label", "")}
        for endpoint_id, entry in (table.get("endpoints") or {}).items()
    }
    text = json.dumps({"defaults": table.get("defaults"), "endpoints": endpoints}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# A node's fan-out: takes × the non-empty lines of prompt_variants requests per run (nodes/comfy/rules/takes.py).
FAN_OUT_WIDGETS = ("takes", "prompt_variants")


def times_requests(one_request: str) -> str:
    """``one_request`` (an expression giving one request's badge) for the node's whole fan-out: with n > 1
    requests, ``$T (n × <one request's label>) · <source>`` as web/price.js says it (``n × <text>`` when the
    text holds no plain amount: unknown prices, reframe's rate per source second)."""
    return (
        "(\n"
        f"  $one := {one_request};\n"
        "  $takes := $type(`widgets`.`takes`) = \"number\" and `widgets`.`takes` > 1 ? `widgets`.`takes` : 1;\n"
        "  $lines := $type(`widgets`.`prompt_variants`) = \"string\" ? $count($filter($split("
        "`widgets`.`prompt_variants`, \"\\n\"), function($l) { $trim($l) != \"\" })) : 0;\n"
        "  $n := $takes * ($lines > 0 ? $lines : 1);\n"
        "  $from := $substring($one.text, 0, 5) = \"from \";\n"
        "  $label := $substringBefore($from ? $substring($one.text, 5) : $one.text, \" · \");\n"
        "  $source := $contains($one.text, \" · \") ? $substringAfter($one.text, \" · \") : \"\";\n"
        "  $amount := $substring($label, 0, 1) = \"$\" and $not($contains($label, \" per \"))"
        " ? $number($substringBefore($substring($label, 1) & \" \", \" \"));\n"
        "  $total := $exists($amount) ? $round($amount * $n, 6);\n"
        "  $money := $exists($total) ? \"$\" & ($round($total * 100, 6) = $round($total * 100)"
        " ? $formatNumber($total, \"0.00\") : $formatNumber($total, \"0.000\"));\n"
        "  $n <= 1 ? $one : {\"type\": \"text\", \"text\": $exists($money)"
        " ? ($from ? \"from \" : \"\") & $money & \" (\" & $n & \" × \" & $label & \")\""
        " & ($source != \"\" ? \" · \" & $source : \"\")"
        " : $n & \" × \" & $one.text}\n"
        ")"
    )


@lru_cache(maxsize=32)
def _badge(base_endpoint: str, inputs: tuple[BadgeInput, ...], table_json: str) -> Badge:
    table = json.loads(table_json)
    widgets = [i for i in inputs if i.name in PRICE_WIDGETS and i.kind in ("combo", "boolean") and i.options]
    images = [i for i in inputs if i.kind == "image" and i.name in SINGLE_IMAGE_INPUTS + BATCH_IMAGE_INPUTS]
    axes: list[tuple[str, tuple[Any, ...]]] = [(w.name, w.options) for w in widgets]
    axes += [(f"inputs.{i.name}", (False, True)) for i in images]
    texts = _texts_by_state(base_endpoint, axes, table)
    axes = [axis for axis in axes if _matters(axis[0], axes, texts)]
    texts = _texts_by_state(base_endpoint, axes, table)
    return Badge(
        expr=f"/* {VERSION_TAG}{table_version(table)} */\n" + _expression(axes, texts),
        widgets=[name for name, _ in axes if not name.startswith("inputs.")],
        inputs=[name.removeprefix("inputs.") for name, _ in axes if name.startswith("inputs.")],
    )


State = tuple[Any, ...]


def _texts_by_state(base_endpoint: str, axes: Sequence[tuple[str, tuple[Any, ...]]],
                    table: Mapping[str, Any]) -> dict[State, str]:
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
        texts[state] = badge_text(base_endpoint, widgets, linked, table)
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
