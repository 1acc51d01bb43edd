"""What a run costs on fal: the ONE place prices are computed (the browser badge ports ``price_of``).

Two inputs make the *effective* price table (``effective_price_table()``):

* ``prices.json`` (bundled, ``"format": 2``): per endpoint the fal ``unit`` and ``unit_price`` of a
  *base run* plus fal's documented multipliers. Fields:

  - ``unit_price`` / ``unit``: the price fal quotes per unit (``video``, ``video_second``, ``image``);
  - ``units_per_base``: how many of a unit make the base run (``video_second: 5`` for a 5 s clip),
    so a live price quoted in another known unit still converts; an unknown unit is not guessed;
  - ``factors[param][value]``: multipliers (resolution, duration, hdr, exr_export); values are
    written as text (booleans ``true``/``false``). A value missing from a factor map = no price;
  - ``unpriced``: list of ``{param: value}`` matches fal publishes no price for;
  - ``quantity``: ``images`` (x number of images returned) or ``source_seconds`` (x started
    seconds of the source video, i.e. ``ceil``); absent = one run;
  - ``per_input_image``: added per input image (the edited image and each reference);
  - ``defaults``: a value for every parameter the caller may leave out.

* fal's live pricing document (``GET /v1/models/pricing``; fetched by the glue, registered here with
  ``set_price_document``): ``{"prices": [{"endpoint_id", "unit_price", "unit", "currency"}]}``. For each
  endpoint it lists, its unit price replaces the bundled one.

``usd = unit_price * units_per_base[unit] * prod(factors) * quantity + per_input_image * input_images``,
rounded to 6 decimals. Each endpoint of the effective table carries ``source`` (``kind`` live | cached
| bundled, ``label`` e.g. "live", "cached 2026-11-27", "bundled 2026-10"), and every ``Price`` says it.

Labels: money is ``$`` + 2 decimals when whole cents, else 3 (``$1.00``, ``$0.045``); per-image
endpoints add `` (N image[s][ + M input image[s]])``; reframe adds `` (N s of source)`` or, while the
source length is unknown, reads ``$0.06 per started source second``; no price reads
``price not published``; an endpoint not in the table ``price unknown (not in the price table)``.
"""

from __future__ import annotations

import copy
import json
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from .constants import UNI1_IMAGES_PER_REQUEST

PRICES_PATH = Path(__file__).with_name("prices.json")
NOT_PUBLISHED = "price not published"
NOT_IN_TABLE = "price unknown (not in the price table)"

SourceKind = Literal["live", "cached", "bundled"]


@dataclass(frozen=True)
class Price:
    usd: float | None
    label: str
    source: str = ""                         # "live", "cached 2026-11-27", "bundled 2026-10"
    per_source_second: float | None = None   # reframe while the source length is unknown

    @property
    def text(self) -> str:
        """The label with where the number came from, as every message shows it."""
        return f"{self.label} · {self.source}" if self.source else self.label


@lru_cache(maxsize=1)
def bundled_price_table() -> dict[str, Any]:
    return json.loads(PRICES_PATH.read_text(encoding="utf-8"))


def price_table() -> dict[str, Any]:
    """Alias kept for callers of the first version: the bundled table."""
    return bundled_price_table()


# -- the live document ----------------------------------------------------------------------------

_live: dict[str, Any] | None = None   # {"doc": ..., "kind": "live"|"cached", "fetched_at": epoch s}


def set_price_document(doc: Any, kind: Literal["live", "cached"], fetched_at: float) -> None:
    """Register fal's pricing document (glue: after a fetch, or when read back from the disk cache)."""
    global _live
    _live = {"doc": doc, "kind": kind, "fetched_at": fetched_at}


def clear_price_document() -> None:
    global _live
    _live = None


def parse_pricing(doc: Any) -> dict[str, dict[str, Any]]:
    """endpoint id -> {unit_price, unit, currency} from fal's ``/v1/models/pricing`` answer."""
    items = doc.get("prices") if isinstance(doc, Mapping) else None
    found: dict[str, dict[str, Any]] = {}
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, Mapping):
            continue
        price = item.get("unit_price")
        if isinstance(item.get("endpoint_id"), str) and isinstance(price, (int, float)) \
                and not isinstance(price, bool) and math.isfinite(price) and price >= 0:
            found[item["endpoint_id"]] = {"unit_price": float(price), "unit": str(item.get("unit") or ""),
                                          "currency": str(item.get("currency") or "USD")}
    return found


def source_label(kind: SourceKind, fetched_at: float | None, as_of: str) -> str:
    if kind == "bundled" or fetched_at is None:
        return f"bundled {as_of}"
    if kind == "cached":
        return "cached " + time.strftime("%Y-%m-%d", time.localtime(fetched_at))
    return "live"


