"""fal's documents at fal's paths: ``/api/openapi/queue/openapi.json`` (public, like fal.ai's site),
``/v1/models/pricing``, ``/v1/account/billing`` and fal's records ``/v1/models/requests/by-endpoint``,
``/v1/models/billing-events`` (key required, like api.fal.ai; records.py). Errors on the api.fal.ai routes
come in fal's platform envelope ``{"error": {"type", "message"}}`` (``replies.platform_reply``)."""

from __future__ import annotations

from aiohttp import web

from .records import billing_events_doc, requests_doc
from .replies import json_reply, platform_reply
from .state import STATE

OPENAPI_PATH = "/api/openapi/queue/openapi.json"
PRICING_PATH = "/v1/models/pricing"
BILLING_PATH = "/v1/account/billing"
REQUESTS_PATH = "/v1/models/requests/by-endpoint"
BILLING_EVENTS_PATH = "/v1/models/billing-events"
PLATFORM_POINTS = {OPENAPI_PATH: "openapi", PRICING_PATH: "pricing", BILLING_PATH: "billing",
                   REQUESTS_PATH: "requests", BILLING_EVENTS_PATH: "billing_events"}


async def openapi(request: web.Request) -> web.Response:
    endpoint_id = request.query.get("endpoint_id", "").strip()
    if not endpoint_id:
        return json_reply(422, {"detail": "endpoint_id is required"})
    status, doc = request.app[STATE].platform.openapi_doc(endpoint_id)
    return json_reply(status, doc)


async def pricing(request: web.Request) -> web.Response:
    ids = [i.strip() for i in request.query.get("endpoint_id", "").split(",") if i.strip()]
    status, doc = request.app[STATE].platform.pricing_doc(ids)
    return platform_reply(status, doc)


async def billing(request: web.Request) -> web.Response:
    status, doc = request.app[STATE].platform.billing_doc()
    return platform_reply(status, doc)


async def requests_by_endpoint(request: web.Request) -> web.Response:
    status, doc = requests_doc(request.app[STATE], request.query)
    return platform_reply(status, doc)


async def billing_events(request: web.Request) -> web.Response:
    status, doc = billing_events_doc(request.app[STATE], request.query)
    return platform_reply(status, doc)


def add_routes(app: web.Application) -> None:
    app.router.add_get(REQUESTS_PATH, requests_by_endpoint)
    app.router.add_get(BILLING_EVENTS_PATH, billing_events)
    app.router.add_get(OPENAPI_PATH, openapi)
    app.router.add_get(PRICING_PATH, pricing)
    app.router.add_get(BILLING_PATH, billing)
