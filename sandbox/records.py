"""fal's records of the caller's requests and bills, built from what this sandbox really received and ran.

* ``GET /v1/models/requests/by-endpoint``: requests listed by end time, so a request appears only once
  it has ended (fal's documented sort and filter key, ``ended_at``); ``expand=payloads`` adds
  ``json_input`` (the body the submit carried, byte for byte as parsed) and ``json_output``.
* ``GET /v1/models/billing-events``: one event per successful request (fal bills only successful
  outputs), ``output_units`` x ``unit_price`` from the prices this sandbox serves, times the platform
  setting ``billing_factor`` (so tests can make the bill drift from the pack's estimate).

Both need a key with the matching scope (platform setting ``key_scopes``: "requests", "billing");
without it: 403, as fal answers a key that may not read them.
"""

from __future__ import annotations

import base64
import copy
from datetime import datetime, timezone
from typing import Any

from .jobs import COMPLETED, Job
from .state import SandboxState

MAX_LIMIT = 100


def _iso(stamp: float | None) -> str | None:
    return None if stamp is None else datetime.fromtimestamp(stamp, timezone.utc).isoformat().replace("+00:00", "Z")


def _parse(value: str | None) -> float | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"not an ISO 8601 time: {value!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()


def _page(items: list[dict[str, Any]], cursor: str | None, limit: int) -> tuple[list[dict[str, Any]], str | None]:
    page = int(base64.b64decode(cursor).decode()) if cursor else 0
    chunk = items[page * limit:(page + 1) * limit]
    more = len(items) > (page + 1) * limit
    return chunk, base64.b64encode(str(page + 1).encode()).decode() if more else None


def _limit(raw: str | None, default: int) -> int:
    value = int(raw) if raw else default
    if not 1 <= value <= MAX_LIMIT:
        raise ValueError(f"limit must be 1..{MAX_LIMIT}")
    return value


def _window(query: Any) -> tuple[float | None, float | None, int]:
    """``start``, ``end`` (ISO 8601, either may be absent) and ``limit`` (default 50) of a listing query;
    ValueError says which one is malformed."""
    return _parse(query.get("start")), _parse(query.get("end")), _limit(query.get("limit"), 50)


def _status(job: Job) -> tuple[int, str]:
    code = job.reply.status if job.reply is not None else 500
    return code, "success" if code < 400 else ("user_error" if code < 500 else "error")


def _ended(state: SandboxState) -> list[Job]:
    return [j for j in state.jobs.jobs.values() if j.state == COMPLETED and j.finished is not None]


def requests_doc(state: SandboxState, query: Any) -> tuple[int, Any]:
    if "requests" not in state.platform.key_scopes:
        return 403, {"detail": "This API key does not have permission to read request history"}
    endpoint_id = query.get("endpoint_id", "").strip()
    if not endpoint_id:
        return 422, {"detail": "endpoint_id is required"}
    try:
        start, end, limit = _window(query)
    except ValueError as exc:
        return 422, {"detail": str(exc)}
    wanted_status, wanted_id = query.get("status"), query.get("request_id")
    payloads = "payloads" in ",".join(query.getall("expand", [])).split(",")
    rows = []
    for job in _ended(state):
        ended = job.wall(job.finished) or 0.0
        code, status = _status(job)
        if job.endpoint_id != endpoint_id or (start is not None and ended < start) or (end is not None and ended > end):
            continue
        if (wanted_status and wanted_status != status) or (wanted_id and wanted_id != job.request_id):
            continue
        started = job.wall(job.started)
        item: dict[str, Any] = {
            "request_id": job.request_id, "endpoint_id": job.endpoint_id, "sent_at": _iso(job.sent_wall),
            "started_at": _iso(started), "ended_at": _iso(ended), "status_code": code,
            "duration": round(ended - (started or job.sent_wall), 3),
        }
        if payloads:
            item["json_input"] = job.payload
            item["json_output"] = job.reply.body if job.reply is not None else None
        rows.append(item)
    key = "duration" if query.get("sort_by") == "duration" else "ended_at"
    rows.sort(key=lambda r: r[key] or 0, reverse=True)
    items, cursor = _page(rows, query.get("cursor"), limit)
    return 200, {"items": items, "next_cursor": cursor, "has_more": cursor is not None}


