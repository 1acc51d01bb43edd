"""fal's live schema and prices for the pack: fetched in the background, cached in the user folder.

* Never fetched at import or ComfyUI start. A run refreshes what is older than a day (its endpoint's
  schema and the price list) with a hard 2 s bound, then goes on with whatever it has; the price
  route does the same for the browser; ``POST /luma_fal/fal_docs/refresh`` forces it.
* The cache (``user/comfyui-luma-fal/fal-docs.json``) keeps each document with its fetch time and the
  server it came from, so a cache filled from the sandbox is never used against fal and vice versa.
* What is "current" per document: fetched by this process within a day, last attempt successful =
  live; otherwise the cached copy (with its date); otherwise the snapshot bundled with the pack.
  ``DELETE /luma_fal/fal_docs`` forgets the cached copies (bundled until the next fetch).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

from ...fal.config import FalConfig
from ...fal.platform import Balance, PlatformUnavailable, fetch_balance, fetch_openapi, fetch_pricing
from ...luma import constants as C
from ...luma import prices
from ...luma.fal_schema import EndpointSchema, SchemaUnreadable, bundled_schema, parse_openapi
from ..host import user_directory
from ..host.keystore import key_file_path

log = logging.getLogger(__name__)

CACHE_FILE_NAME = "fal-docs.json"
MAX_AGE_S = 24 * 3600
RUN_TIMEOUT_S = 2.0          # the longest a run waits for fresh documents
ROUTE_TIMEOUT_S = 2.0
FORCED_TIMEOUT_S = 10.0
BALANCE_MAX_AGE_S = 60.0

_lock = threading.Lock()
_state: dict[str, Any] | None = None          # the cache file's content, loaded on first use
_fetched_here: dict[str, float] = {}          # document key -> time this process fetched it
_errors: dict[str, str] = {}                  # document key -> why the last fetch failed
_balance: tuple[float, Balance] | None = None


def cache_path() -> Path:
    return user_directory() / "comfyui-luma-fal" / CACHE_FILE_NAME


def _config() -> FalConfig:
    return FalConfig.from_env(key_file=key_file_path())


def _origin(config: FalConfig) -> str:
    return f"{config.hosts.platform} {config.hosts.site}"


def _loaded(config: FalConfig) -> dict[str, Any]:
    """The cache for the configured fal (read once; a cache from another server is ignored)."""
    global _state
    with _lock:
        if _state is not None and _state.get("origin") == _origin(config):
            return _state
        state: dict[str, Any] = {"origin": _origin(config), "docs": {}}
        try:
            data = json.loads(cache_path().read_text(encoding="utf-8"))
            if isinstance(data, dict) and data.get("origin") == state["origin"] and isinstance(data.get("docs"), dict):
                state = data
        except (OSError, ValueError):
            pass
        _state = state
        _fetched_here.clear()
        _apply_prices(state)
        return state


def _save(state: dict[str, Any]) -> None:
    path = cache_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(state), encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        log.warning("luma-fal: could not write %s: %s", path, exc.strerror)


def _kind(key: str, fetched_at: float) -> str:
    # Live: this process fetched it within a day and the last attempt worked; otherwise it is a cached copy.
    live = _fetched_here.get(key) == fetched_at and time.time() - fetched_at < MAX_AGE_S and key not in _errors
    return "live" if live else "cached"


def _apply_prices(state: dict[str, Any]) -> None:
    entry = state["docs"].get("pricing")
    if entry:
        prices.set_price_document(entry["doc"], _kind("pricing", entry["fetched_at"]), entry["fetched_at"])  # type: ignore[arg-type]
    else:
        prices.clear_price_document()


def _stale(state: dict[str, Any], key: str) -> bool:
    entry = state["docs"].get(key)
    return entry is None or time.time() - float(entry["fetched_at"]) >= MAX_AGE_S


async def _fetch_one(config: FalConfig, state: dict[str, Any], key: str, timeout: float) -> None:
    try:
        if key == "pricing":
            doc = await fetch_pricing(config, C.ALL_ENDPOINTS, timeout=timeout)
            if not prices.parse_pricing(doc):
                raise PlatformUnavailable("fal's price list names none of the Luma endpoints")
        else:
            endpoint_id = key.split(":", 1)[1]
            doc = await fetch_openapi(config, endpoint_id, timeout=timeout)
            parse_openapi(endpoint_id, doc)  # refuse to cache a document the pack cannot read
    except (PlatformUnavailable, SchemaUnreadable) as exc:
        _errors[key] = str(exc)
        log.info("luma-fal: %s; using the %s copy", exc, "cached" if key in state["docs"] else "bundled")
        return
    now = time.time()
    with _lock:
        state["docs"][key] = {"fetched_at": now, "doc": doc}
        _fetched_here[key] = now
        _errors.pop(key, None)


async def refresh(endpoint_ids: tuple[str, ...] = C.ALL_ENDPOINTS, *, force: bool = False,
                  timeout: float = RUN_TIMEOUT_S) -> dict[str, Any]:
    """Fetch the stale (or, forced, all) documents for ``endpoint_ids`` and the price list, at most
    ``timeout`` seconds in all; never raises. Returns ``status()``."""
    config = _config()
    state = _loaded(config)
    keys = ["pricing", *(f"openapi:{e}" for e in endpoint_ids)]
    due = [k for k in keys if force or _stale(state, k)]
    if due:
        work = asyncio.gather(*(_fetch_one(config, state, k, timeout) for k in due))
        try:
            await asyncio.wait_for(work, timeout=timeout + 0.5)
        except asyncio.TimeoutError:
            for key in due:
                if key not in _fetched_here:
                    _errors.setdefault(key, f"no answer within {timeout:g} s")
        _save(state)
    _apply_prices(state)
    return status()


def price_table() -> dict[str, Any]:
    """The effective price table with the cached price list applied (the cache file is read once, at
    first use; nothing is fetched): what the badge declared in a node schema is generated from.

    Called whenever ComfyUI 0.33.0 builds a node schema (every /object_info, several times per prompt),
    so after the first use it only reads what is registered. A bad setting (e.g. LUMA_FAL_BASE_URL) must
    not break the node definitions: the bundled prices apply and the setting is reported when a node runs.
    """
    if _state is None:
        try:
            _loaded(_config())
        except ValueError as exc:
            log.debug("luma-fal: cached prices not read: %s", exc)
    return prices.effective_price_table()


def schema_for(endpoint_id: str) -> EndpointSchema | None:
    """fal's current input schema for the endpoint: live, else cached, else bundled (None if none)."""
    state = _loaded(_config())
    key = f"openapi:{endpoint_id}"
    entry = state["docs"].get(key)
    if entry:
        kind = _kind(key, entry["fetched_at"])
        try:
            return parse_openapi(endpoint_id, entry["doc"],
                                 prices.source_label(kind, entry["fetched_at"], "?"))  # type: ignore[arg-type]
        except SchemaUnreadable:
            pass
    return bundled_schema(endpoint_id)


