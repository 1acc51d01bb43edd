"""What a run costs on fal, from ``prices.json`` (the one price table; the browser gets the same file).

prices.json format (``"format": 1``) -- the browser re-implements ``price_of`` from this description:

* ``defaults``: a value for every parameter the caller may leave out
  (``resolution``, ``duration``, ``hdr``, ``exr_export``, ``images``, ``input_images``).
  Parameters = ``{...defaults, ...params}`` where params whose value is null are left out first;
  params an endpoint does not name are ignored.
* ``endpoints[endpoint_id]`` has a ``kind``:

  - ``"table"``: ``keys`` is a list of parameter names. The lookup key is the parameters' values in that
    order joined by ``"|"``, each written as text: booleans as ``true``/``false``, everything else as is
    (``"5s|720p|false"``). ``prices[key]`` is the price in USD. A missing key or a null price means
    fal publishes no price for those settings.
  - ``"per_image"``: ``usd = per_image * images + per_input_image * input_images``, where ``images`` is the
    number of images returned (Uni-1 returns 1) and ``input_images`` counts every image sent (the image
    being edited plus each reference). ``per_image`` null means no published price.
  - optional ``hint``: ``{"from": other_endpoint_id, "text": "..."}``. Only used when the price is not
    published: evaluate ``from`` with the same parameters; if that has a price, append it to the label.
  - ``note``: free text for people, never evaluated.

* Labels (``Price.label``):

  - money: round usd to 6 decimals, then ``"$" + 2 decimals`` if it is whole cents, else 3 decimals
    (``$1.00``, ``$0.045``);
  - table: the money alone;
  - per_image: money + `` (N image[s])``, plus `` + M input image[s]`` when per_input_image > 0 and M > 0
    (``$0.045 (1 image + 1 input image)``); "image" is singular only for exactly 1;
  - no price: ``price not published``, with a hint: ``price not published (<hint text>
    <money>)``; an endpoint missing from the table: ``price unknown (not in the price table)``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from .constants import UNI1_IMAGES_PER_REQUEST

PRICES_PATH = Path(__file__).with_name("prices.json")
NOT_PUBLISHED = "price not published"
NOT_IN_TABLE = "price unknown (not in the price table)"


@dataclass(frozen=True)
class Price:
    usd: float | None
    label: str


@lru_cache(maxsize=1)
def price_table() -> dict[str, Any]:
    return json.loads(PRICES_PATH.read_text(encoding="utf-8"))


def money(usd: float) -> str:
    usd = round(usd, 6)
    cents = usd * 100
    return f"${usd:.2f}" if abs(cents - round(cents)) < 1e-9 else f"${usd:.3f}"


def _text(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _count(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _usd(entry: dict[str, Any], params: dict[str, Any]) -> float | None:
    if entry["kind"] == "table":
        key = "|".join(_text(params.get(name)) for name in entry["keys"])
        return entry["prices"].get(key)
    if entry["kind"] == "per_image":
        if entry["per_image"] is None:
            return None
        total = entry["per_image"] * int(params["images"])
        return round(total + (entry["per_input_image"] or 0) * int(params["input_images"]), 6)
    raise ValueError(f"unknown price kind {entry['kind']!r}")


def price_of(endpoint_id: str, params: dict[str, Any]) -> Price:
    """Price of one run at widget-level ``params`` (resolution, duration, hdr, exr_export, images,
    input_images). Unknown prices give ``usd=None`` and a label saying so."""
    table = price_table()
    entry = table["endpoints"].get(endpoint_id)
    if entry is None:
        return Price(None, NOT_IN_TABLE)
    merged = {**table["defaults"], **{k: v for k, v in params.items() if v is not None}}
    usd = _usd(entry, merged)
    if usd is None:
        return Price(None, _not_published(entry, merged))
    if entry["kind"] == "per_image":
        detail = _count(int(merged["images"]), "image")
        inputs = int(merged["input_images"])
        if (entry["per_input_image"] or 0) > 0 and inputs > 0:
            detail += " + " + _count(inputs, "input image")
        return Price(usd, f"{money(usd)} ({detail})")
    return Price(usd, money(usd))


def _not_published(entry: dict[str, Any], params: dict[str, Any]) -> str:
    hint = entry.get("hint")
    if hint:
        other = price_table()["endpoints"].get(hint["from"])
        other_usd = _usd(other, params) if other else None
        if other_usd is not None:
            return f"{NOT_PUBLISHED} ({hint['text']} {money(other_usd)})"
    return NOT_PUBLISHED


def price_of_request(request: Any) -> Price:
    """Price of a validated request from ``catalog.build_request`` (glue convenience)."""
    return price_of(request.endpoint_id, price_params(request))


def price_params(request: Any) -> dict[str, Any]:
    if request.output_kind == "images":
        inputs = len(request.reference_image_urls or []) + (1 if getattr(request, "image_url", None) else 0)
        return {"images": UNI1_IMAGES_PER_REQUEST, "input_images": inputs}
    return {name: getattr(request, name, None) for name in ("resolution", "duration", "hdr", "exr_export")}
