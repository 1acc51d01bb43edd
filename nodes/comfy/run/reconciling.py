"""A submit whose answer never arrived, found again in fal's own request records.

The glue around ``nodes.journal.reconcile`` (matching) and ``nodes.fal.records`` (transport): look for
the journal entry's request in fal's records with backoff, adopt the request id of the one record whose
payload is the one sent, then follow it like any other request (``fal_bridge.follow_and_save``: status,
result, download, receipt, tags). When fal's records still show no such request once a Ray request
could no longer be running (``LUMA_FAL_RECONCILE_WINDOW_S``), the entry becomes ``not_submitted`` with
that evidence, and only then may a re-run with the same seed pay for a new request.

Runs as a follower's work (followers.py): a node that re-runs the same inputs joins it (its status line
says "Looking for the request at fal"; Cancel stops its wait). Entries left behind by a process that
died are reconciled in a daemon thread (``reconcile_in_background``).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from ...fal.config import FalConfig
from ...fal.deadline import TimeLimits
from ...fal.errors import StopRequested
from ...fal.events import FalEvent
from ...fal.records import RecordsClient, RecordsRefused, RecordsUnavailable
from ...journal import reconcile, states
from ...journal.store import JournalEntry, JournalStore
from . import followers
from ..host.journaling import RunRecorder, journal, owner_token
from ..host.keystore import key_file_path
from .fal_bridge import follow_and_save, new_runner
from .fetching import FollowerRun, StreamConsumer
from .limits import DEFAULT_TOTAL_TIME_S
from .saving import Generated

log = logging.getLogger(__name__)

DASHBOARD = "https://fal.ai/dashboard/requests"
READ_ACCESS_HINT = "Give the key read access (fal's request history) to see it here."
FIRST_GAP_S, GAP_FACTOR, MAX_GAP_S = 2.0, 1.6, 30.0
_ADOPT_LOCK = threading.Lock()  # match + adopt is one step in this process: never two entries to one id


class NotAcceptedAtFal(RuntimeError):
    """fal's records show the request never arrived (not billed): a new submit is safe now."""


class StillUnknown(RuntimeError):
    """fal's records could not be read (or not yet): the outcome stays unknown; nothing is re-sent."""


class StillLooking(StillUnknown):
    """The node's bounded wait (``reconcile.lost_wait``) passed without the request in fal's records; the
    search goes on in the background to the window."""

    def __init__(self, wait: reconcile.LostWait) -> None:
        super().__init__(wait.reason())
        self.wait = wait


RECENT_S = 86400.0  # fal's default listing range: the last day of this key's requests to the endpoint


def local_time(stamp: float | None) -> str:
    """A journal time stamp as the user's clock shows it, for messages."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp)) if stamp else "an unknown time"


def unknown_submit_message(node_name: str, entry: JournalEntry) -> str:
    return (f"{node_name}: an identical request (same inputs and seed) was being submitted at "
            f"{local_time(entry.updated_at)} when the connection broke or ComfyUI stopped, so fal may or may not have "
            f"accepted it (and billed it). It is not sent again, so you never pay twice. Look for it at {DASHBOARD}; "
            f"to run a new paid take anyway, change the seed."
            + (f"\nWhat happened: {entry.message}" if entry.message else ""))


def still_looking_text(entry: JournalEntry, wait: reconcile.LostWait) -> str:
    """What a node says when it stops waiting for a lost submit while the background search goes on."""
    until = local_time(reconcile.submitted_around(entry) + reconcile.window_seconds())
    why = f"A request fal accepted shows in its records about when a run of this endpoint ends; {wait.reason()}"
    return (f"{why}, and it has not shown yet. The pack keeps looking in fal's request records in the background "
            f"until {until}: if fal has it, the result is saved and shown in the fal inbox (the \"Luma fal\" "
            "sidebar tab); if fal's records still show nothing then, it was never accepted (not billed) and a "
            "re-run submits it.")


def still_unknown_message(node_name: str, entry: JournalEntry) -> str:
    text = unknown_submit_message(node_name, entry)
    if (entry.fal_records or {}).get("verdict") == "refused":
        text += f"\n{refused_hint(str((entry.fal_records or {}).get('note') or ''))}"
    return text


def refused_hint(said: str) -> str:
    """What a key without read access is told: fal's own answer (type and message), then what to do."""
    return f"{said.rstrip('.')}. {READ_ACCESS_HINT}" if said else READ_ACCESS_HINT