def _price_params(endpoint_id: str, payload: Any, produced: dict[str, Any]) -> dict[str, Any]:
    """The billed quantities of a request as fal's price rules name them, from what was really produced
    (the images returned and their inputs for Uni-1, the source's started seconds for reframe)."""
    body = payload if isinstance(payload, dict) else {}
    if "/uni-1/" in endpoint_id:
        inputs = len(body.get("reference_image_urls") or []) + (1 if body.get("image_url") else 0)
        return {"images": produced.get("images", 1), "input_images": produced.get("input_images", inputs)}
    if endpoint_id.endswith("/reframe") and produced.get("video_seconds") is not None:
        return {**body, "source_seconds": produced["video_seconds"]}
    return body


def _served_table(quotes: dict[str, tuple[float, str]]) -> dict[str, Any]:
    """The pack's price rules at the unit prices this sandbox serves (``prices`` drift included), a quote in
    another unit (e.g. per video second) converted to the rule's base run as fal's own prices read."""
    from nodes.luma.prices import bundled_price_table

    table = copy.deepcopy(bundled_price_table())
    for endpoint_id, (unit_price, unit) in quotes.items():
        entry = table["endpoints"].get(endpoint_id)
        if entry is not None:
            per_base = entry.get("units_per_base", {}).get(unit) or 1
            entry["unit_price"] = unit_price * per_base / (entry.get("units_per_base", {}).get(entry["unit"]) or 1)
    return table


def _unit_prices(state: SandboxState, endpoint_ids: list[str]) -> dict[str, tuple[float, str]]:
    """endpoint id -> (unit price, unit) as this sandbox's pricing document quotes them."""
    _, prices = state.platform.pricing_doc(sorted(set(endpoint_ids)) or ["-"])
    items = prices.get("prices", []) if isinstance(prices, dict) else []
    return {p["endpoint_id"]: (p["unit_price"], p["unit"]) for p in items}


def billed(state: SandboxState, job: Job,
           unit_prices: dict[str, tuple[float, str]] | None = None) -> tuple[float, float] | None:
    """(units, unit price) fal bills for a successful job: the price of what it produced at the served unit
    price (times the platform's ``billing_factor``) in units of that price; None for failures or no price."""
    from nodes.luma.prices import price_of

    if job.reply is None or job.reply.status >= 400:
        return None
    unit_prices = _unit_prices(state, [job.endpoint_id]) if unit_prices is None else unit_prices
    unit_price = unit_prices.get(job.endpoint_id, (None, ""))[0]
    usd = price_of(job.endpoint_id, _price_params(job.endpoint_id, job.payload, job.reply.produced),
                   _served_table(unit_prices)).usd
    if not unit_price or usd is None:
        return None
    return round(usd * state.platform.billing_factor / unit_price, 6), unit_price


def billing_events_doc(state: SandboxState, query: Any) -> tuple[int, Any]:
    if "billing" not in state.platform.key_scopes:
        return 403, {"detail": "Admin API key required to read billing events"}
    try:
        start, end, limit = _window(query)
    except ValueError as exc:
        return 422, {"detail": str(exc)}
    ids = {i for raw in query.getall("request_id", []) for i in raw.split(",") if i}
    endpoints = {i for raw in query.getall("endpoint_id", []) for i in raw.split(",") if i}
    unit_prices = _unit_prices(state, [j.endpoint_id for j in state.jobs.jobs.values()])
    events = []
    for job in _ended(state):
        stamp = job.wall(job.finished) or 0.0
        if (ids and job.request_id not in ids) or (endpoints and job.endpoint_id not in endpoints):
            continue
        if (start is not None and stamp < start) or (end is not None and stamp >= end):
            continue
        bill = billed(state, job, unit_prices)
        if bill is None:
            continue
        units, unit_price = bill
        events.append({"request_id": job.request_id, "endpoint_id": job.endpoint_id, "timestamp": _iso(stamp),
                       "output_units": units, "unit_price": unit_price, "percent_discount": None,
                       "cost_estimate_nano_usd": int(round(units * unit_price * 1e9))})
    events.sort(key=lambda e: e["timestamp"], reverse=True)
    items, cursor = _page(events, query.get("cursor"), limit)
    return 200, {"billing_events": items, "next_cursor": cursor, "has_more": cursor is not None}
