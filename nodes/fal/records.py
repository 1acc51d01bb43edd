"""fal's own records of the caller's requests and bills (docs/fal-records.md has the shapes and sources).

* ``GET {platform}/v1/models/requests/by-endpoint`` — the caller's requests for one endpoint, listed by
  end time (a request shows up once it has ended); ``expand=payloads`` adds ``json_input``/``json_output``.
* ``GET {platform}/v1/models/billing-events`` — what fal billed per request id (admin-scope keys only).

The key goes only where ``Hosts.may_receive_key`` allows (``http.create_client``: fal's API host or the
configured ``LUMA_FAL_BASE_URL``). Each call has a short timeout and a few tries, as ``retry.py`` retries
any read (5xx, 429, network errors); 401/403 is never retried (``RecordsRefused``). Callers run these in
the background: they never hold a paid run up.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import httpx

from .config import FalConfig
from .errors import FalError
from .http import create_client
from .platform import platform_said
from .retry import (
    RetryPolicy,
    TryAgain,
    counts_as_server_error,
    retryable_failure,
    retrying,
    should_retry,
    wait_before_retry,
)

REQUESTS_PATH = "/v1/models/requests/by-endpoint"
BILLING_EVENTS_PATH = "/v1/models/billing-events"
PAGE_LIMIT = 100     # fal: at most 100 items per page of requests
MAX_PAGES = 10       # a window around one submit never needs more; bounds the calls of one look
ATTEMPTS = 3         # per page: the first try and two retries
RETRY_GAP_S = 0.5    # the backoff's first wait, doubled after each failed try
TIMEOUT_S = 5.0
# A 429's Retry-After is honoured up to this: records are read in the background, never worth a long wait.
MAX_RETRY_AFTER_S = 10.0


class RecordsUnavailable(FalError):
    """fal's records could not be read now (network, timeout, 5xx after the retries, not JSON)."""

    def __init__(self, message: str, status: int | None = None, calls: int = 0) -> None:
        super().__init__(message)
        self.status = status
        self.calls = calls


class RecordsRefused(RecordsUnavailable):
    """401/403: the key may not read these records (fal needs a key with read access / admin scope)."""


@dataclass(frozen=True)
class RequestRecord:
    """One of fal's request records (fal's field names; times parsed to UNIX seconds)."""

    request_id: str
    endpoint_id: str
    status_code: int | None
    sent_at: float | None
    started_at: float | None
    ended_at: float | None
    json_input: Any = None
    json_output: Any = None


@dataclass(frozen=True)
class BillingEvent:
    request_id: str
    endpoint_id: str
    timestamp: float | None
    output_units: float | None
    unit_price: float | None
    usd: float | None  # cost_estimate_nano_usd / 1e9, else output_units x unit_price