def status() -> dict[str, Any]:
    """Where the prices and each schema come from now (shown in the settings panel)."""
    state = _loaded(_config())
    table = prices.effective_price_table()
    schemas = {}
    for endpoint_id in C.ALL_ENDPOINTS:
        schema = schema_for(endpoint_id)
        schemas[endpoint_id] = {"source": schema.source if schema else "none",
                                "error": _errors.get(f"openapi:{endpoint_id}")}
    pricing = state["docs"].get("pricing")
    return {
        "prices": {"source": ", ".join(sorted({e["source"]["label"] for e in table["endpoints"].values()})),
                   "fetched_at": pricing["fetched_at"] if pricing else None, "error": _errors.get("pricing")},
        "schemas": schemas,
    }


def forget_documents() -> None:
    """Drop every fetched and cached document: the bundled snapshot applies until the next fetch."""
    global _state
    with _lock:
        _state = None
        _fetched_here.clear()
        _errors.clear()
        try:
            cache_path().unlink()
        except FileNotFoundError:
            pass
    prices.clear_price_document()


async def balance(*, timeout: float = RUN_TIMEOUT_S, max_age: float = BALANCE_MAX_AGE_S) -> Balance:
    """The account's credit balance (remembered for a minute, so a prompt of many nodes asks once)."""
    global _balance
    if _balance is not None and time.monotonic() - _balance[0] < max_age:
        return _balance[1]
    found = await fetch_balance(_config(), timeout=timeout)
    _balance = (time.monotonic(), found)
    return found


def forget_balance() -> None:
    global _balance
    _balance = None
