"""When to try a fal call again, and how long to wait.

Backoff follows fal's own Python client: 0.1 s × 2^n with ×0.5–1.5 jitter, capped. What may be
retried depends on the kind of call:

* ``read``  – status, result, cancel: idempotent, so any transient failure is retried, including a
  few JSON 5xx answers.
* ``write`` – uploads: retried on transient failures; a duplicate upload only costs storage.
* ``submit`` – retried only when fal surely did not accept it (no connection made, 408, 429, an
  nginx 503), and re-sent exactly once when fal's own gateway answered with an error type that says no
  runner ever got the request (``NOT_ACCEPTED_ERROR_TYPES``; docs/fal-records.md §4 has the sources).
  A connection dropped after the body went out, or any other 502/504, raises ``SubmitOutcomeUnknown``:
  sending again could run (and bill) the job twice.

401/403/422 are never retried, nor a 504 caused by the request's own start timeout.

With a ``Deadline`` no attempt starts or waits past it, each attempt's timeouts are clipped to the
time left, and an answer still arriving at the limit is abandoned (``DeadlineReached``).
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import httpx

from .errors import (
    DeadlineReached,
    FalError,
    FalServerError,
    FalUnreachable,
    SubmitOutcomeUnknown,
    error_from_response,
)
from .stopping import ShouldStop, sleep

if TYPE_CHECKING:
    from .deadline import Deadline

log = logging.getLogger(__name__)

CallKind = Literal["submit", "read", "write"]
Diagnose = Callable[[BaseException], Awaitable[FalError]]

_ALWAYS_RETRY_STATUS = {408, 409, 429}
_NEVER_RETRY_STATUS = {400, 401, 402, 403, 404, 410, 422}
# Transport errors after which the request surely never reached the server.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.ProxyError)
# fal's request error types (X-Fal-Error-Type) that say no runner was found, reached or started for the
# request: fal's own gateway answered the submit itself instead of queueing it, and 5xx answers are never
# billed. Types that mean a runner had it (runner_disconnected, runner_incomplete_response, request_timeout,
# runner_server_error, internal_error) stay unknown.
NOT_ACCEPTED_ERROR_TYPES = frozenset({
    "runner_scheduling_failure", "runner_connection_timeout", "runner_connection_refused",
    "runner_connection_error", "startup_timeout",
})


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 8
    base_delay: float = 0.1
    max_delay: float = 10.0
    # JSON 5xx answers to idempotent reads are retried only this many times in all.
    server_error_attempts: int = 3
    # An absurd Retry-After must not freeze a node; beyond this we wait this long.
    max_retry_after: float = 60.0

    def delay(self, retry_number: int, rng: random.Random | None = None) -> float:
        """Seconds to wait before retry number ``retry_number`` (1-based)."""
        uniform = (rng or random).uniform
        nominal = min(self.base_delay * 2 ** (retry_number - 1), self.max_delay)
        return min(nominal * uniform(0.5, 1.5), self.max_delay)


def retry_after_seconds(response: httpx.Response) -> float | None:
    raw = response.headers.get("retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def is_ingress_error(response: httpx.Response) -> bool:
    """A 502/503/504 from the load balancer in front of fal, not from fal itself."""
    if response.status_code not in (502, 503, 504) or "x-fal-request-id" in response.headers:
        return False
    content_type = response.headers.get("content-type", "")
    return "nginx" in response.text.lower() or "json" not in content_type


def _is_user_timeout(response: httpx.Response) -> bool:
    return response.status_code == 504 and "x-fal-request-timeout-type" in response.headers


def proves_not_accepted(response: httpx.Response) -> bool:
    """A submit answer from fal's own gateway (JSON, tagged) whose error type says no runner got it."""
    if response.status_code < 500 or is_ingress_error(response) or _is_user_timeout(response):
        return False
    error_type = response.headers.get("x-fal-error-type")
    if error_type is None:
        body = _body(response)
        error_type = body.get("error_type") if isinstance(body, dict) else None
    return error_type in NOT_ACCEPTED_ERROR_TYPES


def _body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text


def _should_retry_status(
    response: httpx.Response, kind: CallKind, server_errors_so_far: int, policy: RetryPolicy
) -> bool:
    status = response.status_code
    if status in _NEVER_RETRY_STATUS or _is_user_timeout(response):
        return False
    if kind == "submit":
        return status in (408, 429) or (status == 503 and is_ingress_error(response))
    if status in _ALWAYS_RETRY_STATUS or is_ingress_error(response):
        return True
    return kind == "read" and status >= 500 and server_errors_so_far + 1 < policy.server_error_attempts


