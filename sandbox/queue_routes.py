"""fal's queue API: submit, status, status stream (SSE), result, cancel."""

from __future__ import annotations

import asyncio
import json
import math
import uuid

from aiohttp import web

from nodes.luma.constants import ALL_ENDPOINTS

from .faults import OUTCOME_KINDS, Fault
from .gateway import ENTRY, drop_connection
from .jobs import COMPLETED, Job
from .records import billed
from .replies import REQUEST_ID_HEADER, json_reply, nginx_page
from .state import STATE, SandboxState
from .urls import QueueRoute, cdn_base, own_base, parse_queue_path

BILLABLE_UNITS_HEADER = "x-fal-billable-units"
_TIMEOUT_HEADERS = ("X-Fal-Request-Start-Timeout", "X-Fal-Request-Timeout")


async def queue_dispatch(request: web.Request) -> web.StreamResponse:
    route = parse_queue_path(request.path)
    allowed = {"submit": "POST", "status": "GET", "stream": "GET", "result": "GET", "cancel": "PUT"}
    if route.operation is None:
        return json_reply(404, {"detail": "Not Found"})
    if request.method != allowed[route.operation]:
        return json_reply(405, {"detail": "Method Not Allowed"}, headers={"Allow": allowed[route.operation]})
    state = request.app[STATE]
    if route.operation == "submit":
        return await _submit(request, state, route)
    job = state.jobs.jobs.get(route.request_id or "")
    if job is None or job.owner_app != route.owner_app:
        if route.operation == "cancel":
            return json_reply(404, {"status": "NOT_FOUND"})
        return json_reply(404, {"detail": f"Request {route.request_id} not found"})
    if route.operation == "status":
        return _status(request, state, job)
    if route.operation == "stream":
        return await _stream(request, state, job)
    if route.operation == "result":
        return _result(state, job)
    return _cancel(request, state, job)


def _wants_logs(request: web.Request) -> bool:
    return request.query.get("logs", "0").lower() in ("1", "true", "yes")


async def _submit(request: web.Request, state: SandboxState, route: QueueRoute) -> web.Response:
    raw = await request.read()
    try:
        payload = json.loads(raw) if raw else {}
    except (json.JSONDecodeError, UnicodeDecodeError):
        return json_reply(422, {"detail": [{"loc": ["body"], "msg": "Invalid JSON body", "type": "json_invalid"}]})
    request[ENTRY]["payload"] = payload
    endpoint_id = route.endpoint_id or ""
    if endpoint_id not in ALL_ENDPOINTS:
        return json_reply(404, {"detail": f"Application '{endpoint_id}' not found"})
    start_timeout = None
    for header in _TIMEOUT_HEADERS:
        if header in request.headers:
            try:
                start_timeout = float(request.headers[header])
            except ValueError:
                start_timeout = math.nan
            if not start_timeout > 0.1:  # also catches NaN
                return json_reply(400, {"detail": f"Invalid {header} header", "error_type": "bad_request"},
                                  headers={"X-Fal-Error-Type": "bad_request"})
            break
    request_id = str(uuid.uuid4())
    request[ENTRY]["request_id"] = request_id
    outcome = state.faults.take("submit", OUTCOME_KINDS, endpoint_id, request.path)
    job = Job(request_id=request_id, endpoint_id=endpoint_id, owner_app=route.owner_app or "",
              payload=payload, cdn_base=state.config.file_urls_at or cdn_base(request), outcome=outcome,
              start_timeout=start_timeout)
    state.jobs.submit(job)
    body = {"status": "IN_QUEUE", "request_id": request_id, **job.urls(_queue_base(request, state)),
            "queue_position": job.queue_position}
    lost = state.faults.take("submit", ("after_accept",), endpoint_id, request.path)
    if lost is not None:
        return await _lose_answer(request, lost, body, request_id)
    return json_reply(200, body, request_id=request_id)


async def _lose_answer(request: web.Request, lost: Fault, body: dict, request_id: str) -> web.StreamResponse:
    """fal has the request, the caller never learns it: reset, gateway page, or a (too) late answer."""
    request[ENTRY]["fault"] = "after_accept"
    if lost.status is not None:
        return nginx_page(lost.status)
    if lost.seconds:
        await asyncio.sleep(lost.seconds)
        return json_reply(200, body, request_id=request_id)
    return drop_connection(request)


def _queue_base(request: web.Request, state: SandboxState) -> str:
    """Where status/response/cancel URLs point: this server unless the config says otherwise."""
    return state.config.queue_urls_at or own_base(request)


def _status(request: web.Request, state: SandboxState, job: Job) -> web.Response:
    body = job.status_body(_queue_base(request, state), _wants_logs(request))
    return json_reply(200 if job.state == COMPLETED else 202, body, request_id=job.request_id)


def _result(state: SandboxState, job: Job) -> web.Response:
    if job.state != COMPLETED or job.reply is None:
        # Undocumented on fal (the official clients never ask early); a 400 is what users report.
        return json_reply(400, {"detail": "Request is still in progress"}, request_id=job.request_id)
    reply = job.reply
    headers = dict(reply.headers)
    bill = billed(state, job) if state.config.billable_units else None
    if bill is not None:  # fal's answers carry what it bills for them, in units of the endpoint's unit price
        headers[BILLABLE_UNITS_HEADER] = f"{bill[0]:g}"
    return json_reply(reply.status, reply.body, request_id=job.request_id, headers=headers)


def _cancel(request: web.Request, state: SandboxState, job: Job) -> web.Response:
    was = job.state
    accepted = state.jobs.cancel(job)
    request[ENTRY]["cancel"] = {"state_before": was, "accepted": accepted}
    if not accepted:
        return json_reply(400, {"status": "ALREADY_COMPLETED"}, request_id=job.request_id)
    return json_reply(202, {"status": "CANCELLATION_REQUESTED"}, request_id=job.request_id)


async def _stream(request: web.Request, state: SandboxState, job: Job) -> web.StreamResponse:
    stop_midway = state.faults.take("stream", ("stop_midway",), job.endpoint_id, request.path)
    if stop_midway is not None:
        request[ENTRY]["fault"] = "stop_midway"
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
                                           REQUEST_ID_HEADER: job.request_id})
    await response.prepare(request)
    base, with_logs = _queue_base(request, state), _wants_logs(request)
    keepalive = state.config.keepalive_seconds
    seen = -1
    try:
        while True:
            if job.version != seen:
                seen = job.version
                body = job.status_body(base, with_logs)
                await response.write(f"data: {json.dumps(body)}\n\n".encode())
                if body["status"] == COMPLETED or stop_midway is not None:
                    break
            elif not await job.wait_change(seen, keepalive):
                await response.write(b": keep-alive\n\n")
        await response.write_eof()
    except ConnectionError:
        pass  # the client went away; nothing to tell it
    return response
