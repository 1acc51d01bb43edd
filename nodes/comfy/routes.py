"""HTTP routes the pack's browser extension talks to (price table, fal key status; the inbox in inbox_routes.py).

Registered on ComfyUI's own route table, so ComfyUI also serves each under ``/api/...``. No route
ever answers with the key: the browser learns only whether one is configured and where it comes from.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from aiohttp import web

from . import keystore

log = logging.getLogger(__name__)

PRICES_FILE = Path(__file__).resolve().parent.parent / "luma" / "prices.json"
MAX_KEY_BODY_BYTES = 4096

_registered = False


async def get_prices(request: web.Request) -> web.StreamResponse:
    # Served verbatim: the browser evaluates exactly the table the Python side prices with.
    if not PRICES_FILE.is_file():
        return web.json_response({"error": "price table missing from this install"}, status=404)
    return web.FileResponse(PRICES_FILE, headers={"Content-Type": "application/json", "Cache-Control": "no-cache"})


def _key_status() -> dict[str, Any]:
    source = keystore.key_source()
    return {"configured": source is not None, "source": source}


def _no_store(body: dict[str, Any], status: int = 200) -> web.Response:
    return web.json_response(body, status=status, headers={"Cache-Control": "no-store"})


async def get_key(request: web.Request) -> web.Response:
    return _no_store(_key_status())


async def post_key(request: web.Request) -> web.Response:
    # Requiring a JSON body means a cross-site form post cannot set the key without a CORS preflight.
    if request.content_type != "application/json":
        return _no_store({"error": "send the key as JSON: {\"key\": \"...\"}"}, status=415)
    if request.content_length is not None and request.content_length > MAX_KEY_BODY_BYTES:
        return _no_store({"error": "request body too large for a key"}, status=413)
    try:
        body = json.loads(await request.text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        return _no_store({"error": "request body is not valid JSON"}, status=400)
    if not isinstance(body, dict) or "key" not in body:
        return _no_store({"error": "key: missing (send {\"key\": \"...\"})"}, status=400)
    try:
        keystore.store_key(body["key"])
    except keystore.KeyShapeError as exc:
        return _no_store({"error": str(exc)}, status=400)
    except OSError as exc:
        # The path is the user's own ComfyUI folder; the message names the file, never the key.
        log.warning("could not store the fal key file: %s", exc.strerror)
        return _no_store({"error": f"could not write the key file: {exc.strerror}"}, status=500)
    log.info("fal key stored in %s", keystore.key_file_path())
    status = _key_status()
    if status["source"] == "env":
        status["note"] = "stored, but the FAL_KEY environment variable is set and takes precedence"
    return _no_store(status)


async def delete_key(request: web.Request) -> web.Response:
    try:
        keystore.remove_key()
    except OSError as exc:
        log.warning("could not delete the fal key file: %s", exc.strerror)
        return _no_store({"error": f"could not delete the key file: {exc.strerror}"}, status=500)
    log.info("stored fal key removed")
    return _no_store(_key_status())


def add_routes(routes: web.RouteTableDef) -> None:
    routes.get("/luma_fal/prices")(get_prices)
    routes.get("/luma_fal/key")(get_key)
    routes.post("/luma_fal/key")(post_key)
    routes.delete("/luma_fal/key")(delete_key)
    from .inbox_routes import add_routes as add_inbox_routes

    add_inbox_routes(routes)


def register_routes() -> bool:
    """Add the routes to ComfyUI's server; safe to call more than once. False outside a server."""
    global _registered
    if _registered:
        return True
    try:
        from server import PromptServer
    except ImportError:
        return False
    instance = getattr(PromptServer, "instance", None)
    if instance is None:
        return False
    add_routes(instance.routes)
    _registered = True
    return True
