"""The journal as the glue uses it: one store per process, who owns an entry, and a run's recorder.

The store lives next to the pack's other state, ``<user folder>/comfyui-luma-fal/journal.sqlite3``
(``LUMA_FAL_JOURNAL_URL`` overrides it). A run's ``RunRecorder`` turns what happens to a request
into journal states; a failed journal write is logged and never breaks a paid run.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import threading
import time
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

from ...fal.errors import (
    DownloadFailed,
    FalError,
    RequestCancelled,
    ResultExpired,
    RunTimeout,
    SubmitOutcomeUnknown,
)
from ...journal import states
from ...journal.config import journal_url, open_journal, retention_days
from ...journal.store import JournalEntry, JournalStore
from ...version import PACK_VERSION
from .. import host

log = logging.getLogger(__name__)

WORKER_NAME_ENV = "LUMA_FAL_WORKER_NAME"
LEASE_ENV = "LUMA_FAL_WORKER_LEASE_S"
DEFAULT_LEASE_S = 60.0

_store: JournalStore | None = None
_store_lock = threading.Lock()


def journal() -> JournalStore:
    """This process's journal, opened (and pruned, and mended if damaged) on first use."""
    global _store
    with _store_lock:
        if _store is None:
            folder = host.user_directory() / "comfyui-luma-fal"
            _store = open_journal(journal_url(folder), prune_days=retention_days())
        return _store


# -- who is working on an entry -----------------------------------------------------------------

def _start_ticks(pid: int) -> str:
    """The process's start time in clock ticks (Linux), so a recycled pid is not mistaken for it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[1].split()[19]


def worker_name() -> str:
    """This machine's name in owner tokens: ``LUMA_FAL_WORKER_NAME`` (a fleet's worker names), else the host name."""
    return os.environ.get(WORKER_NAME_ENV, "").strip().replace("/", "-") or socket.gethostname()


@lru_cache(maxsize=1)
def owner_token() -> str:
    return f"{worker_name()}/{os.getpid()}/{_start_ticks(os.getpid())}"


def owner_alive(token: str) -> bool:
    """Whether the process that wrote ``token`` still runs: on this machine, by its pid; on another, by its
    heartbeat in the shared journal (none for longer than the lease: gone). A worker with no heartbeat on
    record (a pack version that writes none) counts as alive."""
    match = re.fullmatch(r"(.*)/(\d+)/(\d*)", token or "")
    if not match:
        return False
    hostname, pid, ticks = match.group(1), int(match.group(2)), match.group(3)
    if hostname != worker_name():
        seen = heartbeats().get(token)
        return seen is None or time.time() - seen <= lease_seconds()
    if ticks and Path("/proc").is_dir():
        return _start_ticks(pid) == ticks
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def lease_seconds() -> float:
    """How long a worker may go without a heartbeat before its in-flight requests are taken over
    (``LUMA_FAL_WORKER_LEASE_S``, default 60 s; a worker beats every quarter of it)."""
    raw = os.environ.get(LEASE_ENV, "").strip()
    try:
        return max(0.5, float(raw)) if raw else DEFAULT_LEASE_S
    except ValueError:
        log.warning("comfyui-luma-fal: %s=%r is not a number of seconds; using %g", LEASE_ENV, raw, DEFAULT_LEASE_S)
        return DEFAULT_LEASE_S


_beats: tuple[float, dict[str, float]] = (0.0, {})


def heartbeats() -> dict[str, float]:
    """Every worker's last heartbeat (owner token -> UNIX time), read at most once per beat interval."""
    global _beats
    read_at, beats = _beats
    if time.monotonic() - read_at > lease_seconds() / 4:
        try:
            beats = journal().workers()
        except Exception:  # unreachable journal: judge by what was last read
            log.debug("could not read the workers' heartbeats", exc_info=True)
        _beats = (time.monotonic(), beats)
    return beats


def beat() -> None:
    """This worker's heartbeat (the recovery thread calls it every quarter lease)."""
    journal().beat(owner_token(), {"pid": os.getpid(), "worker": worker_name(), "pack": PACK_VERSION})


def held_text(request_id: str | None, count: int) -> str:
    """What a node says while its state changes wait in memory for the journal database."""
    if request_id:
        return (f"journal database unreachable: keeping request id {request_id} in memory, will write it "
                "when it is back")
    return f"journal database unreachable: keeping {count} state change(s) in memory, will write them when it is back"


# -- a run's states -----------------------------------------------------------------------------

