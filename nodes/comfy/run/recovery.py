"""At start-up, follow to the end the requests that were in flight when ComfyUI stopped.

Runs in a daemon thread with its own event loop, so ComfyUI's start never waits for it. For every
journaled request left behind by a process that is gone:

* fal had accepted it (queued, running, completed): follow it and save its result (within fal's
  retention), with a log line per request. A node queued meanwhile with the same inputs and seed
  joins this follower instead of paying again.
* it was being prepared (nothing sent): recorded as ``not_submitted``.
* it was being submitted and fal's answer never arrived: recorded as ``unknown_submit`` and never
  re-sent (a re-queue says so and points to fal's dashboard).
"""

from __future__ import annotations

import asyncio
import logging
import threading

from ...journal import states
from ...journal.store import JournalEntry
from . import followers
from ..host.journaling import journal, owner_alive, owner_token

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
    for entry in left:
        if entry.state == states.PREPARING:
            store.update(entry.id, state=states.NOT_SUBMITTED, note="ComfyUI stopped before it was submitted")
        elif entry.state == states.SUBMITTING and not entry.request_id:
            store.update(entry.id, state=states.UNKNOWN_SUBMIT,
                         note="ComfyUI stopped while submitting, before fal's answer was recorded")
            log.warning("comfyui-luma-fal: %s (journal entry %d) was being submitted when ComfyUI stopped; fal may "
                        "or may not have it. It is not sent again: check https://fal.ai/dashboard/requests",
                        entry.node_name, entry.id)
        elif entry.request_id:
            to_follow.append(entry)
    if to_follow:
        log.info("comfyui-luma-fal: %d request(s) were in flight when ComfyUI stopped; following them in the "
                 "background", len(to_follow))
        asyncio.run(_follow_all(to_follow))


async def _follow_all(entries: list[JournalEntry]) -> None:
    from ...fal.errors import MissingKeyError
    from .fal_bridge import check_key
    from .decide import start_following
    from ..node_types.schema import DEFAULT_TOTAL_TIME_S

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
