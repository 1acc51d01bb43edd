"""The edge every call passes: call log, gateway-level faults, and key checks."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from .faults import GATEWAY_KINDS, Fault
from .replies import fault_reply, json_reply, platform_reply
from .state import STATE, SandboxState
from .urls import parse_queue_path, point_of

log = logging.getLogger(__name__)

ENTRY: web.RequestKey[dict[str, Any]] = web.RequestKey("call_entry", dict)
DOWNLOAD_DROP: web.RequestKey[Fault] = web.RequestKey("download_drop", Fault)
DOWNLOAD_SLOW: web.RequestKey[Fault] = web.RequestKey("download_slow", Fault)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Calls that need "Authorization: Key ...": the queue, and the REST storage endpoints. Signed upload
# URLs and file downloads are public; CDN uploads carry a CDN token instead.
_KEY_POINTS = ("submit", "status", "stream", "result", "cancel")
_KEY_PATHS = ("/storage/auth/token", "/storage/upload/initiate", "/storage/upload/initiate-multipart",
              "/v1/models/pricing", "/v1/account/billing", "/v1/models/requests/by-endpoint",
              "/v1/models/billing-events")


async def flush_then_close(request: web.Request) -> None:
    """Close the connection mid-body: what was written reaches the client, then EOF arrives before
    the declared Content-Length."""
    transport = request.transport
    if transport is None:
        return
    for _ in range(200):
        if transport.is_closing() or transport.get_write_buffer_size() == 0:
            break
        await asyncio.sleep(0.01)
    transport.close()
    entry = request.get(ENTRY)
    if entry is not None:
        entry["dropped"] = True


def drop_connection(request: web.Request) -> web.Response:
    """Abort the TCP connection without an answer. The returned response is never sent: aiohttp
    swallows the ConnectionError of writing to an aborted transport."""
    transport = request.transport
    if transport is not None:
        transport.abort()
    entry = request.get(ENTRY)
    if entry is not None:
        entry["dropped"] = True
    return web.Response(status=599)


def key_status(request: web.Request, state: SandboxState) -> str:
    """missing | malformed | invalid | valid: what the log shows instead of the key."""
    header = request.headers.get("Authorization")
    if header is None:
        return "missing"
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "key" or not key.strip():
        return "malformed"
    required = state.config.required_key
    return "valid" if required is None or key.strip() == required else "invalid"


@web.middleware
async def gateway(request: web.Request, handler: Handler) -> web.StreamResponse:
    state = request.app[STATE]
    point = point_of(request.method, request.path)
    if request.path.startswith("/_sandbox/"):
        return await handler(request)
    state.own_hosts.add(request.headers.get("X-Forwarded-Host", request.host))
    entry = state.calls.open(request.method, request.path, request.query_string, point)
    request[ENTRY] = entry
    route = parse_queue_path(request.path) if point in _KEY_POINTS else None
    endpoint_id = _endpoint_of(state, route)
    # host: which origin the call reached (the sandbox may listen on a second port, another origin).
    entry.update(endpoint_id=endpoint_id, request_id=route.request_id if route else None,
                 auth=key_status(request, state), host=request.host)
    for header in ("X-Fal-Queue-Priority", "X-Fal-Runner-Hint", "X-Fal-Request-Timeout",
                   "X-Fal-Request-Start-Timeout", "X-Fal-No-Retry", "X-Fal-Object-Lifecycle-Preference"):
        if header in request.headers:
            entry.setdefault("headers", {})[header.lower()] = request.headers[header]
    response = await _answer(request, handler, state, point, endpoint_id, route, entry)
    entry["status"] = "dropped" if entry.pop("dropped", False) else response.status
    return response


async def _answer(request: web.Request, handler: Handler, state: SandboxState, point: str | None,
                  endpoint_id: str | None, route: Any, entry: dict[str, Any]) -> web.StreamResponse:
    fault = state.faults.take(point, GATEWAY_KINDS, endpoint_id, request.path) if point else None
    if fault is not None:
        entry["fault"] = fault.kind
        if fault.kind == "delay":
            await asyncio.sleep(fault.seconds or 0.0)
            if _client_gone(request):
                return _abandoned(entry)
        elif fault.kind == "drop" and point == "download":
            request[DOWNLOAD_DROP] = fault  # the file handler sends part of the body first
        elif fault.kind == "drop":
            await request.read()
            return drop_connection(request)
        elif fault.kind == "slow" and point == "download":
            request[DOWNLOAD_SLOW] = fault  # the file handler trickles the body
        elif fault.kind == "slow":
            await asyncio.sleep(fault.seconds or 0.0)  # then answer as usual, late
            if _client_gone(request):
                return _abandoned(entry)
        elif fault.kind == "redirect":
            location = f"{(fault.location or '').rstrip('/')}{request.path_qs}"
            return web.Response(status=307, headers={"Location": location})
        else:
            return fault_reply(fault, route.request_id if route else None, platform=_on_platform(request))
    if point in _KEY_POINTS or request.path.rstrip("/") in _KEY_PATHS:
        refused = _refuse_key(entry["auth"], platform=_on_platform(request))
        if refused is not None:
            return refused
    return await handler(request)


def _on_platform(request: web.Request) -> bool:
    """A route of fal's platform API (api.fal.ai, ``/v1/...``), whose errors use fal's platform envelope."""
    return request.path.startswith("/v1/")


def _refuse_key(status: str, *, platform: bool = False) -> web.Response | None:
    if status == "valid":
        return None
    detail = {
        "missing": "Missing Authorization header. Send 'Authorization: Key <your fal key>'.",
        "malformed": "Malformed Authorization header. Expected 'Key <your fal key>'.",
        "invalid": "No user found for Key ID and Secret",
    }[status]
    return platform_reply(401, {"detail": detail}) if platform else json_reply(401, {"detail": detail})


def _endpoint_of(state: SandboxState, route: Any) -> str | None:
    if route is None:
        return None
    if route.endpoint_id is not None:
        return route.endpoint_id
    job = state.jobs.jobs.get(route.request_id or "")
    return job.endpoint_id if job is not None else None


def _client_gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


def _abandoned(entry: dict[str, Any]) -> web.Response:
    """A held call whose client hung up (or died) is never passed on, as at fal's gateway: a submit held
    this way never becomes a request. Logged with nginx's 499 (client closed the request)."""
    entry["abandoned"] = True
    return web.Response(status=499)
