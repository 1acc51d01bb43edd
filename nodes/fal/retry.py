"""When to try a fal call again, and how long to wait: the one retry policy of the transport.

One list of answers that say "not now" (``RETRYABLE_STATUS``: 408, 409, 425, 429 and any 5xx), one rule
for dropped connections (``retryable_failure``), one backoff (``RetryPolicy.delay``: fal's own Python
client's 0.1 s x 2^n with x0.5-1.5 jitter, capped, or a 429's ``Retry-After``) and one loop
(``retrying``) for every kind of call:

* ``read``    – status, result, cancel, fal's records: idempotent, so any of them is retried; fal's own
  JSON 5xx answers only a few times in all (``server_error_attempts``).
* ``write``   – uploads: retried except after fal's own JSON 5xx; a duplicate upload only costs storage.
* ``media``   – a result file's bytes (no key, no JSON): every retryable answer; ``download.py`` resumes
  with ``Range`` and counts only tries that brought no bytes.
* ``submit``  – retried only when fal surely did not accept it (no connection made, 408, 429, an
  nginx 503), and re-sent exactly once when fal's own gateway answered with an error type that says no
  runner ever got the request (``NOT_ACCEPTED_ERROR_TYPES``; docs/fal-records.md §4 has the sources).
  A connection dropped after the body went out, or any other 502/504, raises ``SubmitOutcomeUnknown``:
  sending again could run (and bill) the job twice.

401/403/422 and the other refusals are never retried, nor a 504 caused by the request's own start timeout.

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
from typing import TYPE_CHECKING, Any, Literal, TypeVar

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

CallKind = Literal["submit", "read", "write", "media"]
Diagnose = Callable[[BaseException], Awaitable[FalError]]
T = TypeVar("T")

# Answers that say "not now": the server is busy, restarting, or briefly unreachable behind its gateway.
RETRYABLE_STATUS = frozenset({408, 409, 425, 429}) | frozenset(range(500, 600))
# Transport errors after which the request surely never reached the server.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.ProxyError)
# Errors of our own request (a bad URL or header): another try would send the same mistake.
_OUR_MISTAKE = (httpx.UnsupportedProtocol, httpx.LocalProtocolError)
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


def should_retry(response: httpx.Response, kind: CallKind, server_errors_so_far: int = 0,
                 policy: RetryPolicy | None = None) -> bool:
    """Whether an answer that is not a success is worth another try of this kind of call.

    ``server_errors_so_far``: fal's own JSON 5xx answers already retried in this call (reads retry a few)."""
    status = response.status_code
    if status not in RETRYABLE_STATUS:
        return False
    if kind == "media":
        return True  # a media host's answer carries no fal semantics (and a streamed body is not read here)
    if _is_user_timeout(response):
        return False
    if kind == "submit":
        return status in (408, 429) or (status == 503 and is_ingress_error(response))
    if status < 500 or is_ingress_error(response):
        return True
    return kind == "read" and server_errors_so_far + 1 < (policy or RetryPolicy()).server_error_attempts


def counts_as_server_error(response: httpx.Response) -> bool:
    """fal's own 5xx (not its load balancer's): reads retry only ``server_error_attempts`` of them."""
    return response.status_code >= 500 and not is_ingress_error(response)


def retryable_failure(exc: BaseException, kind: CallKind) -> bool:
    """Whether a call that got no answer at all (``exc``) is worth another try of this kind of call."""
    if isinstance(exc, _OUR_MISTAKE):
        return False
    if kind == "submit":
        return isinstance(exc, _NOT_SENT)  # a body that may have gone out is never sent twice
    return isinstance(exc, (httpx.TransportError, asyncio.TimeoutError, OSError))


def wait_before_retry(response: httpx.Response | None, policy: RetryPolicy) -> float | None:
    """A 429's ``Retry-After`` (capped at ``policy.max_retry_after``); None means the policy's backoff."""
    if response is None or response.status_code != 429:
        return None
    wait = retry_after_seconds(response)
    return min(wait, policy.max_retry_after) if wait is not None else None


class TryAgain(Exception):
    """Raised by one attempt under ``retrying``: this try failed in a way another try may fix.

    ``wait``: seconds to wait first (a ``Retry-After``), else the policy's backoff. ``progressed``: the try
    got somewhere (bytes of a download) before it failed, so it does not count against ``max_attempts``."""

    def __init__(self, reason: str, *, wait: float | None = None, progressed: bool = False) -> None:
        super().__init__(reason)
        self.wait = wait
        self.progressed = progressed


