"""HTTP answers shaped like fal's: JSON errors, nginx pages, request-id headers."""

from __future__ import annotations

import json
import uuid
from typing import Any

from aiohttp import web

from .faults import Fault

REQUEST_ID_HEADER = "x-fal-request-id"
NO_CREDIT_DETAIL = (
    "User is locked. Reason: Exhausted balance. Top up your balance at fal.ai/dashboard/billing."
)
_REASONS = {
    400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 408: "Request Timeout",
    409: "Conflict", 422: "Unprocessable Entity", 429: "Too Many Requests", 499: "Client Closed Request",
    500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout",
}


def json_reply(status: int, body: Any, *, request_id: str | None = None,
               headers: dict[str, str] | None = None) -> web.Response:
    all_headers = dict(headers or {})
    if request_id:
        all_headers[REQUEST_ID_HEADER] = request_id
    return web.Response(status=status, text=json.dumps(body), content_type="application/json",
                        headers=all_headers)


# fal's platform API (api.fal.ai: pricing, request records, billing events, account) answers errors as
# {"error": {"type": ..., "message": ...}}; the types by status are this sandbox's choice (docs/sandbox.md).
_PLATFORM_ERROR_TYPES = {400: "validation_error", 401: "authorization_error", 403: "authorization_error",
                         404: "not_found", 422: "validation_error", 429: "rate_limited"}


def platform_error(status: int, message: Any) -> dict[str, Any]:
    """fal's platform error envelope for ``status`` carrying ``message``."""
    kind = _PLATFORM_ERROR_TYPES.get(status, "server_error" if status >= 500 else "request_error")
    return {"error": {"type": kind, "message": message if isinstance(message, str) else json.dumps(message)}}


def platform_reply(status: int, doc: Any) -> web.Response:
    """A platform answer: the document, or an error (``{"detail": text}`` inside) in fal's envelope."""
    if status >= 400 and isinstance(doc, dict) and "error" not in doc:
        doc = platform_error(status, doc.get("detail", _REASONS.get(status, "Error")))
    return json_reply(status, doc)


def nginx_page(status: int) -> web.Response:
    """The HTML an ingress answers with: no x-fal-request-id, the word nginx in the body."""
    reason = _REASONS.get(status, "Error")
    html = (f"<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n"
            f"<center><h1>{status} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n")
    return web.Response(status=status, text=html, content_type="text/html")


def fault_reply(fault: Fault, request_id: str | None, *, platform: bool = False) -> web.Response:
    """The answer for a gateway-level ``http`` or ``no_credit`` rule; ``platform``: a platform API route,
    whose JSON errors come in fal's platform envelope."""
    if fault.kind == "no_credit":
        return json_reply(fault.status or 403, {"detail": fault.detail or NO_CREDIT_DETAIL})
    if platform and (fault.style or "json") == "json":
        status = fault.status or 500
        body = platform_error(status, fault.detail or _REASONS.get(status, "Error"))
        if fault.error_type:
            body["error"]["type"] = fault.error_type
        return json_reply(status, body)
    status = fault.status or 500
    # Without an explicit style a 502/503/504 looks like an ingress page, as on the real edge.
    style = fault.style or ("nginx" if status in (502, 503, 504) else "json")
    if style == "nginx":
        response = nginx_page(status)
    else:
        body: dict[str, Any] = {"detail": fault.detail or _REASONS.get(status, "Error")}
        headers: dict[str, str] = {}
        if fault.error_type:
            body["error_type"] = fault.error_type
            headers["X-Fal-Error-Type"] = fault.error_type
        # A JSON error comes from fal's own gateway, which always tags the call.
        response = json_reply(status, body, request_id=request_id or str(uuid.uuid4()), headers=headers)
    if fault.retry_after is not None:
        response.headers["Retry-After"] = _seconds_text(fault.retry_after)
    return response


def _seconds_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)
