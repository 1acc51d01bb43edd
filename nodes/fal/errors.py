"""Typed errors of the fal transport, each with a message a ComfyUI user can act on.

Every error carries what is known of the request (``request_id``, ``status_code``, fal's ``detail``
and ``error_type``) so the glue can show it and a later "fetch by request id" can use it. Messages
never contain the key: they are built from fal's response bodies, which do not echo it, and from
our own text.

Standard library only: the glue imports these for ``isinstance`` checks at start-up.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

DASHBOARD_URL = "https://fal.ai/dashboard"
REQUESTS_URL = "https://fal.ai/dashboard/requests"
KEYS_URL = "https://fal.ai/dashboard/keys"
BILLING_URL = "https://fal.ai/dashboard/billing"


class FalError(Exception):
    """Base of every error raised by the fal transport."""

    def __init__(
        self,
        message: str,
        *,
        request_id: str | None = None,
        status_code: int | None = None,
        detail: Any = None,
        error_type: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.request_id = request_id
        self.status_code = status_code
        self.detail = detail
        self.error_type = error_type

    def __str__(self) -> str:
        return self.message


class MissingKeyError(FalError):
    """No key in the environment nor in the key file. Raised before anything is sent."""

    def __init__(self, key_file: str | None = None) -> None:
        where = f" (stored in {key_file})" if key_file else ""
        super().__init__(
            "No fal API key is set. Set it in one of three ways:\n"
            "  1. the FAL_KEY environment variable (the key from "
            f"{KEYS_URL}), or\n"
            "  2. the FAL_KEY_ID and FAL_KEY_SECRET environment variables, or\n"
            f"  3. the key box in ComfyUI's Luma (fal) settings{where}.\n"
            "Restart ComfyUI after changing environment variables."
        )


class AuthError(FalError):
    """fal refused the key (401, or 403 that is not about credit)."""


class NoCreditError(FalError):
    """The account has no balance left (402, or fal's 403 "User is locked. Reason: Exhausted balance")."""


@dataclass(frozen=True)
class FieldProblem:
    field: str
    message: str
    type: str = ""

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class InputRejected(FalError):
    """fal or the model refused the input (422)."""

    def __init__(self, message: str, *, field_problems: list[FieldProblem] | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.field_problems = field_problems or []


class ContentModerated(InputRejected):
    """fal's content filter blocked the prompt, an input, or the output."""


class FalServerError(FalError):
    """fal answered, but with a server-side failure (5xx with a fal error body)."""


class RequestFailed(FalError):
    """The request reached fal and failed for a reason not covered by a narrower class."""


class QueueTimeout(FalError):
    """The request stayed IN_QUEUE longer than the queue limit and was cancelled."""


class RunTimeout(FalError):
    """The whole run took longer than its total limit; a cancel was attempted."""


class RequestCancelled(FalError):
    """The user stopped the run. ``was_running`` tells whether fal had started (and so may bill) it."""

    def __init__(self, message: str, *, was_running: bool, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.was_running = was_running


class SubmitOutcomeUnknown(FalError):
    """The submit may or may not have reached fal; it is never re-sent, to avoid paying twice."""


class LocalNetworkError(FalError):
    """This computer cannot reach any fal host (no network, DNS, firewall or proxy trouble)."""


class FalUnreachable(FalError):
    """The network works, but fal does not answer properly (5xx gateway pages, timeouts)."""


class ResultExpired(FalError):
    """fal no longer has the result or its media (403/404/410 on a result or media URL)."""


class DownloadFailed(FalError):
    """A result file could not be downloaded completely."""


class UnsafeUrl(FalError):
    """A URL in fal's answer points where the key may not go (another origin, or plain http)."""


class StopRequested(Exception):
    """Internal signal: ``should_stop()`` turned true. The runner turns it into ``RequestCancelled``.

    Not a FalError on purpose: callers that catch FalError to report a failure must not swallow it.
    """


class DeadlineReached(Exception):
    """Internal signal: the run's time limit passed. The runner turns it into ``RunTimeout``.

    Not a FalError, for the same reason as ``StopRequested``: a retry loop must never treat it as a
    failure worth another try.
    """


# --- failures after fal accepted a request ------------------------------------------------------------


def where_to_find(request_id: str, response_url: str | None = None, *, name_id: bool = True) -> str:
    """How to find a paid result again: its request id, its result URL and fal's request list."""
    url = f" from {response_url}" if response_url else ""
    by_id = f" with request id {request_id}" if name_id else ""
    return f"its result can still be fetched{by_id}{url} (see {REQUESTS_URL})"


def after_acceptance(exc: BaseException, request_id: str, response_url: str | None = None) -> FalError:
    """``exc`` as a FalError whose message names ``request_id``, so a paid result is never lost with it.

    Used for every failure once fal has accepted a request (the request may be billed from then on):
    a FalError keeps its type and gets the request id appended unless its message already names it;
    anything else (a stop or limit signal that slipped through, a bug, an OS error) is wrapped.
    """
    found = where_to_find(request_id, response_url, name_id=response_url is None)
    note = f"fal accepted this request (request id {request_id}), so it may be billed; {found}."
    if isinstance(exc, FalError):
        exc.request_id = exc.request_id or request_id
        if request_id not in exc.message:
            exc.message = f"{exc.message}\n{note}"
            exc.args = (exc.message,)
        return exc
    if isinstance(exc, StopRequested):
        return RequestCancelled(f"Stopped. {note}", was_running=True, request_id=request_id)
    if isinstance(exc, DeadlineReached):
        return RunTimeout(f"The time limit (max_total_time) passed. {note}", request_id=request_id)
    return RequestFailed(f"{type(exc).__name__}: {exc}\n{note}", request_id=request_id)


@contextmanager
def naming_request(request_id: str, response_url: str | None = None) -> Iterator[None]:
    """Any exception raised inside leaves as a FalError naming ``request_id`` (see ``after_acceptance``).

    Task cancellation and other BaseExceptions (KeyboardInterrupt, SystemExit) pass through untouched.
    """
    try:
        yield
    except Exception as exc:  # StopRequested and DeadlineReached included
        named = after_acceptance(exc, request_id, response_url)
        if named is exc:
            raise
        raise named from exc


# --- mapping fal's HTTP answers to the classes above ------------------------------------------------

_CREDIT_HINTS = ("exhausted balance", "user is locked", "insufficient balance", "insufficient credit")


def field_problems_from_detail(detail: Any) -> list[FieldProblem]:
    """fal's 422 ``detail`` list (pydantic style ``loc``/``msg``/``type``) as readable problems."""
    if isinstance(detail, str):
        return [FieldProblem(field="", message=detail)]
    if not isinstance(detail, list):
        return []
    problems = []
    for item in detail:
        if not isinstance(item, Mapping):
            problems.append(FieldProblem(field="", message=str(item)))
            continue
        loc = [str(part) for part in item.get("loc") or [] if part != "body"]
        problems.append(
            FieldProblem(
                field=".".join(loc), message=str(item.get("msg", "")).strip(), type=str(item.get("type", ""))
            )
        )
    return problems


def _detail_text(detail: Any) -> str:
    if detail is None:
        return ""
    if isinstance(detail, str):
        return detail
    problems = field_problems_from_detail(detail)
    return "; ".join(str(p) for p in problems) if problems else str(detail)


def platform_error_text(status_code: int, body: Any, secret: str | None = None) -> str:
    """A platform API error as the user reads it: "HTTP 403, authorization_error: <fal's message>".

    fal's platform API (api.fal.ai) answers ``{"error": {"type", "message"}}``; older answers and the
    queue use ``{"detail": ...}``. ``secret`` (the key) is cut out wherever it appears, and the text is
    bounded, so neither the key nor a page of HTML reaches a message.
    """
    kind, text = "", ""
    if isinstance(body, Mapping):
        envelope = body.get("error")
        if isinstance(envelope, Mapping):
            kind, text = str(envelope.get("type") or ""), str(envelope.get("message") or "")
        elif isinstance(envelope, str):
            text = envelope
        if not text and body.get("detail") is not None:
            text = _detail_text(body.get("detail"))
    said = f"HTTP {status_code}" + (f", {kind}" if kind else "") + (f": {text.strip()[:300]}" if text.strip() else "")
    for part in {secret, *(secret or "").split(":")} - {None, ""}:
        if len(part) >= 8:
            said = said.replace(part, "***")
    return said


def _with_request(message: str, request_id: str | None) -> str:
    return f"{message} (fal request id {request_id})" if request_id else message


def error_from_response(
    status_code: int,
    headers: Mapping[str, str],
    body: Any,
    *,
    action: str,
    request_id: str | None = None,
) -> FalError:
    """The typed error for a non-2xx answer from fal.

    ``body`` is the parsed JSON (dict/list) or the raw text; ``action`` says what we were doing
    ("submitting the request", "reading the result") so the message reads naturally.
    """
    lower = {k.lower(): v for k, v in headers.items()}
    # fal's own gateway tags every answer with a request id; the load balancer in front of it does not.
    from_ingress = "x-fal-request-id" not in lower and not isinstance(body, Mapping)
    request_id = request_id or lower.get("x-fal-request-id")
    detail: Any = body.get("detail") if isinstance(body, Mapping) else None
    error_type = (body.get("error_type") if isinstance(body, Mapping) else None) or lower.get(
        "x-fal-error-type"
    )
    if detail is None and isinstance(body, str):
        detail = body.strip()[:300] or None
    text = _detail_text(detail)
    kw: dict[str, Any] = {
        "request_id": request_id,
        "status_code": status_code,
        "detail": detail,
        "error_type": error_type,
    }
    lowered = text.lower()

    if status_code == 402 or (status_code == 403 and any(h in lowered for h in _CREDIT_HINTS)):
        said = f' (fal says: "{text}")' if text else ""
        return NoCreditError(
            f"Your fal account has no credit left{said}. Add credit at {BILLING_URL} and run again.", **kw
        )
    if status_code in (401, 403):
        said = f' fal says: "{text}".' if text else ""
        return AuthError(
            f"fal rejected the API key while {action} (HTTP {status_code}, invalid key).{said} "
            f"Check the key at {KEYS_URL} and set it again (FAL_KEY or the Luma (fal) settings).",
            **kw,
        )
    problems = field_problems_from_detail(detail) if status_code in (400, 422) else []
    moderated = error_type == "content_policy_violation" or any(
        p.type == "content_policy_violation" for p in problems
    )
    if moderated:
        reason = "; ".join(p.message for p in problems if p.message) or text
        return ContentModerated(
            _with_request(
                "fal's content filter (moderation) blocked this request"
                + (f": {reason.rstrip('. ')}" if reason else "")
                + ". Change the prompt or the input images and try again.",
                request_id,
            ),
            field_problems=problems,
            **kw,
        )
    if status_code == 422:
        lines = "\n".join(f"  {p}" for p in problems) if problems else f"  {text or 'no details given'}"
        return InputRejected(
            _with_request(f"fal rejected the input:\n{lines}", request_id), field_problems=problems, **kw
        )
    if status_code in (404, 410) and action == "reading the result":
        return ResultExpired(
            _with_request(
                "fal no longer has this result (results are kept for a limited time). Run the node again.",
                request_id,
            ),
            **kw,
        )
    if status_code == 429:
        return RequestFailed(
            f"fal is limiting how many requests this key may send (HTTP 429) while {action}; "
            "it kept refusing after several retries. Wait a little, or lower LUMA_FAL_MAX_CONCURRENT.",
            **kw,
        )
    if status_code in (502, 503, 504) and from_ingress:
        # A gateway page rather than a fal JSON error: fal's front door is up but nothing answers behind it.
        return FalUnreachable(
            f"fal is not answering properly (its gateway returned HTTP {status_code} while {action}, "
            "even after retries). Try again in a few minutes; see https://status.fal.ai.",
            **kw,
        )
    if status_code >= 500:
        what = f": {text}" if text else ""
        kind = f", {error_type}" if error_type else ""
        return FalServerError(
            _with_request(
                f"fal had a server-side failure while {action} (HTTP {status_code}{kind}){what}", request_id
            ),
            **kw,
        )
    what = f": {text}" if text else ""
    return RequestFailed(_with_request(f"fal refused {action} (HTTP {status_code}){what}", request_id), **kw)
