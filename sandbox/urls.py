"""Absolute URLs from the request's own Host, and how request paths map to fal's operations."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

# fal's API host names: when a client reaches the sandbox under one of these (a test transport
# rewriting hosts), returned file URLs use fal's CDN host, exactly as fal would.
FAL_API_HOSTS = frozenset({"queue.fal.run", "fal.run", "rest.fal.ai", "queue.falrun.com", "falrun.com"})
FAL_CDN_BASE = "https://v3.fal.media"
NAMESPACES = ("workflows", "comfy")
# fal's model documents (see platform_routes): their own points, not queue calls.
PLATFORM_POINTS = {"/api/openapi/queue/openapi.json": "openapi", "/v1/models/pricing": "pricing",
                   "/v1/account/billing": "billing", "/v1/models/requests/by-endpoint": "requests",
                   "/v1/models/billing-events": "billing_events"}


def own_base(request: web.Request) -> str:
    proto = request.headers.get("X-Forwarded-Proto", request.scheme)
    host = request.headers.get("X-Forwarded-Host", request.host)
    return f"{proto}://{host}"


def cdn_base(request: web.Request) -> str:
    host = request.headers.get("X-Forwarded-Host", request.host)
    return FAL_CDN_BASE if host.split(":")[0] in FAL_API_HOSTS else own_base(request)


@dataclass(frozen=True)
class QueueRoute:
    """A queue call: ``operation`` is submit | status | stream | result | cancel | None (unknown)."""

    operation: str | None
    endpoint_id: str | None = None
    owner_app: str | None = None
    request_id: str | None = None


def parse_queue_path(path: str) -> QueueRoute:
    segments = [s for s in path.strip("/").split("/") if s]
    if "requests" in segments:
        at = segments.index("requests")
        rest = segments[at + 2:]
        if at >= 2 and len(segments) > at + 1:
            operation = {(): "result", ("status",): "status", ("status", "stream"): "stream",
                         ("cancel",): "cancel"}.get(tuple(rest))
            return QueueRoute(operation, owner_app="/".join(segments[:at]), request_id=segments[at + 1])
    minimum = 3 if segments and segments[0] in NAMESPACES else 2
    if len(segments) < minimum:
        return QueueRoute(None)
    return QueueRoute("submit", endpoint_id="/".join(segments),
                      owner_app="/".join(segments[:minimum]))


def point_of(method: str, path: str) -> str | None:
    """The fault point a call belongs to (None for the control API)."""
    if path.startswith("/_sandbox/"):
        return None
    if path.startswith("/storage/"):
        return "upload"
    if path.startswith("/files/"):
        return "download" if method in ("GET", "HEAD") else "upload"
    if path in PLATFORM_POINTS:
        return PLATFORM_POINTS[path]
    return parse_queue_path(path).operation
