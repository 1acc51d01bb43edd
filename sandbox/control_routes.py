"""The sandbox's own control API under /_sandbox/: health, reset, config, faults, call log, expiry."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from .faults import parse_fault
from .replies import json_reply
from .state import STATE


async def _json_object(request: web.Request) -> dict[str, Any] | web.Response:
    try:
        body = json.loads(await request.read() or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError):
        body = None
    if not isinstance(body, dict):
        return json_reply(400, {"detail": "expected a JSON object"})
    return body


async def health(request: web.Request) -> web.Response:
    state = request.app[STATE]
    return json_reply(200, {"ok": True, "jobs": len(state.jobs.jobs), "config": state.config.as_dict()})


async def reset(request: web.Request) -> web.Response:
    request.app[STATE].reset()
    return json_reply(200, {"ok": True})


async def get_config(request: web.Request) -> web.Response:
    return json_reply(200, request.app[STATE].config.as_dict())


async def set_config(request: web.Request) -> web.Response:
    body = await _json_object(request)
    if isinstance(body, web.Response):
        return body
    state = request.app[STATE]
    try:
        state.config = state.config.updated(body)
    except ValueError as exc:
        return json_reply(400, {"detail": str(exc)})
    return json_reply(200, state.config.as_dict())


async def add_faults(request: web.Request) -> web.Response:
    body = await _json_object(request)
    if isinstance(body, web.Response):
        return body
    raw = body.get("faults")
    if not isinstance(raw, list):
        return json_reply(400, {"detail": "expected {\"faults\": [ ... ]}"})
    try:
        faults = [parse_fault(item) for item in raw]
    except (ValueError, TypeError) as exc:
        return json_reply(400, {"detail": str(exc)})
    state = request.app[STATE]
    state.faults.add(faults)
    return json_reply(200, {"pending": state.faults.pending()})


async def list_faults(request: web.Request) -> web.Response:
    return json_reply(200, {"pending": request.app[STATE].faults.pending()})


async def clear_faults(request: web.Request) -> web.Response:
    request.app[STATE].faults.clear()
    return json_reply(200, {"pending": []})


async def expire(request: web.Request) -> web.Response:
    body = await _json_object(request)
    if isinstance(body, web.Response):
        return body
    request_id = body.get("request_id")
    if request_id is not None and not isinstance(request_id, str):
        return json_reply(400, {"detail": "request_id must be a string or absent"})
    return json_reply(200, {"expired": request.app[STATE].jobs.expire(request_id)})


async def release(request: web.Request) -> web.Response:
    body = await _json_object(request)
    if isinstance(body, web.Response):
        return body
    request_id = body.get("request_id")
    if not isinstance(request_id, str):
        return json_reply(400, {"detail": "request_id must be a string"})
    return json_reply(200, {"released": request.app[STATE].jobs.release(request_id)})
async def get_platform(request: web.Request) -> web.Response:
    return json_reply(200, request.app[STATE].platform.as_dict())


async def set_platform(request: web.Request) -> web.Response:
    """Drift fal's documents: enum_drift / drop_fields / require_fields / openapi (whole docs) /
    openapi_status {endpoint or "*": 404|500}, prices {endpoint: {unit_price, unit}}, pricing_status,
    balance, currency, billing_status (401/403 = a key without billing access)."""
    body = await _json_object(request)
    if isinstance(body, web.Response):
        return body
    platform = request.app[STATE].platform
    try:
        platform.update(body)
    except ValueError as exc:
        return json_reply(400, {"detail": str(exc)})
    return json_reply(200, platform.as_dict())


async def call_log(request: web.Request) -> web.Response:
    return json_reply(200, {"calls": request.app[STATE].calls.entries()})


async def second_origin(request: web.Request) -> web.Response:
    """Open (once) a second port serving this sandbox: ``{"url": "http://HOST:PORT"}``, another origin."""
    opener = request.app[STATE].open_second_origin
    if opener is None:
        return json_reply(501, {"detail": "this sandbox was not started by its server runner"})
    return json_reply(200, {"url": await opener()})


async def request_times(request: web.Request) -> web.Response:
    """A request's state and, once COMPLETED, when (``completed_at``, the sandbox's wall clock, Unix seconds):
    benchmarks time "fal said done -> frames in the graph" from it."""
    job = request.app[STATE].jobs.jobs.get(request.match_info["request_id"])
    if job is None:
        return json_reply(404, {"detail": "no such request"})
    return json_reply(200, {"request_id": job.request_id, "state": job.state, "completed_at": job.completed_at})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/_sandbox/requests/{request_id}", request_times)
    app.router.add_get("/_sandbox/health", health)
    app.router.add_post("/_sandbox/reset", reset)
    app.router.add_get("/_sandbox/config", get_config)
    app.router.add_post("/_sandbox/config", set_config)
    app.router.add_get("/_sandbox/faults", list_faults)
    app.router.add_post("/_sandbox/faults", add_faults)
    app.router.add_delete("/_sandbox/faults", clear_faults)
    app.router.add_get("/_sandbox/log", call_log)
    app.router.add_post("/_sandbox/second_origin", second_origin)
    app.router.add_post("/_sandbox/expire", expire)
    app.router.add_post("/_sandbox/release", release)
    app.router.add_get("/_sandbox/platform", get_platform)
    app.router.add_post("/_sandbox/platform", set_platform)
