"""The one place AsyncClients are made: proxies, CA bundle, timeouts, User-Agent, key attachment.

Whether a URL may carry the key is decided by ``key_may_go_to`` alone (``Hosts.may_receive_key``:
by origin, the configured base URL's exact scheme/host/port or https on fal's own hosts). It is used
three times: the ``httpx.Auth`` that attaches the key, a request hook that strips the key from any
request leaving for another origin (redirects included), and ``require_key_origin``, which refuses a
URL from fal's answers before a keyed call is made to it.
"""

from __future__ import annotations

import logging
import os
import platform
import ssl
import threading
from collections.abc import Awaitable, Callable, Generator

import certifi  # httpx's own dependency: its CA bundle
import httpx

from ..version import PACK_VERSION
from .config import Credentials, FalConfig, Hosts, origin_of
from .errors import UnsafeUrl

log = logging.getLogger(__name__)

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
        if key_may_go_to(request.url, self._hosts):
            request.headers["Authorization"] = self._credentials.authorization
        yield request


def key_may_go_to(url: httpx.URL | str, hosts: Hosts) -> bool:
    """Whether a request to ``url`` may carry the key. Parsed by httpx, exactly as it will be sent."""
    try:
        parsed = url if isinstance(url, httpx.URL) else httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        return False
    return hosts.may_receive_key(str(parsed))


def require_key_origin(url: str, hosts: Hosts, *, what: str, request_id: str | None = None) -> str:
    """``url`` if a keyed call may go there; else ``UnsafeUrl`` naming its origin (never the key or a token)."""
    if key_may_go_to(url, hosts):
        return url
    origin = origin_of(url) or "an unusable address"
    allowed = ", ".join(sorted(hosts.key_origins))
    about = f" for request {request_id}" if request_id else ""
    raise UnsafeUrl(
        f"Refused the {what}{about}: fal's answer points it at {origin}, where the fal key may not go. "
        f"The key goes only to {allowed} and over https to fal's own hosts (*.fal.run, *.fal.ai, *.fal.media, "
        "*.falrun.com). "
        "Nothing was sent there.",
        request_id=request_id,
    )


def _key_guard(hosts: Hosts, credentials: Credentials) -> Callable[[httpx.Request], Awaitable[None]]:
    """A request hook: the last check before bytes leave. It sees every request, redirects included
    (``auth_flow`` runs only once per call), and strips our key from any going to another origin."""

    async def guard(request: httpx.Request) -> None:
        if request.headers.get("Authorization") == credentials.authorization and not key_may_go_to(
            request.url, hosts
        ):
            del request.headers["Authorization"]
            log.warning("kept the fal key off a request to %s", origin_of(str(request.url)))

    return guard


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


def ssl_context(ca_bundle: str | None) -> ssl.SSLContext:
    """One verifying context per CA bundle (and SSL_CERT_FILE/SSL_CERT_DIR), shared by every client.

    Why: ``verify=True`` makes httpx build a new context and parse certifi's whole bundle for each client,
    ~130 ms of CPU (up to 0.3 s on a busy 2-core machine) on the event loop. After fal's COMPLETED a video
    node makes two clients (the download, the Range request for a trailing moov): measured 0.1-0.3 s before
    the download's first byte and as much again before the tail's. Every client here uses the same ALPN
    (HTTP/1.1), so sharing the context is safe."""
    key = (ca_bundle, os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))
    with _CONTEXTS_LOCK:
        context = _CONTEXTS.get(key)
        if context is None:
            context = _default_context() if ca_bundle is None else ssl.create_default_context(cafile=ca_bundle)
            _CONTEXTS[key] = context
        return context


def _default_context() -> ssl.SSLContext:
    """What httpx's ``verify=True`` builds (SSL_CERT_FILE/SSL_CERT_DIR, else certifi), on every httpx the
    pack allows (the public ``create_ssl_context`` is newer than 0.27)."""
    create = getattr(httpx, "create_ssl_context", None)
    if create is not None:
        return create(verify=True, trust_env=True)
    # Only on httpx older than create_ssl_context (its own CA bundle, certifi, is what it would use).
    cafile = os.environ.get("SSL_CERT_FILE") or certifi.where()
    return ssl.create_default_context(cafile=cafile, capath=os.environ.get("SSL_CERT_DIR"))


_CONTEXTS: dict[tuple[str | None, str | None, str | None], ssl.SSLContext] = {}
_CONTEXTS_LOCK = threading.Lock()


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
    on_request: list[Callable[[httpx.Request], Awaitable[None]]] = [_log_request]
    if config.credentials is not None:
        on_request.insert(0, _key_guard(config.hosts, config.credentials))
    return httpx.AsyncClient(
        auth=auth,
        timeout=timeout,
        verify=ssl_context(config.ca_bundle),
        trust_env=True,
        follow_redirects=follow_redirects,
        headers={"User-Agent": USER_AGENT},
        event_hooks={"request": on_request, "response": [_log_response]},
    )
