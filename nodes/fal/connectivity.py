"""Telling "this computer is offline" apart from "fal is down" after connections keep failing.

A cheap check: one short GET to the root of every distinct fal host. Any HTTP answer at all (even
404) proves the network path works, so the failure is on fal's side; no answer from any host means
the trouble is here (network, DNS, firewall, proxy).
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Awaitable, Callable

import httpx

from .config import BASE_URL_ENV, Hosts
from .errors import FalError, FalUnreachable, LocalNetworkError

log = logging.getLogger(__name__)

CHECK_TIMEOUT = httpx.Timeout(3.0)


def _is_dns_failure(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, socket.gaierror):
            return True
        text = str(seen).lower()
        if "name or service not known" in text or "nodename nor servname" in text or "getaddrinfo" in text:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _proxy_hint() -> str:
    names = [
        n
        for n in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY")
        if os.environ.get(n) or os.environ.get(n.lower())
    ]
    if names:
        # Never print the proxy URL itself: it may contain a user name and password.
        return f" A proxy is set ({', '.join(names)}); check that it is running and allows fal's hosts."
    return " If you need a proxy to reach the internet, set HTTPS_PROXY (NO_PROXY is honoured too)."


async def diagnose_connect_failure(
    client: httpx.AsyncClient, hosts: Hosts, exc: BaseException, *, action: str
) -> FalError:
    reached: list[str] = []
    for base in hosts.distinct:
        try:
            await client.get(base + "/", timeout=CHECK_TIMEOUT, auth=None)
        except httpx.HTTPError as check_exc:
            log.debug("connectivity check to %s failed: %s", base, type(check_exc).__name__)
            continue
        reached.append(base)
    reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if reached:
        return FalUnreachable(
            f"Could not connect to fal while {action} ({reason}), although {', '.join(reached)} answered. "
            "fal may be having trouble; try again in a few minutes (https://status.fal.ai)."
        )
    if hosts.single_base:
        return LocalNetworkError(
            f"Cannot connect to the fal server at {hosts.queue} (set by {BASE_URL_ENV}) while {action}: "
            f"{reason}. Is it running?"
        )
    names = ", ".join(h.split("://", 1)[-1] for h in hosts.distinct)
    what = "could not look up fal's host names (DNS)" if _is_dns_failure(exc) else "could not connect"
    return LocalNetworkError(
        f"This computer cannot reach fal: it {what} for {names} while {action} ({reason}). "
        "Check the internet connection or firewall." + _proxy_hint()
    )


def diagnoser(client: httpx.AsyncClient, hosts: Hosts, *, action: str) -> Callable[[BaseException], Awaitable[FalError]]:
    """The ``diagnose`` callback ``retry.send`` takes: tells this side's network from fal's on connect failures."""

    async def diagnose(exc: BaseException) -> FalError:
        return await diagnose_connect_failure(client, hosts, exc, action=action)

    return diagnose
