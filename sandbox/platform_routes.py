"""fal's documents at fal's paths: ``/api/openapi/queue/openapi.json`` (public, like fal.ai's site),
``/v1/models/pricing`` and ``/v1/account/billing`` (key required, like api.fal.ai)."""

from __future__ import annotations

from aiohttp import web

from .replies import json_reply
from .state import STATE

OPENAPI_PATH = "/api/openapi/queue/openapi.json"
PRICING_PATH = "/v1/models/pricing"
BILLING_PATH = "/v1/account/billing"
PLATFORM_POINTS = {OPENAPI_PATH: "openapi", PRICING_PATH: "pricing", BILLING_PATH: "billing"}


async def openapi(request: web.Request) -> web.Response:
    endpoint_id = request.query.get("endpoint_id", "").strip()
    if not endpoint_id:
        return json_reply(422, {"detail": "endpoint_id is required"})
    status, doc = request.app[STATE].platform.openapi_doc(endpoint_id)
    return json_reply(status, doc)


async def pricing(request: web.Request) -> web.Response:
    ids = [i.strip() for i in request.query.get("endpoint_id", "").split(",") if i.strip()]
    status, doc = request.app[STATE].platform.pricing_doc(ids)
    return json_reply(status, doc)


async def billing(request: web.Request) -> web.Response:
    status, doc = request.app[STATE].platform.billing_doc()
    return json_reply(status, doc)


def add_routes(app: web.Application) -> None:
    app.router.add_get(OPENAPI_PATH, openapi)
    app.router.add_get(PRICING_PATH, pricing)
    app.router.add_get(BILLING_PATH, billing)
