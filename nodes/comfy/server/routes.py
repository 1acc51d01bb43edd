"""HTTP routes the pack's browser extension talks to (prices, spend limits, balance, fal key status;
the inbox in inbox_routes.py).

Registered on ComfyUI's own route table, so ComfyUI also serves each under ``/api/...``. No route
ever answers with the key: the browser learns only whether one is configured and where it comes from.
"""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

from aiohttp import web

from .. import host
from ..host import keystore
from ..money import fal_docs
from ..money.ledger import spent_today
from ..money.settings import current_limits, save_settings, stored_settings
from ..rules.schema_drops import node_drops
from .http import BodyRefused, no_store, read_json
from .inbox_routes import add_routes as add_inbox_routes

log = logging.getLogger(__name__)

MAX_KEY_BODY_BYTES = 4096
MAX_SETTINGS_BODY_BYTES = 4096

_registered = False


async def get_prices(request: web.Request) -> web.Response:
    """The effective price table (bundled + fal's live/cached unit prices, each endpoint with its
    source), plus the spend-limit state the badge shows and the inputs fal's schemas drop
    (``schema_drops``). Stale documents are refreshed first, for at most ~2 s; the browser evaluates exactly
    the table the Python side prices with."""
    await fal_docs.refresh(timeout=fal_docs.ROUTE_TIMEOUT_S)
    table = fal_docs.price_table()
    table["limits"] = _limits_state()
    # Connected inputs fal's current schemas have no field for (the run is refused while they are connected),
    # from the same documents as the prices: the node shows them before a run (web/schema_drops.js).
    table["schema_drops"] = node_drops(fal_docs.schema_for)
    return no_store(table)


def _spent_today() -> float | None:
    """Today's spend for the badge and the panel; None when the journal cannot be read (the prices and
    the other limits still show; a run's own limit check reads the journal again and says why)."""
    try:
        return spent_today()
    except (sqlite3.Error, OSError) as exc:
        log.warning("luma-fal: today's spend could not be read from the request journal: %s", exc)
        return None


def _limits_state() -> dict[str, Any]:
    try:
        limits = current_limits()
    except ValueError as exc:  # a malformed environment variable: say so rather than hide the limits
        return {"error": str(exc), "spent_today": _spent_today()}
    return {"max_run_usd": limits.max_run_usd, "daily_budget_usd": limits.daily_budget_usd,
            "unknown_price": limits.unknown_price, "balance_floor_usd": limits.balance_floor_usd,
            "origins": dict(limits.origins), "stored": stored_settings(), "spent_today": _spent_today()}


async def get_money(request: web.Request) -> web.Response:
    return no_store({**_limits_state(), "documents": fal_docs.status()})


async def post_money(request: web.Request) -> web.Response:
    try:
        body = await read_json(request, MAX_SETTINGS_BODY_BYTES, not_json="send the settings as JSON")
    except BodyRefused as refused:
        return refused.response
    if not isinstance(body, dict):
        return no_store({"error": "send an object such as {\"max_run_usd\": 5}"}, status=400)
    try:
        save_settings(body)
    except ValueError as exc:
        return no_store({"error": str(exc)}, status=400)
    except OSError as exc:
        return no_store({"error": f"could not write the settings file: {exc.strerror}"}, status=500)
    return no_store(_limits_state())


async def get_balance(request: web.Request) -> web.Response:
    found = await fal_docs.balance(max_age=0.0 if request.query.get("fresh") else 60.0)
    return no_store({"available": found.usd is not None, "usd": found.usd, "currency": found.currency,
                      "refused": found.refused, "message": found.message})


async def post_refresh(request: web.Request) -> web.Response:
    """Fetch fal's schemas and prices now (the settings panel's button; tests)."""
    return no_store(await fal_docs.refresh(force=True, timeout=fal_docs.FORCED_TIMEOUT_S))


async def delete_docs(request: web.Request) -> web.Response:
    """Forget fal's fetched documents (the bundled snapshot applies until the next fetch)."""
    fal_docs.forget_documents()
    return no_store(fal_docs.status())


def _key_status() -> dict[str, Any]:
    source = keystore.key_source()
    return {"configured": source is not None, "source": source}


async def get_key(request: web.Request) -> web.Response:
    return no_store(_key_status())


async def post_key(request: web.Request) -> web.Response:
    try:
        body = await read_json(request, MAX_KEY_BODY_BYTES, not_json="send the key as JSON: {\"key\": \"...\"}",
                               too_large="request body too large for a key")
    except BodyRefused as refused:
        return refused.response
    if not isinstance(body, dict) or "key" not in body:
        return no_store({"error": "key: missing (send {\"key\": \"...\"})"}, status=400)
    try:
        keystore.store_key(body["key"])
    except keystore.KeyShapeError as exc:
        return no_store({"error": str(exc)}, status=400)
    except OSError as exc:
        # The path is the user's own ComfyUI folder; the message names the file, never the key.
        log.warning("could not store the fal key file: %s", exc.strerror)
        return no_store({"error": f"could not write the key file: {exc.strerror}"}, status=500)
    log.info("fal key stored in %s", keystore.key_file_path())
    status = _key_status()
    if status["source"] == "env":
        status["note"] = "stored, but the FAL_KEY environment variable is set and takes precedence"
    return no_store(status)


async def delete_key(request: web.Request) -> web.Response:
    try:
        keystore.remove_key()
    except OSError as exc:
        log.warning("could not delete the fal key file: %s", exc.strerror)
        return no_store({"error": f"could not delete the key file: {exc.strerror}"}, status=500)
    log.info("stored fal key removed")
    return no_store(_key_status())


def add_routes(routes: web.RouteTableDef) -> None:
    routes.get("/luma_fal/prices")(get_prices)
    routes.get("/luma_fal/money")(get_money)
    routes.post("/luma_fal/money")(post_money)
    routes.get("/luma_fal/balance")(get_balance)
    routes.post("/luma_fal/fal_docs/refresh")(post_refresh)
    routes.delete("/luma_fal/fal_docs")(delete_docs)
    routes.get("/luma_fal/key")(get_key)
    routes.post("/luma_fal/key")(post_key)
    routes.delete("/luma_fal/key")(delete_key)
    add_inbox_routes(routes)


def register_routes() -> bool:
    """Add the routes to ComfyUI's server; safe to call more than once. False outside a server."""
    global _registered
    if _registered:
        return True
    instance = host.prompt_server()
    if instance is None:
        return False
    add_routes(instance.routes)
    _registered = True
    return True
