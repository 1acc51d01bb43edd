"""The one place AsyncClients are made: proxies, CA bundle, timeouts, User-Agent, key attachment.

The key is attached by an ``httpx.Auth`` that looks at each request's host, so it reaches only fal's
hosts (or the configured base URL) — never a signed storage URL or a result media URL.
"""

from __future__ import annotations

import logging
import platform
import ssl
from collections.abc import Generator

import httpx

from .config import Credentials, FalConfig, Hosts

log = logging.getLogger(__name__)

PACK_VERSION = "0.1.0"
USER_AGENT = (
    f"comfyui-luma-fal/{PACK_VERSION} (httpx/{httpx.__version__}; python/{platform.python_version()})"
)

# JSON calls: fail fast on connect, allow fal a minute to answer.
JSON_TIMEOUT = httpx.Timeout(60.0, connect=10.0)
# Streams and transfers: a minute of silence is a stall; the total time is bounded by the caller.
TRANSFER_TIMEOUT = httpx.Timeout(60.0, connect=10.0, write=120.0)

_REDACTED = "<redacted>"


class FalKeyAuth(httpx.Auth):
    """Adds ``Authorization: Key …`` only to requests whose host may receive the key."""

    def __init__(self, credentials: Credentials, hosts: Hosts) -> None:
        self._credentials = credentials
        self._hosts = hosts

    def __repr__(self) -> str:
        return "FalKeyAuth(<hidden>)"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if self._hosts.may_receive_key(request.url.host):
            request.headers["Authorization"] = self._credentials.authorization
        yield request


def redacted_headers(headers: httpx.Headers) -> dict[str, str]:
    sensitive = {"authorization", "proxy-authorization", "cookie", "set-cookie"}
    return {k: (_REDACTED if k.lower() in sensitive else v) for k, v in headers.items()}


async def _log_request(request: httpx.Request) -> None:
    if log.isEnabledFor(logging.DEBUG):
        log.debug("-> %s %s headers=%s", request.method, request.url, redacted_headers(request.headers))


async def _log_response(response: httpx.Response) -> None:
    if log.isEnabledFor(logging.DEBUG):
        request = response.request
        log.debug(
            "<- %s %s %s request_id=%s",
            response.status_code,
            request.method,
            request.url,
            response.headers.get("x-fal-request-id", "-"),
        )


def ssl_context(ca_bundle: str | None) -> ssl.SSLContext | bool:
    if ca_bundle is None:
        return True
    return ssl.create_default_context(cafile=ca_bundle)


def create_client(
    config: FalConfig | None = None,
    *,
    with_key: bool = True,
    timeout: httpx.Timeout = JSON_TIMEOUT,
    follow_redirects: bool = False,
) -> httpx.AsyncClient:
    """An AsyncClient for fal. ``with_key=False`` makes a client that never sends the key (downloads).

    ``trust_env=True`` makes HTTP_PROXY / HTTPS_PROXY / ALL_PROXY / NO_PROXY work as users expect.
    Redirects are not followed for API calls: fal does not redirect, and a redirect must not carry the key.
    """
    config = config or FalConfig.from_env()
    auth = FalKeyAuth(config.credentials, config.hosts) if with_key and config.credentials else None
    return httpx.AsyncClient(
        auth=auth,
        timeout=timeout,
        verify=ssl_context(config.ca_bundle),
        trust_env=True,
        follow_redirects=follow_redirects,
        headers={"User-Agent": USER_AGENT},
        event_hooks={"request": [_log_request], "response": [_log_response]},
    )
