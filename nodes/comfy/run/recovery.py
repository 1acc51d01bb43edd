"""Follow to the end the requests whose worker is gone: at start-up, and then for as long as ComfyUI runs.

Runs in a daemon thread with its own event loop, so ComfyUI's start never waits for it. Every quarter of
the worker lease (``journaling.lease_seconds``) it beats (this worker's heartbeat in the journal), writes
what a journal outage kept in memory, and looks for journaled requests left behind by a process that is
gone (on this machine: its pid; in a fleet sharing one journal: no heartbeat for the lease):

* fal had accepted it (queued, running, completed): taken over by compare-and-set on its owner (exactly
  one worker of the fleet wins), followed and its result saved (within fal's retention), with a log line
  per request. A node queued meanwhile with the same inputs and seed joins this follower instead of paying.
* it was being prepared (nothing sent): recorded as ``not_submitted`` (its budget reservation is released).
* it was being submitted and fal's answer never arrived: recorded as ``unknown_submit``, never re-sent,
  and looked for in fal's own request records (``reconciling``), as are the ``unknown_submit`` entries of
  the last day not settled yet; it stays counted against the budget until fal's records settle it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time

from ...fal.deadline import TimeLimits
from ...fal.errors import MissingKeyError
from ...journal import reconcile, states
from ...journal.config import JournalSettingInvalid
from ...journal.store import JournalEntry, JournalStore
from . import followers
from ..host.journaling import beat, journal, lease_seconds, owner_alive, owner_token
from .decide import start_following
from .fal_bridge import check_key
from .limits import DEFAULT_TOTAL_TIME_S
from .reconciling import reconcile_in_background

log = logging.getLogger(__name__)

_started = False
_start_lock = threading.Lock()


def start_recovery_once() -> threading.Thread | None:
    """Start the recovery thread once per process; returns it (None when already started)."""
    global _started
    with _start_lock:
        if _started:
            return None
        _started = True
    thread = threading.Thread(target=_recover, name="luma-fal-journal-recovery", daemon=True)
    thread.start()
    return thread


def _recover() -> None:
    said = False
    while True:
        try:
            store = journal()
            break
        except JournalSettingInvalid as exc:  # a wrong URL, no driver, a server down at start: said, not a crash
            if not said:
                log.error("comfyui-luma-fal: %s", exc)
        except Exception:
            if not said:
                log.exception("comfyui-luma-fal: could not open the request journal; in-flight requests are not "
                              "followed until it opens")
        said = True
        time.sleep(max(5.0, lease_seconds() / 4))  # a database that was down at start-up may come back
    if said:
        log.info("comfyui-luma-fal: the request journal is open now")
    asyncio.run(_watch(store))


async def _watch(store: JournalStore) -> None:
    first = True
    followed: set[int] = set()
    reachable_since: float | None = time.monotonic()
    while True:
        try:
            beat()
            flush = getattr(store, "flush", None)
            if flush is not None:
                flush()
            if reachable_since is None:
                reachable_since = time.monotonic()
            # Back from an outage, every worker's heartbeat looks old: wait a lease for them to beat again.
            settled = first or time.monotonic() - reachable_since >= lease_seconds()
            left = [e for e in store.in_flight()
                    if settled and e.owner != owner_token() and e.id not in followed and not owner_alive(e.owner)]
        except Exception as exc:
            if reachable_since is not None:
                log.warning("comfyui-luma-fal: could not reach the request journal (%s); trying again every %g s",
                            exc, lease_seconds() / 4)
            reachable_since = None
            left = []
        if first:
            try:
                _find_in_background(_doubtful_left_behind(store))
            except Exception:  # the records lookup never stops the watch: the next start looks again
                log.exception("comfyui-luma-fal: could not start looking for submits in doubt in fal's records")
        if left:
            to_follow = _settle(store, left)
            if to_follow:
                log.info("comfyui-luma-fal: %d request(s) were in flight when %s stopped; following them in the "
                         "background", len(to_follow), "ComfyUI" if first else "their worker")
                for entry in await _take_over(store, to_follow):
                    followed.add(entry.id)
        first = False
        await asyncio.sleep(lease_seconds() / 4)


def _settle(store: JournalStore, left: list[JournalEntry]) -> list[JournalEntry]:
    """Record what requests that never reached fal became; returns those fal has, to follow."""
    to_follow: list[JournalEntry] = []
    to_find: list[int] = []
    for entry in left:
        if entry.state == states.PREPARING:
            if store.claim(entry.id, entry.owner, owner_token()):
                store.update(entry.id, state=states.NOT_SUBMITTED, note="ComfyUI stopped before it was submitted")
        elif entry.state == states.SUBMITTING and not entry.request_id:
            if store.claim(entry.id, entry.owner, owner_token()):
                store.update(entry.id, state=states.UNKNOWN_SUBMIT, submitted_at=reconcile.submitted_around(entry),
                             note="ComfyUI stopped while submitting, before fal's answer was recorded")
                log.warning("comfyui-luma-fal: %s (journal entry %d) was being submitted when ComfyUI stopped; fal "
                            "may or may not have it. It is not sent again; looking for it in fal's request records",
                            entry.node_name, entry.id)
                to_find.append(entry.id)
        elif entry.request_id:
            to_follow.append(entry)
    _find_in_background(to_find)
    return to_follow


def _doubtful_left_behind(store: JournalStore) -> list[int]:
    """Entries of the last day whose submit answer was lost and that fal's records have not settled yet:
    this worker's own, and those of a worker that is gone (claimed, so one worker of a fleet looks)."""
    since = time.time() - 86400
    mine: list[int] = []
    for entry in store.list_entries(limit=200, states=[states.UNKNOWN_SUBMIT]):
        if entry.updated_at < since:
            continue
        if entry.owner == owner_token() or (not owner_alive(entry.owner)
                                            and store.claim(entry.id, entry.owner, owner_token())):
            mine.append(entry.id)
    return mine


