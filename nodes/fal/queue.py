"""fal's queue API: submit, status (polled or streamed), result, cancel.

The handle keeps the status/result/cancel URLs fal returns on submit: fal asks clients not to build
them (they drop the endpoint's sub-path). ``handle_for`` rebuilds them only for fetching an older
request by its id. Because those URLs come from a server's answer, every keyed call checks its URL
first (``require_key_origin``): one pointing anywhere the key may not go is refused, never called.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any

import httpx
from httpx_sse import SSEError, aconnect_sse

from .config import Hosts
from .connectivity import diagnoser
from .errors import FalError, RequestFailed, UnsafeUrl
from .http import TRANSFER_TIMEOUT, require_key_origin
from .retry import CallKind, RetryPolicy, send
from .stopping import ShouldStop

if TYPE_CHECKING:
    from .deadline import Deadline

log = logging.getLogger(__name__)

class QueueState(str, Enum):
    """Where fal's queue says a request is. A ``str``: equal to fal's own word (``"COMPLETED"``)."""

    IN_QUEUE = "IN_QUEUE"
    IN_PROGRESS = "IN_PROGRESS"
    COMPLETED = "COMPLETED"

    def __str__(self) -> str:
        return self.value


IN_QUEUE = QueueState.IN_QUEUE
IN_PROGRESS = QueueState.IN_PROGRESS
COMPLETED = QueueState.COMPLETED
STATUSES = tuple(QueueState)

# Endpoint ids are path segments of letters, digits, '.', '_' and '-'; this also stops "../" tricks.
_ENDPOINT_RE = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]*(/[A-Za-z0-9_-][A-Za-z0-9._-]*)+$")
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
_NAMESPACES = ("workflows", "comfy")


@dataclass(frozen=True)
class RequestHandle:
    request_id: str
    status_url: str
    response_url: str
    cancel_url: str
    endpoint_id: str


BILLABLE_UNITS_HEADER = "x-fal-billable-units"


@dataclass(frozen=True)
class ResultRead:
    body: dict[str, Any]
    # fal's x-fal-billable-units: the units it bills for this result (may be fractional); None when not sent.
    billable_units: float | None = None


def billable_units(headers: Mapping[str, str]) -> float | None:
    """fal's billed units from an answer's headers: a finite number >= 0, else None (not sent or unreadable)."""
    raw = headers.get(BILLABLE_UNITS_HEADER)
    try:
        units = float(raw) if raw is not None else None
    except ValueError:
        return None
    return units if units is not None and math.isfinite(units) and units >= 0 else None


@dataclass(frozen=True, eq=False)
class RequestStatus(Mapping[str, Any]):
    """One status answer of fal's, parsed once where it arrives: its ``state``, queue position, progress
    and logs typed. It still reads as fal's JSON (``status["status"]``, ``status.get("logs")``)."""

    state: QueueState
    answer: Mapping[str, Any]

    @classmethod
    def parse(cls, body: Any, action: str, request_id: str) -> RequestStatus:
        """fal's answer as a status, or ``RequestFailed`` when it is not one of fal's three states."""
        if isinstance(body, RequestStatus):
            return body
        state = body.get("status") if isinstance(body, Mapping) else None
        if not isinstance(state, str) or state not in QueueState.__members__:
            raise RequestFailed(
                f"fal sent an unexpected status while {action}: {str(body)[:200]}", request_id=request_id
            )
        return cls(QueueState(state), body)

    @property
    def queue_position(self) -> int | None:
        position = self.answer.get("queue_position")
        return position if isinstance(position, int) and not isinstance(position, bool) else None

    @property
    def fraction(self) -> float | None:
        """fal's progress as 0-1 (it sends a fraction or a percentage), None when it sent none."""
        progress = self.answer.get("progress")
        if not isinstance(progress, (int, float)) or isinstance(progress, bool):
            return None
        return max(0.0, min(1.0, progress / 100 if progress > 1 else float(progress)))

    @property
    def logs(self) -> tuple[Mapping[str, Any], ...]:
        return tuple(entry for entry in self.answer.get("logs") or [] if isinstance(entry, Mapping))

    def __getitem__(self, key: str) -> Any:
        return self.answer[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.answer)

    def __len__(self) -> int:
        return len(self.answer)


class StatusStreamFailed(FalError):
    """The SSE status stream could not be opened or broke; callers fall back to polling."""


