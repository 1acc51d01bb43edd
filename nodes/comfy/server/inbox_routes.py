"""The inbox's server routes: list the journaled requests, the spend summary, download again, cancel.

Every answer is built from the journal, which never holds the key. File paths leave the server only as
ComfyUI's ``/view`` addressing (filename, subfolder, type "output") and only for files the journal
recorded that lie inside the output folder. Request ids in paths must be fal ids (UUIDs). The two
actions are POST routes that require a JSON body, so a cross-site form cannot trigger them without a
CORS preflight (ComfyUI's own origin check applies on top).
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

from aiohttp import web

from ...fal.errors import FalError, MissingKeyError
from ...journal import states
from ...journal.reconcile import DRIFT_FLAG, billing_drift
from ...journal.store import JournalEntry
from .. import host
from ..host.journaling import journal, owner_alive, owner_token, worker_name
from ..money.ledger import read_all, session_started, summarize
from ..run import followers
from ..run.by_id import FetchRefused, Saved, parse_request_id, start_fetch
from ..run.fal_bridge import new_runner
from .http import BodyRefused, error_reply, no_store, read_json

log = logging.getLogger(__name__)

MAX_ACTION_BODY_BYTES = 1024
DEFAULT_LIMIT = 50
MAX_LIMIT = 200
PROMPT_PREVIEW_CHARS = 160
MESSAGE_CHARS = 600


def _files(entry: JournalEntry, output_dir: Path) -> list[dict[str, Any]]:
    """The entry's recorded files that lie inside the output folder, as /view addresses."""
    shown = []
    for output, paths in entry.files.items():
        for raw in paths:
            path = Path(raw).resolve()
            if not path.is_relative_to(output_dir):
                continue  # never reveal a path outside the output folder
            rel = path.relative_to(output_dir)
            exists = path.is_file()
            shown.append({"output": output, "filename": rel.name, "type": "output",
                          "subfolder": "" if str(rel.parent) == "." else rel.parent.as_posix(),
                          "exists": exists, "bytes": path.stat().st_size if exists else None})
    return shown


def entry_view(entry: JournalEntry, output_dir: Path, following: bool) -> dict[str, Any]:
    prompt = entry.payload.get("prompt") if isinstance(entry.payload, dict) else None
    return {
        "id": entry.id, "created_at": entry.created_at, "updated_at": entry.updated_at,
        "finished_at": entry.finished_at, "node_name": entry.node_name, "node_id": entry.node_id,
        "endpoint_id": entry.endpoint_id, "output_kind": entry.output_kind, "state": entry.state,
        "price_usd": entry.price_usd, "request_id": entry.request_id,
        "prompt": prompt[:PROMPT_PREVIEW_CHARS] if isinstance(prompt, str) else None,
        "message": (entry.message or "")[:MESSAGE_CHARS] or None,
        "files": _files(entry, output_dir),
        "following": following,
        # The process that owns it ("<worker>/<pid>/<start>"): in a fleet, which worker follows it.
        "owner": entry.owner, "worker": entry.owner.rsplit("/", 2)[0],
        "this_worker": entry.owner.rsplit("/", 2)[0] == worker_name(),
        "can_cancel": bool(entry.request_id) and entry.state in (states.QUEUED, states.RUNNING),
        "can_refetch": bool(entry.request_id),
        **fal_records_view(entry),
    }


def fal_records_view(entry: JournalEntry) -> dict[str, Any]:
    """What fal's own records added: recovered from a lost submit answer, not accepted, billed, drift."""
    records = entry.fal_records or {}
    billing = records.get("billing") if isinstance(records.get("billing"), dict) else {}
    drift = billing_drift(entry.price_usd, entry.billed_usd)
    return {"recovered": records.get("verdict") == "adopted",
            "not_accepted": records.get("verdict") == "not_accepted",
            "fal_records": records.get("verdict"),
            "billed_usd": entry.billed_usd, "drift": drift,
            "drift_flag": drift is not None and abs(drift) > DRIFT_FLAG,
            # Where the billed figure came from: "units" (fal's billable units on the result), "billing_events",
            # "none" (fal sent no units: the estimate stands); with the units and unit price behind it.
            "billed_from": billing.get("source"), "billed_units": billing.get("units"),
            "unit_price": billing.get("unit_price"), "billed_unit": billing.get("unit")}


def _int_param(request: web.Request, name: str, default: int | None, low: int, high: int) -> int | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name}: {raw[:40]!r} is not a whole number") from None
    if not low <= value <= high:
        raise ValueError(f"{name}: {value} is outside {low}..{high}")
    return value


