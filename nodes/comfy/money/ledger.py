"""What the journal's price estimates say was spent, read two ways side by side.

* ``summarize`` (the inbox's read-only summary: today, this ComfyUI session, per endpoint) counts what
  IS billed: requests fal finished (``done``, or ``completed`` with files not saved yet), since fal
  bills only successful outputs. Requests still queued or running are shown apart as "in flight". A
  request cancelled while running may also be billed by fal; it is not counted (fal does not document it).
* ``spent_today`` (THE one seam the spend limits read) counts what MAY BE billed: today's (local date)
  finished requests, those still in flight and those whose submit is in doubt. A running prompt's own
  unfinished nodes are left out because the limit check reserves them itself (``money.check``), so
  nothing counts twice.

Requests fetched by id carry no estimate (the pack does not know their inputs), so they never count twice.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import psutil

from ...journal import states
from ...journal.store import JournalEntry, JournalStore
from ..host.journaling import journal

BILLED = (states.DONE, states.COMPLETED)
IN_FLIGHT = (states.SUBMITTING, states.QUEUED, states.RUNNING)
PAGE = 500
MAX_ENTRIES = 20_000


def session_started() -> float:
    """When this ComfyUI process started, else (the process cannot be read) when this module was loaded."""
    try:
        return float(psutil.Process().create_time())
    except Exception:
        return _LOADED


_LOADED = time.time()


def local_midnight(now: float) -> float:
    day = time.localtime(now)
    return time.mktime((day.tm_year, day.tm_mon, day.tm_mday, 0, 0, 0, 0, 0, -1))


def _total(entries: Iterable[JournalEntry]) -> dict[str, Any]:
    """Estimates, and beside them what fal billed for the requests whose billing events were read."""
    rows = list(entries)
    priced = [e for e in rows if e.price_usd is not None]
    billed = [e for e in rows if e.billed_usd is not None]
    return {"usd": round(sum(e.price_usd or 0.0 for e in priced), 6), "requests": len(priced),
            "billed_usd": round(sum(e.billed_usd or 0.0 for e in billed), 6), "billed_requests": len(billed),
            "estimate_of_billed_usd": round(sum(e.price_usd or 0.0 for e in billed), 6)}


def summarize(entries: list[JournalEntry], *, now: float, session_start: float) -> dict[str, Any]:
    billed = [e for e in entries if e.state in BILLED]
    by_endpoint: dict[str, list[JournalEntry]] = {}
    for entry in billed:
        by_endpoint.setdefault(entry.endpoint_id, []).append(entry)
    midnight = local_midnight(now)
    return {
        "today": _total(e for e in billed if e.created_at >= midnight),
        "session": _total(e for e in billed if e.created_at >= session_start),
        "in_flight": _total(e for e in entries if e.state in IN_FLIGHT),
        "by_endpoint": sorted(({"endpoint_id": endpoint, **_total(group)}
                               for endpoint, group in by_endpoint.items()), key=lambda row: -row["usd"]),
        "unpriced": sum(1 for e in billed if e.price_usd is None),
        "oldest_at": min((e.created_at for e in entries), default=None),
        "estimate": "from the pack's price table when each request ran; fal bills only successful outputs",
    }


def read_all(store: JournalStore) -> list[JournalEntry]:
    """Every entry the journal keeps (it prunes finished ones after LUMA_FAL_JOURNAL_DAYS), newest first."""
    entries: list[JournalEntry] = []
    before: int | None = None
    while len(entries) < MAX_ENTRIES:
        page = store.list_entries(limit=PAGE, before_id=before)
        entries += page
        if len(page) < PAGE:
            break
        before = page[-1].id
    return entries


def spent_today(*, running_prompt: str | None = None) -> float:
    """USD of today's requests that are or may be billed (fal's billed figure where known, else the
    estimate): one SUM in the journal (shared by a fleet of workers on PostgreSQL), not a read of every entry."""
    return journal().spent_since(local_midnight(time.time()), leave_out_prompt=running_prompt)
