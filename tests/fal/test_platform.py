"""fal's documents fetched from the sandbox at fal's paths: the schema route never gets the key, the
pricing and billing routes do; failures become PlatformUnavailable / an unavailable Balance."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from nodes.fal.config import FalConfig, Hosts
from nodes.fal.platform import PlatformUnavailable, fetch_balance, fetch_openapi, fetch_pricing
from nodes.luma import constants as C
from nodes.luma.fal_schema import parse_openapi
from nodes.luma.prices import parse_pricing


def _points(sandbox: Any, point: str) -> list[dict[str, Any]]:
    return [c for c in sandbox.log() if c.get("point") == point]


def test_openapi_is_fetched_without_the_key(fal_env: Any) -> None:
    doc = asyncio.run(fetch_openapi(FalConfig.from_env(), C.RAY32_TEXT_TO_VIDEO))
    assert parse_openapi(C.RAY32_TEXT_TO_VIDEO, doc).fields["aspect_ratio"].enum == ("3:4", "4:3", "1:1", "9:16", "16:9", "21:9")
    [call] = _points(fal_env, "openapi")
    assert call["auth"] == "missing" and "text-to-video" in call["query"]


def test_pricing_carries_the_key_and_lists_every_endpoint(fal_env: Any) -> None:
    doc = asyncio.run(fetch_pricing(FalConfig.from_env(), C.ALL_ENDPOINTS))
    quotes = parse_pricing(doc)
    assert set(quotes) == set(C.ALL_ENDPOINTS)
    assert quotes[C.RAY32_IMAGE_TO_VIDEO] == {"unit_price": 0.15, "unit": "video", "currency": "USD"}
    [call] = _points(fal_env, "pricing")
    assert call["auth"] == "valid"


def test_pricing_without_a_key_is_not_attempted(fal_env: Any, clean_env: pytest.MonkeyPatch) -> None:
    clean_env.delenv("FAL_KEY")
    with pytest.raises(PlatformUnavailable, match="no fal key"):
        asyncio.run(fetch_pricing(FalConfig.from_env(), C.ALL_ENDPOINTS))
    assert fal_env.log() == []


@pytest.mark.parametrize("status", [404, 500])
def test_missing_documents_raise_with_the_status(fal_env: Any, status: int) -> None:
    fal_env._http.post("/_sandbox/platform", json={"openapi_status": {"*": status}, "pricing_status": status})
    config = FalConfig.from_env()
    with pytest.raises(PlatformUnavailable) as schema_error:
        asyncio.run(fetch_openapi(config, C.UNI1_EDIT))
    with pytest.raises(PlatformUnavailable) as price_error:
        asyncio.run(fetch_pricing(config, [C.UNI1_EDIT]))
    assert schema_error.value.status == price_error.value.status == status


def test_dropped_connection_is_unavailable(fal_env: Any) -> None:
    fal_env.inject({"point": "pricing", "kind": "drop"})
    with pytest.raises(PlatformUnavailable):
        asyncio.run(fetch_pricing(FalConfig.from_env(), [C.UNI1_EDIT]))


def test_balance_read_and_refused(fal_env: Any) -> None:
    fal_env._http.post("/_sandbox/platform", json={"balance": 12.5})
    found = asyncio.run(fetch_balance(FalConfig.from_env()))
    assert (found.usd, found.currency, found.refused) == (12.5, "USD", False)
    assert _points(fal_env, "billing")[0]["auth"] == "valid"
    for status in (401, 403):
        fal_env._http.post("/_sandbox/platform", json={"billing_status": status})
        refused = asyncio.run(fetch_balance(FalConfig.from_env()))
        assert refused.usd is None and refused.refused and f"HTTP {status}" in refused.message
        assert "may not read the account balance" in refused.message
        # fal's platform envelope: its error type and message reach the user
        assert f"HTTP {status}, authorization_error: " in refused.message, refused.message


def test_a_platform_error_envelope_is_read_for_prices(fal_env: Any) -> None:
    fal_env._http.post("/_sandbox/platform", json={"pricing_status": 500})
    with pytest.raises(PlatformUnavailable) as failed:
        asyncio.run(fetch_pricing(FalConfig.from_env(), [C.UNI1_EDIT]))
    assert "HTTP 500, server_error: Internal Server Error" in str(failed.value)


def test_real_hosts_keep_the_key_off_the_public_site() -> None:
    hosts = Hosts()
    assert (hosts.platform, hosts.site) == ("https://api.fal.ai", "https://fal.ai")
    # The pricing and billing calls carry the key (https only); the public OpenAPI route is fetched by a
    # client built without it (test above), whatever the origin rule would allow.
    assert hosts.may_receive_key("https://api.fal.ai/v1/models/pricing?endpoint_id=x")
    assert not hosts.may_receive_key("http://api.fal.ai/v1/models/pricing?endpoint_id=x")
    base = Hosts.from_base_url("http://127.0.0.1:9")
    assert base.platform == base.site == "http://127.0.0.1:9"