def iso(stamp: float) -> str:
    return datetime.fromtimestamp(stamp, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(value: Any) -> float | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


class RecordsClient:
    """Reads fal's records with one client; ``calls`` counts every HTTP call made (tests check storms)."""

    def __init__(self, config: FalConfig, *, timeout: float = TIMEOUT_S, attempts: int = ATTEMPTS,
                 retry_gap: float = RETRY_GAP_S, page_limit: int = PAGE_LIMIT) -> None:
        self.config = config
        self.page_limit = max(1, min(PAGE_LIMIT, page_limit))
        self.timeout = timeout
        attempts = max(1, attempts)
        # Every try may meet fal's own 5xx: records retry those as often as any other failure.
        self.retry = RetryPolicy(max_attempts=attempts, base_delay=retry_gap, server_error_attempts=attempts,
                                 max_retry_after=MAX_RETRY_AFTER_S)
        self.calls = 0

    async def _page(self, client: httpx.AsyncClient, path: str, params: dict[str, str], what: str) -> dict[str, Any]:
        url = self.config.hosts.platform + path
        server_errors = 0

        async def attempt(last: bool) -> dict[str, Any]:
            nonlocal server_errors
            self.calls += 1
            try:
                response = await asyncio.wait_for(client.get(url, params=params), timeout=self.timeout + 0.5)
            except (httpx.HTTPError, asyncio.TimeoutError, OSError) as exc:
                failed = RecordsUnavailable(f"could not read {what}: {type(exc).__name__}", calls=self.calls)
                if last or not retryable_failure(exc, "read"):
                    raise failed from None
                raise TryAgain(str(failed)) from None
            if response.status_code == 200:
                return self._document(response, what)
            said = platform_said(self.config, response)
            if response.status_code in (401, 403):
                raise RecordsRefused(f"this fal key may not read {what} ({said})", response.status_code, self.calls)
            failed = RecordsUnavailable(f"fal answered {said} for {what}", response.status_code, self.calls)
            if last or not should_retry(response, "read", server_errors, self.retry):
                raise failed
            server_errors += counts_as_server_error(response)
            raise TryAgain(str(failed), wait=wait_before_retry(response, self.retry))

        return await retrying(attempt, self.retry)

    def _document(self, response: httpx.Response, what: str) -> dict[str, Any]:
        try:
            doc = response.json()
        except ValueError:
            raise RecordsUnavailable(f"fal's answer for {what} is not JSON", 200, self.calls) from None
        if not isinstance(doc, dict):
            raise RecordsUnavailable(f"fal's answer for {what} is not an object", 200, self.calls)
        return doc

    async def _pages(self, path: str, params: dict[str, str], key: str, what: str,
                     max_pages: int = MAX_PAGES) -> list[dict[str, Any]]:
        if self.config.credentials is None:
            raise RecordsUnavailable(f"no fal key configured, so {what} cannot be read")
        items: list[dict[str, Any]] = []
        client = create_client(self.config, timeout=httpx.Timeout(self.timeout))
        async with client:
            cursor: str | None = None
            for _ in range(max_pages):
                doc = await self._page(client, path, {**params, **({"cursor": cursor} if cursor else {})}, what)
                items += [i for i in doc.get(key) or [] if isinstance(i, dict)]
                cursor = doc.get("next_cursor") if doc.get("has_more") else None
                if not cursor:
                    break
        return items

    async def requests(self, endpoint_id: str, *, start: float, end: float, request_id: str | None = None,
                       payloads: bool = True, max_pages: int = MAX_PAGES) -> list[RequestRecord]:
        """The caller's requests for ``endpoint_id`` that ended in [start, end] (at most ``max_pages`` pages)."""
        params = {"endpoint_id": endpoint_id, "start": iso(start), "end": iso(end), "limit": str(self.page_limit)}
        if request_id:
            params["request_id"] = request_id
        if payloads:
            params["expand"] = "payloads"
        raw = await self._pages(REQUESTS_PATH, params, "items", "fal's request records", max_pages)
        return [RequestRecord(str(i.get("request_id") or ""), str(i.get("endpoint_id") or endpoint_id),
                              int(i["status_code"]) if isinstance(i.get("status_code"), int) else None,
                              parse_time(i.get("sent_at")), parse_time(i.get("started_at")),
                              parse_time(i.get("ended_at")), i.get("json_input"), i.get("json_output"))
                for i in raw if i.get("request_id")]

    async def billing_events(self, request_ids: Sequence[str], *, start: float, end: float) -> list[BillingEvent]:
        """fal's billing records for up to 50 request ids (fal's limit per call) in [start, end)."""
        ids = [r for r in request_ids if r][:50]
        if not ids:
            return []
        params = {"request_id": ",".join(ids), "start": iso(start), "end": iso(end), "limit": str(self.page_limit)}
        raw = await self._pages(BILLING_EVENTS_PATH, params, "billing_events", "fal's billing events")
        events = []
        for item in raw:
            units, price = _number(item.get("output_units")), _number(item.get("unit_price"))
            nano = _number(item.get("cost_estimate_nano_usd"))
            usd = nano / 1e9 if nano is not None else (units * price if units is not None and price is not None
                                                       else None)
            events.append(BillingEvent(str(item.get("request_id") or ""), str(item.get("endpoint_id") or ""),
                                       parse_time(item.get("timestamp")), units, price, usd))
        return [e for e in events if e.request_id]