def _gaps(window: float) -> Iterator[float]:
    gap = min(FIRST_GAP_S, max(0.2, window / 8))
    while True:
        yield gap
        gap = min(MAX_GAP_S, max(0.5, window / 3), gap * GAP_FACTOR)


def _event(started: float, note: str) -> FalEvent:
    return FalEvent("reconciling", elapsed_in_queue=time.monotonic() - started, last_log=note)


def _record(store: JournalStore, entry: JournalEntry, verdict: str, **fields: Any) -> JournalEntry:
    try:
        return store.update(entry.id, fal_records=verdict_doc(entry, verdict, **fields))
    except Exception:
        log.exception("comfyui-luma-fal: could not write the journal (entry %s)", entry.id)
        return entry


def verdict_doc(entry: JournalEntry, verdict: str, **fields: Any) -> dict[str, Any]:
    return {**(entry.fal_records or {}), **fields, "verdict": verdict}


async def _look(client: RecordsClient, store: JournalStore, entry: JournalEntry) -> tuple[reconcile.Match | None, int, tuple]:
    """One look at fal's records: the match for ``entry`` (adopted in the journal) or None."""
    now = time.time()
    window = reconcile.search_window(entry, now)
    records = await client.requests(entry.endpoint_id, start=window[0], end=window[1], payloads=True)
    with _ADOPT_LOCK:
        doubtful = [e for e in store.list_entries(limit=200, states=[states.UNKNOWN_SUBMIT])
                    if e.endpoint_id == entry.endpoint_id]
        if entry.id not in {e.id for e in doubtful}:
            doubtful.append(entry)
        taken = [r.request_id for r in records if (other := store.get_by_request_id(r.request_id)) is not None
                 and other.id != entry.id]
        mine = next((m for m in reconcile.match(doubtful, records, taken) if m.entry_id == entry.id), None)
        if mine is not None:
            doc = reconcile.evidence("adopted", entry, now=now, window=window, listed=len(records),
                                     calls=client.calls, request_id=mine.request_id,
                                     note="the payload fal received is the one sent")
            store.update(entry.id, state=states.QUEUED, request_id=mine.request_id,
                         submitted_at=mine.record.sent_at or reconcile.submitted_around(entry), fal_records=doc,
                         note=f"found in fal's request records as {mine.request_id} (the submit's answer was lost)")
    return mine, len(records), window


async def _lost_wait(client: RecordsClient, entry: JournalEntry) -> reconcile.LostWait:
    """The bound on a node's wait, from one page of this key's recent requests to the endpoint."""
    now = time.time()
    try:
        records = await client.requests(entry.endpoint_id, start=now - RECENT_S, end=now + 60.0, payloads=False,
                                        max_pages=1)
    except RecordsRefused:
        raise  # a key that may not read the records is told so at once, not made to wait
    except RecordsUnavailable as exc:
        log.info("comfyui-luma-fal: %s: fal's records of earlier runs could not be read (%s); waiting the "
                 "default %.0f s", entry.node_name, exc, reconcile.DEFAULT_LOST_WAIT_S)
        records = []
    return reconcile.lost_wait(records)


