"""At start-up, follow to the end the requests that were in flight when ComfyUI stopped.

Runs in a daemon thread with its own event loop, so ComfyUI's start never waits for it. For every
journaled request left behind by a process that is gone:

* fal had accepted it (queued, running, completed): follow it and save its result (within fal's
  retention), with a log line per request. A node queued meanwhile with the same inputs and seed
  joins this follower instead of paying again.
* it was being prepared (nothing sent): recorded as ``not_submitted``.
* it was being submitted and fal's answer never arrived: recorded as ``unknown_submit``, never re-sent,
  and looked for in fal's own request records (reconciling.py), as are the ``unknown_submit`` entries
  of the last day not settled yet.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any

from ..journal import states
from ..journal.store import JournalEntry
from . import followers
from .journaling import journal, owner_alive, owner_token

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
    try:
        store = journal()
        left = [e for e in store.in_flight() if e.owner != owner_token() and not owner_alive(e.owner)]
    except Exception:
        log.exception("comfyui-luma-fal: could not read the request journal; in-flight requests are not followed")
        return
    to_follow: list[JournalEntry] = []
    to_find = _doubtful_left_behind(store)
    for entry in left:
        if entry.state == states.PREPARING:
            store.update(entry.id, state=states.NOT_SUBMITTED, note="ComfyUI stopped before it was submitted")
        elif entry.state == states.SUBMITTING and not entry.request_id:
            store.update(entry.id, state=states.UNKNOWN_SUBMIT,
                         note="ComfyUI stopped while submitting, before fal's answer was recorded")
            log.warning("comfyui-luma-fal: %s (journal entry %d) was being submitted when ComfyUI stopped; fal may "
                        "or may not have it. It is not sent again; looking for it in fal's request records",
                        entry.node_name, entry.id)
            to_find.append(entry.id)
        elif entry.request_id:
            to_follow.append(entry)
    if to_find:
        _find_in_background(to_find)
    if to_follow:
        log.info("comfyui-luma-fal: %d request(s) were in flight when ComfyUI stopped; following them in the "
                 "background", len(to_follow))
        asyncio.run(_follow_all(to_follow))


def _doubtful_left_behind(store: Any) -> list[int]:
    """Entries whose submit answer was lost, not yet settled by fal's records, from the last day."""
    since = time.time() - 86400
    return [e.id for e in store.list_entries(limit=200, states=[states.UNKNOWN_SUBMIT])
            if e.updated_at >= since and (e.owner == owner_token() or not owner_alive(e.owner))]


def _find_in_background(entry_ids: list[int]) -> None:
    from ..fal.errors import MissingKeyError
    from .fal_bridge import check_key
    from .reconciling import reconcile_in_background

    try:
        check_key()
    except MissingKeyError:
        log.warning("comfyui-luma-fal: no fal key, so %d submit(s) in doubt are not looked up now",
                    len(entry_ids))
        return
    log.info("comfyui-luma-fal: looking for %d submit(s) whose answer was lost in fal's request records",
             len(entry_ids))
    reconcile_in_background(entry_ids)


async def _follow_all(entries: list[JournalEntry]) -> None:
    from ..fal.errors import MissingKeyError
    from .fal_bridge import check_key
    from .runs import start_following
    from .schema import DEFAULT_TOTAL_TIME_S

    try:
        check_key()
    except MissingKeyError:
        log.warning("comfyui-luma-fal: no fal key, so %d in-flight request(s) are not followed now; queue the "
                    "same workflow once a key is set", len(entries))
        return
    store = journal()
    mine: list[tuple[JournalEntry, followers.Follower]] = []
    for entry in entries:
        with followers.registry() as active:
            if entry.identity in active or not store.claim(entry.id, entry.owner, owner_token()):
                continue  # a node of this process, or another process, got to it first
            follower = start_following(store, store.get(entry.id) or entry, None, DEFAULT_TOTAL_TIME_S)
            active[entry.identity] = follower
        log.info("comfyui-luma-fal: following request %s (%s, %s when ComfyUI stopped)", entry.request_id,
                 entry.node_name, entry.state)
        mine.append((entry, follower))
    for entry, follower in mine:
        try:
            outcome = await follower.wait(None, None)
        except Exception as exc:
            log.warning("comfyui-luma-fal: request %s (%s) could not be saved: %s", entry.request_id,
                        entry.node_name, exc)
        else:
            saved = ", ".join(str(p) for paths in outcome.files.values() for p in paths)
            log.info("comfyui-luma-fal: request %s (%s) saved after restart: %s", entry.request_id,
                     entry.node_name, saved)