class RunRecorder:
    """Writes one request's progress into its journal entry."""

    def __init__(self, store: JournalStore, entry: JournalEntry) -> None:
        self.store = store
        self.entry = entry
        self._started = time.time()
        # Told (note text, or None when written again) while the store keeps this run's changes in memory.
        self.on_held: Callable[[str | None], None] | None = None
        self._held = 0

    @property
    def state(self) -> str:
        return self.entry.state

    def set(self, state: str | None = None, note: str | None = None, **fields: Any) -> None:
        try:
            self.entry = self.store.update(self.entry.id, state=state, note=note, **fields)
        except Exception:
            log.exception("comfyui-luma-fal: could not write the journal (entry %s, %s)", self.entry.id, state)
        self._tell_held()

    def _tell_held(self) -> None:
        # A shared journal (PostgreSQL) that cannot be reached keeps state changes in memory: the node says so.
        held = int(getattr(self.store, "pending_writes", 0) or 0)
        if bool(held) != bool(self._held) and self.on_held is not None:
            try:
                self.on_held(held_text(self.entry.request_id, held) if held else None)
            except Exception:  # a broken display must not break the run
                log.debug("could not show the journal's state on the node", exc_info=True)
        self._held = held

    def on_event(self, event: Any) -> None:
        """Progress events from the runner: the state changes they mean."""
        if event.phase == "submitting" and self.state == states.PREPARING:
            # When it was sent: if fal's answer is lost, fal's records are searched from this time, however
            # long after it ComfyUI restarts (submitted() sets it again to when fal accepted it).
            self.set(states.SUBMITTING, "sending the request to fal", submitted_at=time.time())
        elif event.phase == "running" and self.state in (states.SUBMITTING, states.QUEUED):
            self.set(states.RUNNING)
        elif event.phase == "in_queue" and self.state == states.SUBMITTING:
            self.set(states.QUEUED, request_id=event.request_id)

    def uploaded(self, urls: dict[str, str]) -> None:
        inputs = {ph: {**info, "url": urls.get(ph)} for ph, info in self.entry.inputs.items()}
        self.set(note=f"{len(urls)} input file(s) uploaded", inputs=inputs)

    def submitted(self, handle: Any) -> None:
        """Runs synchronously right after fal answers the submit, before any waiting."""
        self.set(states.QUEUED, f"fal accepted it as request {handle.request_id}", request_id=handle.request_id,
                 submitted_at=time.time())

    def following(self) -> None:
        self.set(note=f"followed again by {owner_token()}", owner=owner_token())

    def completed(self, result: dict[str, Any], metrics: dict[str, Any],
                  billing: dict[str, Any] | None = None) -> None:
        """``billing``: what fal says it bills (``billing_records.units_billing``): ``billed_usd`` and the
        ``billing`` part of ``fal_records``."""
        timings = {**self.entry.timings, **{k: v for k, v in metrics.items() if isinstance(v, (int, float))}}
        extra: dict[str, Any] = {}
        if billing:
            if billing.get("billed_usd") is not None:
                extra["billed_usd"] = billing["billed_usd"]
            extra["fal_records"] = {**(self.entry.fal_records or {}), "billing": billing["billing"]}
        self.set(states.COMPLETED, "fal finished it; saving the result", result=result, timings=timings, **extra)

    def done_fields(self, files: dict[str, list[Path]], download_seconds: float) -> dict[str, Any]:
        """What ``saved`` will record: the receipt is written from them first, so "done" means it is on disk."""
        now = time.time()
        timings = {**self.entry.timings, "download_seconds": round(download_seconds, 3),
                   "this_process_seconds": round(now - self._started, 3)}
        return {"files": {k: [str(p) for p in v] for k, v in files.items()}, "timings": timings, "finished_at": now}

    def saved(self, done: dict[str, Any]) -> None:
        self.set(states.DONE, "files saved", **done)

    def failed(self, exc: BaseException) -> None:
        """The state an error leaves the request in. Anything fal may still hold stays followable."""
        text = str(exc) or type(exc).__name__
        if not self.entry.request_id and getattr(exc, "request_id", None):
            self.set(note="fal named the request in its answer", request_id=exc.request_id)  # type: ignore[attr-defined]
        has_id = bool(self.entry.request_id)
        submitting_without_id = self.state == states.SUBMITTING and not has_id
        # While submitting, only a definite answer from fal (a refusal) tells us nothing was accepted.
        unsure = not isinstance(exc, FalError) or isinstance(exc, (RequestCancelled, RunTimeout))
        if isinstance(exc, SubmitOutcomeUnknown) or (submitting_without_id and unsure):
            self.set(states.UNKNOWN_SUBMIT, text, message=text)
        elif submitting_without_id:
            self.set(states.FAILED, text, message=text)
        elif self.state == states.PREPARING:
            self.set(states.NOT_SUBMITTED, text, message=text)
        elif isinstance(exc, ResultExpired):
            self.set(states.EXPIRED, text, message=text)
        elif self.state == states.COMPLETED or isinstance(exc, DownloadFailed):
            self.set(note=f"not saved yet: {text}", message=text)  # fal holds the result: re-queue saves it
        elif isinstance(exc, RequestCancelled):
            self.set(states.CANCELLED, text, message=text)
        elif isinstance(exc, FalError):
            self.set(states.FAILED, text, message=text)
        else:
            # Interrupted here (process stopping, task cancelled): fal still has it; it can be followed again.
            self.set(note=f"stopped following: {type(exc).__name__}", message=text)
