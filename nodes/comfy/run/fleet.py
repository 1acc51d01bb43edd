"""A request another live worker of the fleet owns: followed without paying and without writing its entry.

When the journal is shared (PostgreSQL, or one SQLite file in a user folder two ComfyUIs share), a node
whose identity another live worker is already sending or following does not submit. It waits for that
worker's submit to be recorded (its node says so), then follows the request at fal itself (live status,
its own Cancel stops only its own wait), and takes the files: the owner's own, when they are saved inside
this worker's output folder (a shared output location), else downloaded once more from the result URL
into this worker's output folder. The owner's journal entry is never written by the watcher; the watcher
only takes the entry over (``recovery``) when the owner stops beating.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from pathlib import Path
from typing import Any

from ...fal.deadline import TimeLimits
from ...fal.events import FalEvent
from ...journal import states
from ...journal.store import JournalEntry, JournalStore
from . import followers
from .. import host
from ..host.journaling import RunRecorder, owner_alive
from .fal_bridge import call_all, new_runner
from .fetching import FollowerRun, StreamConsumer
from .saving import Generated, save_result

log = logging.getLogger(__name__)

POLL_S = 0.3
OWNER_SAVE_WAIT_S = 60.0  # after fal finished: how long to wait for the owner's saved files before downloading


class WorkerNotice(Exception):
    """The owning worker ended the request without a result (failed, cancelled, stopped mid-submit)."""


@dataclasses.dataclass(frozen=True)
class FleetEvent(FalEvent):
    """A status line about another worker's request (``text()`` is the note)."""

    note: str = ""

    def text(self) -> str:
        return self.note


class WatchRecorder(RunRecorder):
    """A recorder that writes nothing: the entry belongs to the worker that owns it."""

    def set(self, state: str | None = None, note: str | None = None, **fields: Any) -> None:
        self.entry = dataclasses.replace(self.entry, state=state or self.entry.state, **fields)


def shared_files(entry: JournalEntry) -> dict[str, list[Path]] | None:
    """The owner's saved files, when every one is readable inside this worker's output folder."""
    files = {name: [Path(p) for p in paths] for name, paths in entry.files.items()}
    paths = [p for group in files.values() for p in group]
    ok = paths and _inside_output(entry) and all(p.is_file() and p.stat().st_size > 0 for p in paths)
    return files if ok else None


def _inside_output(entry: JournalEntry) -> bool:
    folder = host.output_directory().resolve()
    return all(Path(p).resolve().is_relative_to(folder) for paths in entry.files.values() for p in paths)


def watch(store: JournalStore, entry: JournalEntry, limits: TimeLimits,
          frames_to: StreamConsumer | None = None) -> followers.Follower:
    """A follower (started on the running loop) of a request another live worker owns. The caller registers it.
    ``frames_to``: the node that decodes the video as it downloads, when it is downloaded here."""
    follower = followers.Follower(entry.identity, entry.id, f"{entry.node_name} (worker {entry.owner}'s request)")
    follower.start(lambda f: _watch(store, entry, f, limits, frames_to))
    return follower


async def _watch(store: JournalStore, entry: JournalEntry, follower: followers.Follower, limits: TimeLimits,
                 frames_to: StreamConsumer | None) -> Generated:
    entry = await _until_submitted(store, entry, follower)
    if entry.state == states.DONE and (files := shared_files(entry)) is not None:
        return Generated(entry.endpoint_id, str(entry.request_id), entry.result or {}, files)
    log.info("luma-fal: %s: same inputs and seed as request %s of worker %s; following it (not billed again)",
             entry.node_name, entry.request_id, entry.owner)
    run = FollowerRun(new_runner(), follower, limits.start(), frames_to)  # the clock starts once it is at fal
    recorder = WatchRecorder(store, entry)
    result = entry.result
    if result is None:
        completed = await run.runner.follow(entry.endpoint_id, str(entry.request_id), on_event=call_all(follower.emit),
                                            should_stop=follower.should_stop, deadline=run.deadline)
        result = completed.result
    owner_done = await _owner_saved(store, entry.id, follower)
    if owner_done is not None:
        return Generated(entry.endpoint_id, str(entry.request_id), owner_done.result or result,
                         shared_files(owner_done) or {})
    recorder.set(states.COMPLETED, result=result)
    return await save_result(run, recorder, result, fresh_names=True)


async def _until_submitted(store: JournalStore, entry: JournalEntry, follower: followers.Follower) -> JournalEntry:
    """The entry once its owner recorded fal's request id (or saved it); raises if the owner ended it otherwise."""
    started = time.monotonic()
    while not entry.request_id and entry.state in (states.PREPARING, states.SUBMITTING):
        if follower.should_stop():
            raise WorkerNotice(f"{entry.node_name}: stopped waiting for worker {entry.owner}'s submit")
        if not owner_alive(entry.owner):
            raise WorkerNotice(f"{entry.node_name}: worker {entry.owner}, which was sending this same request, "
                               "stopped before fal's answer was recorded; it is not sent twice. Run again in a "
                               "moment: the request is then recorded as not sent (and runs) or in doubt (and is "
                               "not re-sent).")
        follower.emit(FleetEvent("submitting", note=f"Worker {entry.owner} is sending this same request "
                                                    f"· {time.monotonic() - started:.0f} s"))
        await asyncio.sleep(POLL_S)
        entry = await asyncio.to_thread(store.get, entry.id) or entry
    if entry.state in states.FINAL and entry.state != states.DONE:
        raise WorkerNotice(f"{entry.node_name}: worker {entry.owner} ran this same request and it ended "
                           f"{entry.state}" + (f": {entry.message}" if entry.message else ""))
    return entry


async def _owner_saved(store: JournalStore, entry_id: int, follower: followers.Follower) -> JournalEntry | None:
    """The entry once the owner saved its files into a folder this worker shares; None when it will not."""
    deadline = time.monotonic() + OWNER_SAVE_WAIT_S
    while time.monotonic() < deadline and not follower.should_stop():
        entry = await asyncio.to_thread(store.get, entry_id)
        if entry is None or not owner_alive(entry.owner):
            return None
        if entry.state == states.DONE:
            return entry if shared_files(entry) is not None else None
        if entry.files and not _inside_output(entry):
            return None  # its names are reserved in a folder this worker does not have: download here
        if entry.state not in states.FOLLOWABLE:
            return None
        follower.emit(FleetEvent("downloading", note=f"Worker {entry.owner} is saving the result"))
        await asyncio.sleep(POLL_S)
    return None
