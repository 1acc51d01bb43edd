"""Fixtures for the sandbox's own tests: a keyed httpx client, quick lifecycle timing, and routing of
fal's real host names to the sandbox for the official fal-client.

fal_client 1.0.3 builds its httpx clients internally (queue client, CDN client, a fresh client for the
CDN token) and offers no transport parameter. The one hook they all share is httpx's default transport,
so ``fal_routed`` swaps ``httpx._client.HTTPTransport``/``AsyncHTTPTransport`` (the classes httpx
instantiates when no transport is given) for subclasses that send requests for fal's hosts to the
sandbox. The URL fal_client builds is kept in the Host header, with ``X-Forwarded-Proto: https``, so the
sandbox answers with the same https://queue.fal.run/... and https://v3.fal.media/... URLs fal would.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.sandbox.helpers import QUICK, TEST_KEY, FalRouting


@pytest.fixture
def api(sandbox: Any) -> Iterator[httpx.Client]:
    """A client with a valid key, lifecycle timings shortened for the test."""
    sandbox.configure(**QUICK)
    with httpx.Client(base_url=sandbox.url, headers={"Authorization": f"Key {TEST_KEY}"}, timeout=60.0) as client:
        yield client


@pytest.fixture
def fal_routed(sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> FalRouting:
    routing = FalRouting(httpx.URL(sandbox.url))
    base_sync, base_async = httpx.HTTPTransport, httpx.AsyncHTTPTransport

    class RoutingTransport(base_sync):  # type: ignore[misc, valid-type]
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            routing.reroute(request)
            return super().handle_request(request)

    class AsyncRoutingTransport(base_async):  # type: ignore[misc, valid-type]
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            routing.reroute(request)
            return await super().handle_async_request(request)

    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(httpx._client, "HTTPTransport", RoutingTransport)
    monkeypatch.setattr(httpx._client, "AsyncHTTPTransport", AsyncRoutingTransport)
    sandbox.configure(**QUICK)
    return routing