def check_endpoint_id(endpoint_id: str) -> str:
    if not isinstance(endpoint_id, str) or not _ENDPOINT_RE.match(endpoint_id) or ".." in endpoint_id:
        raise ValueError(
            f"not a fal endpoint id: {endpoint_id!r} (expected e.g. 'luma/agent/ray/v3.2/text-to-video')"
        )
    return endpoint_id


def app_path(endpoint_id: str) -> str:
    """'owner/app' (with a workflows/comfy namespace kept) — the part status/result URLs use."""
    parts = check_endpoint_id(endpoint_id).split("/")
    keep = 3 if parts[0] in _NAMESPACES and len(parts) >= 3 else 2
    return "/".join(parts[:keep])


def _json_body(response: httpx.Response, action: str) -> Any:
    try:
        return response.json()
    except ValueError as exc:
        raise RequestFailed(
            f"fal sent an unreadable answer while {action} (HTTP {response.status_code}, not JSON)",
            status_code=response.status_code,
            request_id=response.headers.get("x-fal-request-id"),
        ) from exc


class QueueClient:
    def __init__(
        self,
        client: httpx.AsyncClient,
        hosts: Hosts,
        *,
        retry: RetryPolicy | None = None,
        should_stop: ShouldStop | None = None,
    ) -> None:
        self._client = client
        self._hosts = hosts
        self._retry = retry or RetryPolicy()
        self._should_stop = should_stop

    async def _send(
        self,
        method: str,
        url: str,
        *,
        kind: CallKind,
        action: str,
        request_id: str | None = None,
        should_stop: ShouldStop | None = None,
        deadline: Deadline | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        require_key_origin(url, self._hosts, what=f"URL for {action}", request_id=request_id)
        return await send(
            self._client,
            method,
            url,
            kind=kind,
            action=action,
            policy=self._retry,
            should_stop=should_stop,
            diagnose=diagnoser(self._client, self._hosts, action=action),
            request_id=request_id,
            deadline=deadline,
            **kwargs,
        )

    def check_handle(self, handle: RequestHandle) -> None:
        """Refuse (``UnsafeUrl``) a handle whose status, result or cancel URL the key may not go to."""
        for name, url in (("status URL", handle.status_url), ("result URL", handle.response_url),
                          ("cancel URL", handle.cancel_url)):
            require_key_origin(url, self._hosts, what=name, request_id=handle.request_id)

    def handle_for(self, endpoint_id: str, request_id: str) -> RequestHandle:
        """Rebuild a handle for a request submitted earlier (e.g. to fetch its result again)."""
        if not _REQUEST_ID_RE.match(request_id or ""):
            raise ValueError(f"not a fal request id: {request_id!r}")
        base = f"{self._hosts.queue}/{app_path(endpoint_id)}/requests/{request_id}"
        return RequestHandle(
            request_id=request_id,
            status_url=f"{base}/status",
            response_url=base,
            cancel_url=f"{base}/cancel",
            endpoint_id=endpoint_id,
        )

    async def submit(
        self, endpoint_id: str, payload: Mapping[str, Any], *, headers: Mapping[str, str] | None = None
    ) -> RequestHandle:
        check_endpoint_id(endpoint_id)
        action = "submitting the request"
        response = await self._send(
            "POST",
            f"{self._hosts.queue}/{endpoint_id}",
            kind="submit",
            action=action,
            should_stop=self._should_stop,
            json=dict(payload),
            headers=dict(headers or {}),
        )
        body = _json_body(response, action)
        request_id = body.get("request_id") if isinstance(body, dict) else None
        if not isinstance(request_id, str) or not request_id:
            raise RequestFailed(f"fal accepted the request but sent no request id: {str(body)[:200]}")
        rebuilt = self.handle_for(endpoint_id, request_id)
        handle = RequestHandle(
            request_id=request_id,
            status_url=body.get("status_url") or rebuilt.status_url,
            response_url=body.get("response_url") or rebuilt.response_url,
            cancel_url=body.get("cancel_url") or rebuilt.cancel_url,
            endpoint_id=endpoint_id,
        )
        log.info("fal accepted %s as request %s", endpoint_id, request_id)
        return handle

    async def status(
        self, handle: RequestHandle, *, logs: bool = True, deadline: Deadline | None = None
    ) -> RequestStatus:
        """One status read. 200 and 202 both mean "here is the status"; the JSON ``status`` decides."""
        action = "checking the request's status"
        response = await self._send(
            "GET",
            handle.status_url,
            kind="read",
            action=action,
            request_id=handle.request_id,
            should_stop=self._should_stop,
            deadline=deadline,
            params={"logs": "1" if logs else "0"},
        )
        return RequestStatus.parse(_json_body(response, action), action, handle.request_id)

    async def stream_status(
        self, handle: RequestHandle, *, logs: bool = True
    ) -> AsyncIterator[RequestStatus]:
        """Status updates as fal pushes them (SSE), ending after COMPLETED or when fal closes the stream.

        Raises ``StatusStreamFailed`` when the stream cannot be opened or breaks; definitive errors
        (bad key, unknown request) show up on the next polled status read instead.
        """
        action = "following the request's status"
        require_key_origin(handle.status_url, self._hosts, what="status URL", request_id=handle.request_id)
        url = httpx.URL(handle.status_url)
        url = url.copy_with(path=url.path.rstrip("/") + "/stream")
        try:
            async with aconnect_sse(
                self._client, "GET", str(url), params={"logs": "1" if logs else "0"}, timeout=TRANSFER_TIMEOUT
            ) as source:
                if source.response.status_code != 200:
                    raise StatusStreamFailed(
                        f"status stream refused (HTTP {source.response.status_code})",
                        status_code=source.response.status_code,
                        request_id=handle.request_id,
                    )
                async for event in source.aiter_sse():
                    if not event.data.strip():
                        continue
                    try:
                        body = json.loads(event.data)
                    except ValueError as exc:
                        raise StatusStreamFailed(
                            "status stream sent a non-JSON event", request_id=handle.request_id
                        ) from exc
                    status = RequestStatus.parse(body, action, handle.request_id)
                    yield status
                    if status.state is QueueState.COMPLETED:
                        return
        except (httpx.HTTPError, SSEError) as exc:
            raise StatusStreamFailed(
                f"status stream broke: {type(exc).__name__}", request_id=handle.request_id
            ) from exc

    async def result(self, handle: RequestHandle, *, deadline: Deadline | None = None) -> dict[str, Any]:
        return (await self.read_result(handle, deadline=deadline)).body

    async def read_result(self, handle: RequestHandle, *, deadline: Deadline | None = None) -> ResultRead:
        """The result body and what fal says it bills for it (``x-fal-billable-units``, when sent)."""
        action = "reading the result"
        response = await self._send(
            "GET",
            handle.response_url,
            kind="read",
            action=action,
            request_id=handle.request_id,
            should_stop=self._should_stop,
            deadline=deadline,
        )
        body = _json_body(response, action)
        if not isinstance(body, dict):
            raise RequestFailed(
                f"fal sent an unexpected result: {str(body)[:200]}", request_id=handle.request_id
            )
        return ResultRead(body, billable_units(response.headers))

    async def cancel(self, handle: RequestHandle, *, timeout: float | None = None) -> str:
        """Ask fal to cancel: the one cancel of the pack (a stop, a limit, an unsafe handle, the inbox).

        Returns fal's answer (CANCELLATION_REQUESTED, ALREADY_COMPLETED or NOT_FOUND), or, when no answer came
        within ``timeout`` seconds or the call failed, a short note saying so: its caller is already on its way
        out. Only a cancel URL the key may not go to raises (``UnsafeUrl``). Deliberately ignores ``should_stop``:
        it is usually called because the user pressed stop.
        """
        try:
            return await asyncio.wait_for(self._send_cancel(handle), timeout=timeout)
        except asyncio.TimeoutError:
            return "no answer to the cancel call"
        except UnsafeUrl:
            raise
        except FalError as exc:
            log.warning("cancel of %s failed: %s", handle.request_id, type(exc).__name__)
            return f"cancel call failed: {type(exc).__name__}"

    async def _send_cancel(self, handle: RequestHandle) -> str:
        action = "cancelling the request"
        try:
            response = await self._send(
                "PUT", handle.cancel_url, kind="read", action=action, request_id=handle.request_id
            )
        except FalError as exc:
            if exc.status_code in (400, 404):
                return "ALREADY_COMPLETED" if exc.status_code == 400 else "NOT_FOUND"
            raise
        try:
            body = response.json()
        except ValueError:
            body = {}
        answer = body.get("status") if isinstance(body, dict) else None
        log.info("cancel of request %s: %s", handle.request_id, answer or response.status_code)
        return str(answer or "CANCELLATION_REQUESTED")