async def find_and_save(store: JournalStore, entry: JournalEntry, run: FollowerRun, *, within_deadline: bool = False,
                        bound_from: float | None = None) -> Generated:
    """Look for ``entry`` in fal's records until found (then follow and save it), proven absent after the
    window (``NotAcceptedAtFal``), unreadable (``StillUnknown``), or stopped (``StopRequested``).

    ``within_deadline``: the search itself ends at ``run.deadline`` (the node's own submit lost its answer) and
    the follow has what is left of it; otherwise the follow gets the deadline's whole length from when the
    request is found. ``bound_from`` (a wall time): the node waits at most ``reconcile.lost_wait`` seconds from
    then, and past that raises ``StillLooking`` (its caller hands the search to the background); None searches
    to the window."""
    follower = run.follower
    deadline = run.deadline if within_deadline else None
    window = reconcile.window_seconds()
    # Two tries per look; a look that failed doubles the next wait: a failing listing is asked a few
    # times per window, never in a storm.
    client = RecordsClient(FalConfig.from_env(key_file=key_file_path()), attempts=2)
    started = time.monotonic()
    gaps = _gaps(window)
    failure: str | None = None
    follower.emit(_event(started, "reading fal's request records"))
    try:
        wait = await _lost_wait(client, entry)
    except RecordsRefused as exc:
        _record(store, entry, "refused", calls=client.calls, note=str(exc))
        raise StillUnknown(str(exc)) from None
    follower.lost_wait = wait
    give_up_at = bound_from + wait.seconds if bound_from is not None else None
    while True:
        if follower.should_stop():
            raise StopRequested("Stopped looking for the request at fal; it stays in doubt and is not re-sent")
        try:
            found, listed, looked = await _look(client, store, entry)
        except RecordsRefused as exc:
            _record(store, entry, "refused", calls=client.calls, note=str(exc))
            raise StillUnknown(str(exc)) from None
        except RecordsUnavailable as exc:
            failure, found = str(exc), None
            listed, looked = -1, (0.0, 0.0)
        if found is not None:
            log.info("comfyui-luma-fal: %s (journal entry %d): found at fal as request %s after %d call(s)",
                     entry.node_name, entry.id, found.request_id, client.calls)
            adopted = store.get(entry.id) or entry
            recorder = RunRecorder(store, adopted)
            # Submitted long ago: no queue bound; the node's own clock, or a fresh one for a search on its own.
            clock = deadline.without_queue_wait() if deadline is not None else TimeLimits(total=run.deadline.limit).start()
            return await follow_and_save(recorder, replace(run, deadline=clock))
        now = time.time()
        if listed >= 0 and not reconcile.not_accepted_yet_possible(entry, now, window):
            doc = reconcile.evidence("not_accepted", entry, now=now, window=looked, listed=listed,
                                     calls=client.calls, note=f"no request with this payload in fal's records "
                                                              f"{window:.0f} s after the submit")
            store.update(entry.id, state=states.NOT_SUBMITTED, fal_records=doc,
                         note=f"fal's request records show no such request {window:.0f} s after the submit: "
                              "it was not accepted (not billed)")
            raise NotAcceptedAtFal(f"{entry.node_name}: fal's own records show this request never reached fal "
                                   "(not billed). Run the node again to submit it.")
        if listed < 0 and not reconcile.not_accepted_yet_possible(entry, now, window):
            _record(store, entry, "unavailable", calls=client.calls, note=failure or "")
            raise StillUnknown(failure or "fal's request records could not be read")
        if give_up_at is not None and now >= give_up_at:
            _record(store, entry, "looking", calls=client.calls, note=wait.reason(), wait_s=round(wait.seconds, 1))
            raise StillLooking(wait)
        gap = next(gaps) * (2 if listed < 0 else 1)
        if give_up_at is not None:
            gap = max(0.1, min(gap, give_up_at - now))
        if deadline is not None and not deadline.allows_wait(gap):
            raise StillUnknown("the node's max_total_time ran out while looking for the request at fal")
        note = f"not in fal's records yet ({listed} listed)" if listed >= 0 else f"records unavailable: {failure}"
        if give_up_at is not None:
            note += f"; this node waits up to {wait.seconds:.0f} s for it"
        follower.emit(_event(started, note))
        waited = 0.0
        while waited < gap and not follower.should_stop():
            await asyncio.sleep(0.1)
            waited += 0.1