def effective_price_table() -> dict[str, Any]:
    """The table prices are computed from now: bundled, with fal's live (or cached) unit prices applied.

    Served to the browser as is (``/luma_fal/prices``) and the basis for generated badge code.
    """
    table = copy.deepcopy(bundled_price_table())
    as_of = str(table.get("as_of", "?"))
    live = parse_pricing(_live["doc"]) if _live else {}
    for endpoint_id, entry in table["endpoints"].items():
        entry["source"] = {"kind": "bundled", "label": source_label("bundled", None, as_of), "fetched_at": None}
        quote = live.get(endpoint_id)
        if quote is None or _live is None:
            continue
        per_base = entry.get("units_per_base", {}).get(quote["unit"])
        if quote["currency"].upper() != table.get("currency", "USD") or per_base is None:
            entry["source"]["note"] = (f"fal quotes {quote['unit_price']} {quote['currency']} per {quote['unit'] or '?'}, "
                                       "which this version cannot convert; bundled price used")
            continue
        entry["unit_price"] = round(quote["unit_price"] * per_base, 6)
        # unit_price stays "per base unit" (the bundled unit, whose units_per_base is 1).
        entry["live_quote"] = quote
        kind = _live["kind"]
        entry["source"] = {"kind": kind, "label": source_label(kind, _live["fetched_at"], as_of),
                           "fetched_at": _live["fetched_at"]}
    return table


# -- evaluation -----------------------------------------------------------------------------------


def money(usd: float) -> str:
    usd = round(usd, 6)
    cents = usd * 100
    return f"${usd:.2f}" if abs(cents - round(cents)) < 1e-9 else f"${usd:.3f}"


def _text(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _count(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _base_usd(entry: Mapping[str, Any], params: Mapping[str, Any]) -> float | None:
    """Price of one unit of quantity (one run, image or source second) at ``params``; None = unpublished."""
    for match in entry.get("unpriced", []):
        if all(_text(params.get(k)) == _text(v) for k, v in match.items()):
            return None
    usd = float(entry["unit_price"]) * float(entry.get("units_per_base", {}).get(entry["unit"], 1))
    for name, table in entry.get("factors", {}).items():
        factor = table.get(_text(params.get(name)))
        if factor is None:
            return None
        usd *= float(factor)
    return usd


def price_of(endpoint_id: str, params: Mapping[str, Any], table: Mapping[str, Any] | None = None) -> Price:
    """Price of one run at widget-level ``params`` (resolution, duration, hdr, exr_export, images,
    input_images, source_seconds), from ``table`` (default: the effective table)."""
    table = effective_price_table() if table is None else table
    entry = table["endpoints"].get(endpoint_id)
    if entry is None:
        return Price(None, NOT_IN_TABLE)
    source = str(entry.get("source", {}).get("label", ""))
    merged = {**table["defaults"], **{k: v for k, v in params.items() if v is not None}}
    unit = _base_usd(entry, merged)
    if unit is None:
        return Price(None, NOT_PUBLISHED, source)
    quantity, detail = entry.get("quantity"), ""
    if quantity == "source_seconds":
        seconds = merged.get("source_seconds")
        if seconds is None:
            rate = round(unit, 6)
            return Price(None, f"{money(rate)} per started source second", source, per_source_second=rate)
        started = max(1, math.ceil(float(seconds) - 1e-9))
        usd, detail = unit * started, f" ({started} s of source)"
    elif quantity == "images":
        images = int(merged["images"])
        usd, detail = unit * images, _count(images, "image")
        inputs = int(merged["input_images"])
        extra = float(entry.get("per_input_image") or 0)
        if extra > 0 and inputs > 0:
            usd += extra * inputs
            detail += " + " + _count(inputs, "input image")
        detail = f" ({detail})"
    else:
        usd = unit
    usd = round(usd, 6)
    return Price(usd, money(usd) + detail, source)


@dataclass(frozen=True)
class UnitPrice:
    """What one of fal's billed units costs for an endpoint: fal's own quote when the pricing document was
    read (``unit`` is then fal's), else the bundled table's."""

    usd: float
    unit: str
    source: str


def unit_price_of(endpoint_id: str, table: Mapping[str, Any] | None = None) -> UnitPrice | None:
    """The unit price fal's ``x-fal-billable-units`` multiply (fal's pricing document: unit_price per unit)."""
    table = effective_price_table() if table is None else table
    entry = table["endpoints"].get(endpoint_id)
    if entry is None:
        return None
    label = str(entry.get("source", {}).get("label", ""))
    quote = entry.get("live_quote")
    if isinstance(quote, Mapping):
        return UnitPrice(float(quote["unit_price"]), str(quote.get("unit") or ""), label)
    return UnitPrice(float(entry["unit_price"]), str(entry.get("unit") or ""), label)


def price_of_request(request: Any, source_seconds: float | None = None,
                     table: Mapping[str, Any] | None = None) -> Price:
    """Price of a validated request from ``catalog.build_request`` (glue convenience)."""
    params = price_params(request)
    if source_seconds is not None:
        params["source_seconds"] = source_seconds
    return price_of(request.endpoint_id, params, table)


def price_params(request: Any) -> dict[str, Any]:
    if request.output_kind == "images":
        inputs = len(request.reference_image_urls or []) + (1 if getattr(request, "image_url", None) else 0)
        return {"images": UNI1_IMAGES_PER_REQUEST, "input_images": inputs}
    return {name: getattr(request, name, None) for name in ("resolution", "duration", "hdr", "exr_export")}
