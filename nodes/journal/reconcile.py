"""Matching journal entries whose submit answer never arrived with fal's own request records.

Pure logic (standard library only): no HTTP, no ComfyUI. A record matches an entry only when the
canonical JSON of the payload fal received equals the canonical JSON of the payload the pack sent
(upload URLs included) — never by time alone; time only orders and bounds the candidates. Several
identical payloads go one to one, oldest entry to earliest-sent record, and a request id already
carried by any journal entry is never given to another.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from .config import positive_number
from .store import JournalEntry

WINDOW_ENV = "LUMA_FAL_RECONCILE_WINDOW_S"
# How long after its submit a Ray request may still be running (so not yet in fal's records, which list
# a request once it has ended). fal documents no upper bound on a partner model's run time; 30 minutes
# covers Ray 3.2's 10 s 1080p HDR runs with a wide margin. Tests set a short window.
DEFAULT_WINDOW_S = 1800.0
# Records are looked up from a little before the submit (clocks differ between here and fal).
LEAD_S = 120.0


class Record(Protocol):
    request_id: str
    sent_at: float | None
    started_at: float | None
    ended_at: float | None
    json_input: Any


def window_seconds(environ: Mapping[str, str] | None = None) -> float:
    return positive_number(WINDOW_ENV, DEFAULT_WINDOW_S, "seconds", environ)


def canonical(payload: Any) -> str:
    """The one text two equal payloads share: sorted keys, no spaces, floats as JSON writes them."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def substitute(value: Any, urls: Mapping[str, str]) -> Any:
    """``value`` with every upload placeholder replaced by its uploaded URL."""
    if isinstance(value, str):
        return urls.get(value, value)
    if isinstance(value, list):
        return [substitute(v, urls) for v in value]
    if isinstance(value, dict):
        return {k: substitute(v, urls) for k, v in value.items()}
    return value


def sent_payload(entry: JournalEntry) -> dict[str, Any]:
    """What the pack sent for ``entry``: its payload with the uploaded URLs the journal recorded."""
    return substitute(entry.payload, {ph: info["url"] for ph, info in entry.inputs.items()
                                      if isinstance(info, dict) and info.get("url")})


def submitted_around(entry: JournalEntry) -> float:
    """When the submit was sent: ``submitted_at`` (written as it is sent); for an entry of an older pack,
    its last change (which the entry's move to ``unknown_submit`` keeps as ``submitted_at``)."""
    return entry.submitted_at or entry.updated_at or entry.created_at


def search_window(entry: JournalEntry, now: float) -> tuple[float, float]:
    return submitted_around(entry) - LEAD_S, now + 60.0


# How long a node waits for a lost submit to show in fal's records (the search itself goes on to the
# window in the background). fal lists a request once it has ended, so a request fal accepted shows up
# about when a run of that endpoint ends: the slowest queue + run time (sent_at to ended_at) among this
# key's recent requests to the endpoint, with a margin for a busier queue (x1.5) and for the listing's
# own delay and the gaps between looks (+15 s). Without such records: DEFAULT_LOST_WAIT_S.
LOST_WAIT_FACTOR, LOST_WAIT_MARGIN_S, MIN_LOST_WAIT_S = 1.5, 15.0, 15.0
# No records of this endpoint yet: fal documents no run time for Ray 3.2. Past this wait nothing is lost
# (the search goes on and the result is saved and shown in the inbox), so a short default only moves the
# wait from ComfyUI's queue to the inbox.
DEFAULT_LOST_WAIT_S = 180.0


@dataclass(frozen=True)
class LostWait:
    """How long a node waits for a lost submit to show in fal's records, and the evidence behind it."""

    seconds: float
    slowest_s: float | None  # slowest sent->ended of the records read (None: no usable record)
    records: int

    def reason(self) -> str:
        if self.slowest_s is None:
            return (f"no earlier request to this endpoint in fal's records, so the pack waited its default "
                    f"{self.seconds:.0f} s")
        return (f"the slowest of {self.records} recent request(s) to this endpoint took {self.slowest_s:.0f} s "
                f"from submit to end at fal, so the pack waited {self.seconds:.0f} s")


def lost_wait(records: Iterable[Record], default: float = DEFAULT_LOST_WAIT_S) -> LostWait:
    """The bound on a node's wait for a lost submit, from fal's records of earlier requests (any status)."""
    spans = [r.ended_at - (r.sent_at or r.started_at or r.ended_at) for r in records if r.ended_at is not None]
    spans = [s for s in spans if s >= 0]
    if not spans:
        return LostWait(default, None, 0)
    slowest = max(spans)
    return LostWait(max(MIN_LOST_WAIT_S, slowest * LOST_WAIT_FACTOR + LOST_WAIT_MARGIN_S), slowest, len(spans))


def _sent(record: Record) -> float:
    return record.sent_at or record.started_at or record.ended_at or 0.0


@dataclass(frozen=True)
class Match:
    entry_id: int
    request_id: str
    record: Any


def match(entries: Sequence[JournalEntry], records: Iterable[Record], taken: Iterable[str] = ()) -> list[Match]:
    """One record per entry at most and one entry per record; oldest entry first, earliest record first.

    ``taken``: request ids already in the journal (adopted earlier, or accepted normally): never reused.
    A record sent before its entry was even journaled cannot be that entry's request.
    """
    used = set(taken)
    pool = sorted((r for r in records if r.request_id and r.request_id not in used), key=_sent)
    texts = {id(r): canonical(r.json_input) for r in pool if isinstance(r.json_input, dict)}
    found: list[Match] = []
    for entry in sorted(entries, key=lambda e: (e.created_at, e.id)):
        want = canonical(sent_payload(entry))
        for record in pool:
            if record.request_id in used or texts.get(id(record)) != want:
                continue
            if record.sent_at is not None and record.sent_at < entry.created_at - LEAD_S:
                continue
            used.add(record.request_id)
            found.append(Match(entry.id, record.request_id, record))
            break
    return found


def not_accepted_yet_possible(entry: JournalEntry, now: float, window: float) -> bool:
    """Whether fal may still be running it (so its absence from the records proves nothing yet)."""
    return now < submitted_around(entry) + window


def evidence(verdict: str, entry: JournalEntry, *, now: float, window: tuple[float, float], listed: int,
             calls: int, request_id: str | None = None, note: str = "") -> dict[str, Any]:
    """The JSON kept in ``fal_records``: what was looked at and what it showed."""
    return {"verdict": verdict, "request_id": request_id, "window": [round(window[0], 3), round(window[1], 3)],
            "looked_at": round(now, 3), "listed": listed, "calls": calls, "note": note,
            "submitted_around": round(submitted_around(entry), 3)}


def billing_drift(estimate: float | None, billed: float | None) -> float | None:
    """(billed - estimate) / estimate, or None when either is unknown or the estimate is 0."""
    if estimate is None or billed is None or estimate <= 0:
        return None
    return round((billed - estimate) / estimate, 4)


DRIFT_FLAG = 0.10  # above this (either way) the request shows its bill differs from the estimate