def _unknown_submit(action: str, cause: str) -> SubmitOutcomeUnknown:
    return SubmitOutcomeUnknown(
        f"The connection to fal broke while {action} ({cause}), after the request was sent. fal may "
        "have accepted it. It was NOT re-sent, to avoid paying twice: check your requests at "
        "https://fal.ai/dashboard before running the node again."
    )


async def send(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    kind: CallKind,
    action: str,
    policy: RetryPolicy | None = None,
    should_stop: ShouldStop | None = None,
    diagnose: Diagnose | None = None,
    request_id: str | None = None,
    deadline: Deadline | None = None,
    **request_kwargs: Any,
) -> httpx.Response:
    """Send one fal call with retries; return the 2xx response or raise a typed ``FalError``.

    Raises ``DeadlineReached`` (not a FalError) when ``deadline`` passes first.
    """
    policy = policy or RetryPolicy()
    server_errors = 0
    resent = False  # a submit fal's gateway proved it never queued is sent again once, never more
    for attempt in range(1, policy.max_attempts + 1):
        last_attempt = attempt == policy.max_attempts
        try:
            response = await _attempt(client, method, url, deadline, request_kwargs)
        except httpx.TransportError as exc:
            if deadline is not None and deadline.expired():
                raise DeadlineReached() from exc  # a timeout clipped to the limit: the limit, not fal, ended it
            not_sent = isinstance(exc, _NOT_SENT)
            if kind == "submit" and not not_sent:
                raise _unknown_submit(action, type(exc).__name__) from exc
            if isinstance(exc, (httpx.UnsupportedProtocol, httpx.LocalProtocolError)):
                raise
            if last_attempt:
                if not_sent and diagnose is not None:
                    raise await diagnose(exc) from exc
                raise FalUnreachable(
                    f"fal did not answer while {action} ({type(exc).__name__}), even after "
                    f"{policy.max_attempts} tries. Try again in a few minutes (https://status.fal.ai).",
                    request_id=request_id,
                ) from exc
            wait = policy.delay(attempt)
            log.info(
                "fal call failed while %s (%s); retry %d in %.2f s", action, type(exc).__name__, attempt, wait
            )
            await sleep(wait, should_stop, deadline)
            continue

        if response.is_success:
            return response
        if kind == "submit" and not resent and not last_attempt and proves_not_accepted(response):
            resent = True
            wait = policy.delay(attempt)
            log.info("fal's gateway answered HTTP %d (%s) while %s: no runner got the request; sending it "
                     "again once in %.2f s", response.status_code, response.headers.get("x-fal-error-type"),
                     action, wait)
            await sleep(wait, should_stop, deadline)
            continue
        if kind == "submit" and resent and proves_not_accepted(response):
            said = error_from_response(response.status_code, response.headers, _body(response), action=action)
            raise FalServerError(
                f"{said} fal's gateway answered both tries that no runner got the request (it was sent once "
                "more, never queued, and 5xx answers are not billed). Try again in a few minutes.",
                status_code=said.status_code, detail=said.detail, error_type=said.error_type,
            )
        if kind == "submit" and response.status_code in (502, 504) and not _is_user_timeout(response):
            raise _unknown_submit(action, f"HTTP {response.status_code}")
        if last_attempt or not _should_retry_status(response, kind, server_errors, policy):
            raise error_from_response(
                response.status_code, response.headers, _body(response), action=action, request_id=request_id
            )
        if response.status_code >= 500 and not is_ingress_error(response):
            server_errors += 1
        wait = retry_after_seconds(response) if response.status_code == 429 else None
        wait = min(wait, policy.max_retry_after) if wait is not None else policy.delay(attempt)
        log.info(
            "fal answered HTTP %d while %s; retry %d in %.2f s", response.status_code, action, attempt, wait
        )
        await sleep(wait, should_stop, deadline)
    raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover


async def _attempt(
    client: httpx.AsyncClient, method: str, url: str, deadline: Deadline | None, kwargs: dict[str, Any]
) -> httpx.Response:
    """One request; under a deadline its timeouts are clipped and the whole exchange is bounded by it."""
    if deadline is None or deadline.at is None:
        return await client.request(method, url, **kwargs)
    deadline.check()
    timeout = kwargs.get("timeout", client.timeout)
    timeout = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
    kwargs = {**kwargs, "timeout": deadline.clip(timeout)}
    # httpx's timeouts bound each read, not the whole answer: a body trickling in would outlast them.
    try:
        return await asyncio.wait_for(client.request(method, url, **kwargs), timeout=deadline.remaining())
    except asyncio.TimeoutError:
        raise DeadlineReached() from None
