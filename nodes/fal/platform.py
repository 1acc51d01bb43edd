"""fal's documents about its models and the account: per-endpoint OpenAPI, unit prices, credit balance.

* ``GET {site}/api/openapi/queue/openapi.json?endpoint_id=<id>`` — public; fetched WITHOUT the key
  (a client made with ``with_key=False``), because fal.ai's website is not an API host that needs it.
* ``GET {platform}/v1/models/pricing?endpoint_id=a,b`` and ``GET {platform}/v1/account/billing?expand=credits``
  — ``Authorization: Key …``, attached by the one key rule of ``http.FalKeyAuth`` (``Hosts.may_receive_key``).

``LUMA_FAL_BASE_URL`` puts both on the test server (same paths). Proxy and CA settings come with
``create_client``. Every call takes a short timeout: these documents must never hold a paid run up.
Interpreting the documents is the catalogue's job (``nodes/luma``); this module only fetches them.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from .config import FalConfig
from .errors import FalError, platform_error_text
from .http import create_client

OPENAPI_PATH = "/api/openapi/queue/openapi.json"
PRICING_PATH = "/v1/models/pricing"
BILLING_PATH = "/v1/account/billing"
PRICING_MAX_IDS = 50  # fal: 1-50 endpoint ids per call

DEFAULT_TIMEOUT_S = 2.0


class PlatformUnavailable(FalError):
    """A document could not be fetched (network, timeout, HTTP error, not JSON); ``status`` when HTTP."""

    def __init__(self, message: str, status: int | None = None, said: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.said = said  # fal's own answer ("HTTP 403, authorization_error: ..."), never the key


@dataclass(frozen=True)
class Balance:
    """The account's credit balance, or why it cannot be read (``usd`` None)."""

    usd: float | None
    currency: str = "USD"
    refused: bool = False        # 401/403: the key may not read billing (fal needs an admin-scope key)
    message: str = ""


async def _get_json(config: FalConfig, url: str, params: dict[str, str], *, with_key: bool,
                    timeout: float, what: str) -> Any:
    client = create_client(config, with_key=with_key, timeout=httpx.Timeout(timeout))
    try:
        async with client:
            response = await asyncio.wait_for(client.get(url, params=params), timeout=timeout + 0.5)
    except (httpx.HTTPError, asyncio.TimeoutError, OSError) as exc:
        raise PlatformUnavailable(f"could not fetch {what}: {type(exc).__name__}") from None
    if response.status_code != 200:
        said = platform_said(config, response)
        raise PlatformUnavailable(f"fal answered {said} for {what}", response.status_code, said)
    try:
        return response.json()
    except ValueError:
        raise PlatformUnavailable(f"fal's answer for {what} is not JSON", response.status_code) from None


def platform_said(config: FalConfig, response: httpx.Response) -> str:
    """fal's error answer (its platform envelope's type and message), never the key."""
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    key = config.credentials.key if config.credentials is not None else None
    return platform_error_text(response.status_code, body, key)


async def fetch_openapi(config: FalConfig, endpoint_id: str, *, timeout: float = DEFAULT_TIMEOUT_S) -> Any:
    """fal's current OpenAPI document for one endpoint (never sends the key)."""
    return await _get_json(config, config.hosts.site + OPENAPI_PATH, {"endpoint_id": endpoint_id},
                           with_key=False, timeout=timeout, what=f"the schema of {endpoint_id}")


async def fetch_pricing(config: FalConfig, endpoint_ids: Sequence[str], *,
                        timeout: float = DEFAULT_TIMEOUT_S) -> Any:
    """fal's unit prices for up to 50 endpoints (``{"prices": [...]}``); needs the key."""
    if config.credentials is None:
        raise PlatformUnavailable("no fal key configured, so fal's prices cannot be read")
    ids = list(endpoint_ids)[:PRICING_MAX_IDS]
    return await _get_json(config, config.hosts.platform + PRICING_PATH, {"endpoint_id": ",".join(ids)},
                           with_key=True, timeout=timeout, what="fal's prices")


async def fetch_balance(config: FalConfig, *, timeout: float = DEFAULT_TIMEOUT_S) -> Balance:
    """The credit balance; never raises: a key without billing access gives ``refused=True``."""
    if config.credentials is None:
        return Balance(None, message="no fal key configured")
    try:
        doc = await _get_json(config, config.hosts.platform + BILLING_PATH, {"expand": "credits"},
                              with_key=True, timeout=timeout, what="the account balance")
    except PlatformUnavailable as exc:
        if exc.status in (401, 403):
            return Balance(None, refused=True, message=(
                f"this fal key may not read the account balance ({exc.said}); "
                "fal shows it only to keys with billing (admin) access"))
        return Balance(None, message=str(exc))
    credits = doc.get("credits") if isinstance(doc, dict) else None
    value = credits.get("current_balance") if isinstance(credits, dict) else None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return Balance(None, message="fal's billing answer has no credit balance")
    return Balance(float(value), str(credits.get("currency") or "USD"))
