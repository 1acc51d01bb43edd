"""The sandbox serves fal's model documents at fal's paths, drifts them on request, and its queue
validates against the schema it serves, as fal does."""

from __future__ import annotations

from typing import Any

import httpx

from nodes.luma import constants as C
from nodes.luma.fal_schema import bundled_documents
from tests.sandbox.helpers import run_to_result

OPENAPI = "/api/openapi/queue/openapi.json"


def test_serves_the_bundled_schema_without_a_key(sandbox: Any) -> None:
    reply = httpx.get(sandbox.url + OPENAPI, params={"endpoint_id": C.RAY32_REFRAME})
    assert reply.status_code == 200 and reply.json() == bundled_documents()[C.RAY32_REFRAME]
    assert httpx.get(sandbox.url + OPENAPI, params={"endpoint_id": "no/such/app"}).status_code == 404


def test_pricing_and_billing_need_the_key(sandbox: Any, api: httpx.Client) -> None:
    assert httpx.get(sandbox.url + "/v1/models/pricing", params={"endpoint_id": C.UNI1_EDIT}).status_code == 401
    assert httpx.get(sandbox.url + "/v1/account/billing").status_code == 401
    prices = api.get("/v1/models/pricing", params={"endpoint_id": f"{C.UNI1_EDIT},{C.RAY32_REFRAME}"}).json()
    assert prices["prices"] == [
        {"endpoint_id": C.UNI1_EDIT, "unit_price": 0.042, "unit": "image", "currency": "USD"},
        {"endpoint_id": C.RAY32_REFRAME, "unit_price": 0.06, "unit": "video_second", "currency": "USD"}]
    assert api.get("/v1/account/billing", params={"expand": "credits"}).json()["credits"] == \
        {"current_balance": 100.0, "currency": "USD"}


def test_drift_controls_and_reset(sandbox: Any, api: httpx.Client) -> None:
    sandbox.platform(enum_drift={C.RAY32_TEXT_TO_VIDEO: {"aspect_ratio": ["16:9"]}},
                     drop_fields={C.RAY32_TEXT_TO_VIDEO: ["loop"]}, require_fields={C.RAY32_TEXT_TO_VIDEO: ["x"]},
                     prices={C.UNI1_EDIT: {"unit_price": 0.5, "unit": "image"}}, balance=1.25, billing_status=403)
    doc = api.get(OPENAPI, params={"endpoint_id": C.RAY32_TEXT_TO_VIDEO}).json()
    schema = doc["components"]["schemas"]["Ray32TextToVideoInput"]
    assert schema["properties"]["aspect_ratio"]["enum"] == ["16:9"] and "loop" not in schema["properties"]
    assert "x" in schema["required"]
    assert api.get("/v1/models/pricing", params={"endpoint_id": C.UNI1_EDIT}).json()["prices"][0]["unit_price"] == 0.5
    assert api.get("/v1/account/billing").status_code == 403
    sandbox.platform(openapi_status={"*": 500}, pricing_status=404)
    assert api.get(OPENAPI, params={"endpoint_id": C.UNI1_EDIT}).status_code == 500
    assert api.get("/v1/models/pricing", params={"endpoint_id": C.UNI1_EDIT}).status_code == 404
    sandbox.reset()
    assert api.get(OPENAPI, params={"endpoint_id": C.RAY32_TEXT_TO_VIDEO}).json() == \
        bundled_documents()[C.RAY32_TEXT_TO_VIDEO]
    assert api.get("/v1/account/billing").status_code == 200


def test_bad_control_input_is_refused(sandbox: Any) -> None:
    reply = httpx.post(sandbox.url + "/_sandbox/platform", json={"colour": "red"})
    assert reply.status_code == 400 and "unknown platform setting" in reply.json()["detail"]


def test_queue_validates_against_the_served_schema(sandbox: Any, api: httpx.Client) -> None:
    sandbox.platform(enum_drift={C.UNI1_TEXT_TO_IMAGE: {"output_format": ["jpeg"]}})
    result = run_to_result(api, C.UNI1_TEXT_TO_IMAGE, {"prompt": "a kite", "output_format": "png"})
    assert result.status_code == 422
    [item] = result.json()["detail"]
    assert item["loc"] == ["body", "output_format"] and "jpeg" in item["msg"]
    assert run_to_result(api, C.UNI1_TEXT_TO_IMAGE, {"prompt": "a kite", "output_format": "jpeg"}).status_code == 200


def _envelope(reply: httpx.Response, status: int, kind: str) -> str:
    """fal's platform API error: ``{"error": {"type", "message"}}``; returns the message."""
    assert reply.status_code == status, reply.text
    body = reply.json()
    assert set(body) == {"error"} and body["error"]["type"] == kind and isinstance(body["error"]["message"], str)
    return body["error"]["message"]


def test_platform_routes_answer_errors_in_fals_platform_envelope(sandbox: Any, api: httpx.Client) -> None:
    for path in ("/v1/models/pricing", "/v1/account/billing", "/v1/models/requests/by-endpoint",
                 "/v1/models/billing-events"):
        assert "Authorization" in _envelope(httpx.get(sandbox.url + path), 401, "authorization_error")
    _envelope(api.get("/v1/models/requests/by-endpoint"), 422, "validation_error")
    _envelope(api.get("/v1/models/billing-events", params={"start": "yesterday"}), 422, "validation_error")
    sandbox.platform(key_scopes=[], pricing_status=500, billing_status=403)
    assert "request history" in _envelope(api.get("/v1/models/requests/by-endpoint",
                                                  params={"endpoint_id": C.UNI1_EDIT}), 403, "authorization_error")
    assert "Admin" in _envelope(api.get("/v1/models/billing-events"), 403, "authorization_error")
    _envelope(api.get("/v1/models/pricing", params={"endpoint_id": C.UNI1_EDIT}), 500, "server_error")
    _envelope(api.get("/v1/account/billing"), 403, "authorization_error")


def test_a_json_fault_on_a_platform_route_comes_in_the_envelope(sandbox: Any, api: httpx.Client) -> None:
    sandbox.inject({"point": "pricing", "kind": "http", "status": 429, "style": "json"})
    _envelope(api.get("/v1/models/pricing", params={"endpoint_id": C.UNI1_EDIT}), 429, "rate_limited")
    # the queue keeps fal's queue error shape
    sandbox.inject({"point": "submit", "kind": "http", "status": 503, "style": "json", "error_type": "runner_scheduling_failure"})
    reply = api.post(f"/{C.UNI1_EDIT}", json={})
    assert reply.status_code == 503 and reply.json()["error_type"] == "runner_scheduling_failure"