def _find_in_background(entry_ids: list[int]) -> None:
    if not entry_ids:
        return
    try:
        check_key()
    except MissingKeyError:
        log.warning("comfyui-luma-fal: no fal key, so %d submit(s) in doubt are not looked up now", len(entry_ids))
        return
    log.info("comfyui-luma-fal: looking for %d submit(s) whose answer was lost in fal's request records",
             len(entry_ids))
    reconcile_in_background(entry_ids)


async def _take_over(store: JournalStore, entries: list[JournalEntry]) -> list[JournalEntry]:
    """Claim and follow each entry (compare-and-set on its owner); returns those this worker took."""
    try:
        check_key()
    except MissingKeyError:
        log.warning("comfyui-luma-fal: no fal key, so %d in-flight request(s) are not followed now; queue the "
                    "same workflow once a key is set", len(entries))
        return []
    mine: list[JournalEntry] = []
    for entry in entries:
        with followers.registry() as active:
            if entry.identity in active or not store.claim(entry.id, entry.owner, owner_token()):
                continue  # a node of this process, or another worker, got to it first
            follower = start_following(store, store.get(entry.id) or entry, TimeLimits(total=DEFAULT_TOTAL_TIME_S))
            active[entry.identity] = follower
        log.info("comfyui-luma-fal: following request %s (%s, %s when its worker %s stopped)", entry.request_id,
                 entry.node_name, entry.state, entry.owner)
        mine.append(entry)
        asyncio.ensure_future(_report(entry, follower))
    return mine


async def _report(entry: JournalEntry, follower: followers.Follower) -> None:
    try:
        outcome = await follower.wait(None, None)
    except Exception as exc:
        log.warning("comfyui-luma-fal: request %s (%s) could not be saved: %s", entry.request_id, entry.node_name, exc)
    else:
        saved = ", ".join(str(p) for paths in outcome.files.values() for p in paths)
        log.info("comfyui-luma-fal: request %s (%s) saved after restart: %s", entry.request_id, entry.node_name, saved)