def start_finding(store: JournalStore, entry: JournalEntry, limits: TimeLimits, *, bounded: bool = True,
                  frames_to: StreamConsumer | None = None) -> followers.Follower:
    """A follower (on the running loop) that reconciles ``entry``; the caller registers it (under the lock).
    ``bounded``: a node's re-run, which waits at most ``reconcile.lost_wait`` from now; the background search
    (``bounded=False``) goes on to the window. Once found, the follow has ``limits.total`` (no queue bound)."""
    follower = followers.Follower(entry.identity, entry.id, f"{entry.node_name} (journal entry {entry.id})")
    follower.kind = "reconcile"
    follower.background = not bounded
    start = time.time() if bounded else None
    follower.start(lambda f: find_and_save(
        store, entry, FollowerRun(new_runner(), f, TimeLimits(total=limits.total).start(), frames_to),
        bound_from=start))
    return follower


def reconcile_in_background(entry_ids: list[int], after: followers.Follower | None = None) -> threading.Thread | None:
    """Reconcile these entries in a daemon thread with its own loop (ComfyUI never waits for it),
    once ``after`` (the follower that lost the answer) has ended."""
    if not entry_ids:
        return None
    thread = threading.Thread(target=lambda: asyncio.run(_all(entry_ids, after)), name="luma-fal-reconcile",
                              daemon=True)
    thread.start()
    return thread


async def _all(entry_ids: list[int], after: followers.Follower | None) -> None:
    for _ in range(600):
        if after is None or (after.future.done() and followers.active(after.identity) is not after):
            break
        await asyncio.sleep(0.05)
    store = journal()
    mine: list[followers.Follower] = []
    for entry_id in entry_ids:
        entry = store.get(entry_id)
        if entry is None or entry.state != states.UNKNOWN_SUBMIT:
            continue
        with followers.registry() as active:
            if entry.identity in active:
                continue  # a node of this process is already looking (or following)
            if entry.owner != owner_token() and not store.claim(entry.id, entry.owner, owner_token()):
                continue
            follower = start_finding(store, store.get(entry.id) or entry, TimeLimits(total=DEFAULT_TOTAL_TIME_S),
                                     bounded=False)
            active[entry.identity] = follower
        mine.append(follower)
    for follower in mine:
        try:
            outcome = await follower.wait(None, None)
        except (NotAcceptedAtFal, StillUnknown) as exc:
            log.warning("comfyui-luma-fal: %s: %s", follower.description, exc)
        except Exception as exc:
            log.warning("comfyui-luma-fal: %s could not be recovered: %s", follower.description, exc)
        else:
            saved = ", ".join(str(p) for paths in outcome.files.values() for p in paths)
            log.info("comfyui-luma-fal: request %s (%s) recovered from fal's records and saved: %s",
                     outcome.request_id, follower.description, saved)


async def find_lost_submit(recorder: RunRecorder, run: FollowerRun, lost: Exception) -> Generated:
    """fal's answer to the submit never arrived: look for the request in fal's records within the node's
    own limits (``run.deadline``); past them the search goes on in the background and the node says so."""
    text = str(lost) or type(lost).__name__
    if run.deadline.expired():
        reconcile_in_background([recorder.entry.id], after=run.follower)
        raise type(lost)(f"{text}\nThe pack is looking for it in fal's request records in the background; "
                         "once found it is saved and shown in the fal inbox.") from lost
    try:
        return await find_and_save(recorder.store, recorder.entry, run, within_deadline=True,
                                   bound_from=reconcile.submitted_around(recorder.entry))
    except StillUnknown as why:
        entry = recorder.store.get(recorder.entry.id) or recorder.entry
        refused = (entry.fal_records or {}).get("verdict") == "refused"
        if not refused:
            reconcile_in_background([entry.id], after=run.follower)
        if refused:
            hint = f"\n{refused_hint(str(why))}"
        elif isinstance(why, StillLooking):
            hint = f"\n{still_looking_text(entry, why.wait)}"
        else:
            hint = f"\nStill looking in fal's records in the background ({why}); once found it is saved and " \
                   "shown in the fal inbox."
        raise type(lost)(f"{text}{hint}") from lost