async def list_requests(request: web.Request) -> web.Response:
    try:
        limit = _int_param(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
        before = _int_param(request, "before", None, 1, 2**62)
    except ValueError as exc:
        return error_reply(str(exc), 400)
    entries = await asyncio.to_thread(journal().list_entries, limit=limit or DEFAULT_LIMIT, before_id=before)
    output_dir = host.output_directory().resolve()

    def views() -> list[dict[str, Any]]:
        return [entry_view(e, output_dir, followers.active(e.identity) is not None) for e in entries]

    rows = await asyncio.to_thread(views)
    return no_store({"entries": rows, "changed_at": max((e.updated_at for e in entries), default=None),
                   "now": time.time()})


async def get_ledger(request: web.Request) -> web.Response:
    entries = await asyncio.to_thread(read_all, journal())
    return no_store(summarize(entries, now=time.time(), session_start=session_started()))


async def _action_target(request: web.Request) -> JournalEntry | web.Response:
    """Checks shared by the POST actions: a JSON body (small), a fal request id the journal knows."""
    try:
        body = await read_json(request, MAX_ACTION_BODY_BYTES, empty=b"{}",
                               not_json="send a JSON body ({}) with Content-Type: application/json")
    except BodyRefused as refused:
        return refused.response
    if not isinstance(body, dict) or body:
        return error_reply("expected an empty JSON object ({}); the request id goes in the path", 400)
    try:
        request_id = parse_request_id(request.match_info.get("request_id", ""), "request id")
    except FetchRefused as exc:
        return error_reply(str(exc), 400)
    entry = await asyncio.to_thread(journal().get_by_request_id, request_id)
    if entry is None:
        return error_reply(f"request {request_id} is not in this ComfyUI's journal; fetch it with the "
                      "'Luma fal: Result by Request ID' node", 404)
    return entry


def _log_outcome(request_id: str, follower: Any) -> None:
    def done(future: Any) -> None:
        error = future.exception()
        if error is None:
            saved = ", ".join(str(p) for paths in future.result().files.values() for p in paths)
            log.info("comfyui-luma-fal: inbox: request %s saved again: %s", request_id, saved)
        else:
            log.warning("comfyui-luma-fal: inbox: request %s could not be downloaded again: %s", request_id,
                        error)

    follower.future.add_done_callback(done)


async def post_refetch(request: web.Request) -> web.Response:
    """Download the result again from fal into the output folder (in the background; the list shows it)."""
    target = await _action_target(request)
    if isinstance(target, web.Response):
        return target
    try:
        verdict = start_fetch(target.endpoint_id, str(target.request_id), node_name=target.node_name,
                              force=True)
    except (FetchRefused, MissingKeyError) as exc:
        return error_reply(str(exc), 400)
    if isinstance(verdict, Saved):  # cannot happen with force=True; kept for a clear answer if it ever does
        return no_store({"request_id": target.request_id, "state": verdict.entry.state})
    _log_outcome(str(target.request_id), verdict)
    return no_store({"request_id": target.request_id, "state": "downloading", "entry_id": verdict.entry_id}, 202)


async def post_cancel(request: web.Request) -> web.Response:
    """Cancel a request in flight at fal: through its follower in this process, else with fal's cancel call."""
    target = await _action_target(request)
    if isinstance(target, web.Response):
        return target
    if target.state not in (states.QUEUED, states.RUNNING):
        return error_reply(f"request {target.request_id} is {target.state}; only a queued or running request can be "
                      "cancelled", 409)
    follower = followers.active(target.identity)
    if follower is not None:
        follower.cancel()  # the follower PUTs fal's cancel and records what fal answered
        return no_store({"request_id": target.request_id, "state": "cancelling"}, 202)
    try:
        answer = await new_runner().cancel(target.endpoint_id, str(target.request_id))
    except FalError as exc:
        return error_reply(str(exc), 502)
    store = journal()
    note = f"cancel sent from the inbox; fal answered {answer}"
    # Another live ComfyUI follows it and will record fal's outcome itself; otherwise record it here.
    elsewhere = target.owner != owner_token() and owner_alive(target.owner)
    if answer in ("CANCELLATION_REQUESTED", "OK") and not elsewhere:
        entry = await asyncio.to_thread(store.update, target.id, state=states.CANCELLED, note=note,
                                        message=note, finished_at=time.time())
    else:
        entry = await asyncio.to_thread(store.update, target.id, note=note)
    return no_store({"request_id": target.request_id, "state": entry.state, "fal_answer": answer})


def add_routes(routes: web.RouteTableDef) -> None:
    routes.get("/luma_fal/requests")(list_requests)
    routes.get("/luma_fal/ledger")(get_ledger)
    routes.post("/luma_fal/requests/{request_id}/refetch")(post_refetch)
    routes.post("/luma_fal/requests/{request_id}/cancel")(post_cancel)