async def retrying(
    attempt: Callable[[bool], Awaitable[T]],
    policy: RetryPolicy,
    *,
    should_stop: ShouldStop | None = None,
    deadline: Deadline | None = None,
) -> T:
    """The one retry loop: ``attempt(last)`` returns, raises its final error, or raises ``TryAgain``.

    ``last`` is True on the try after which none is left: the attempt then raises what the user should
    see instead of ``TryAgain`` (unless it made progress). Waits are the policy's backoff, stoppable."""
    failures = 0
    while True:
        last = failures + 1 >= policy.max_attempts
        try:
            return await attempt(last)
        except TryAgain as again:
            if last and not again.progressed:
                raise AssertionError("an attempt asked for another try after its last one") from again
            failures = 0 if again.progressed else failures + 1
            wait = again.wait if again.wait is not None else policy.delay(max(failures, 1))
            log.info("%s; retry %d in %.2f s", again, failures, wait)
            await sleep(wait, should_stop, deadline)


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
    call = _FalCall(client=client, method=method, url=url, kind=kind, action=action, policy=policy or RetryPolicy(),
                    diagnose=diagnose, request_id=request_id, deadline=deadline, request_kwargs=request_kwargs)
    return await retrying(call.attempt, call.policy, should_stop=should_stop, deadline=deadline)


@dataclass
class _FalCall:
    """One fal call as ``send`` makes it: what each try sends, and what its answers have shown so far."""

    client: httpx.AsyncClient
    method: str
    url: str
    kind: CallKind
    action: str
    policy: RetryPolicy
    diagnose: Diagnose | None
    request_id: str | None
    deadline: Deadline | None
    request_kwargs: dict[str, Any]
    server_errors: int = 0
    resent: bool = False  # a submit fal's gateway proved it never queued is sent again once, never more

    async def attempt(self, last: bool) -> httpx.Response:
        try:
            response = await _attempt(self.client, self.method, self.url, self.deadline, self.request_kwargs)
        except httpx.TransportError as exc:
            failure = await self._no_answer(exc, last)
            if failure is exc:
                raise
            raise failure from exc
        if response.is_success:
            return response
        raise self._answer_failed(response, last)

    async def _no_answer(self, exc: httpx.TransportError, last: bool) -> BaseException:
        if self.deadline is not None and self.deadline.expired():
            return DeadlineReached()  # a timeout clipped to the limit: the limit, not fal, ended it
        if self.kind == "submit" and not isinstance(exc, _NOT_SENT):
            return _unknown_submit(self.action, type(exc).__name__)
        if not retryable_failure(exc, self.kind):
            return exc
        if not last:
            return TryAgain(f"fal call failed while {self.action} ({type(exc).__name__})")
        if isinstance(exc, _NOT_SENT) and self.diagnose is not None:
            return await self.diagnose(exc)
        return FalUnreachable(
            f"fal did not answer while {self.action} ({type(exc).__name__}), even after "
            f"{self.policy.max_attempts} tries. Try again in a few minutes (https://status.fal.ai).",
            request_id=self.request_id,
        )

    def _answer_failed(self, response: httpx.Response, last: bool) -> BaseException:
        status, action = response.status_code, self.action
        if self.kind == "submit" and not self.resent and not last and proves_not_accepted(response):
            self.resent = True
            return TryAgain(f"fal's gateway answered HTTP {status} ({response.headers.get('x-fal-error-type')}) "
                           f"while {action}: no runner got the request; sending it again once")
        if self.kind == "submit" and self.resent and proves_not_accepted(response):
            said = error_from_response(status, response.headers, _body(response), action=action)
            return FalServerError(
                f"{said} fal's gateway answered both tries that no runner got the request (it was sent once "
                "more, never queued, and 5xx answers are not billed). Try again in a few minutes.",
                status_code=said.status_code, detail=said.detail, error_type=said.error_type,
            )
        if self.kind == "submit" and status in (502, 504) and not _is_user_timeout(response):
            return _unknown_submit(action, f"HTTP {status}")
        if last or not should_retry(response, self.kind, self.server_errors, self.policy):
            return error_from_response(status, response.headers, _body(response), action=action,
                                      request_id=self.request_id)
        if counts_as_server_error(response):
            self.server_errors += 1
        return TryAgain(f"fal answered HTTP {status} while {action}", wait=wait_before_retry(response, self.policy))


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
