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
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..journal import states
from ..journal.store import JournalEntry, JournalStore
from . import host

log = logging.getLogger(__name__)

_store: JournalStore | None = None
_store_lock = threading.Lock()
PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def journal() -> JournalStore:
    """This process's journal, opened (and pruned, and mended if damaged) on first use."""
    global _store
    with _store_lock:
        if _store is None:
            from ..journal.config import journal_url, open_journal, retention_days

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


@lru_cache(maxsize=1)
def owner_token() -> str:
    return f"{socket.gethostname()}/{os.getpid()}/{_start_ticks(os.getpid())}"


def owner_alive(token: str) -> bool:
    """Whether the process that wrote ``token`` still runs. Another machine's process counts as alive."""
    match = re.fullmatch(r"(.*)/(\d+)/(\d*)", token or "")
    if not match:
        return False
    hostname, pid, ticks = match.group(1), int(match.group(2)), match.group(3)
    if hostname != socket.gethostname():
        return True
    if ticks and Path("/proc").is_dir():
        return _start_ticks(pid) == ticks
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@lru_cache(maxsize=1)
def pack_version() -> str:
    try:
        text = PYPROJECT.read_text(encoding="utf-8")
    except OSError:
        return "unknown"
    match = re.search(r'^version\s*=\s*"([^"]+)"', text, re.MULTILINE)
    return match.group(1) if match else "unknown"


# -- a run's states -----------------------------------------------------------------------------

class RunRecorder:
    """Writes one request's progress into its journal entry."""

    def __init__(self, store: JournalStore, entry: JournalEntry) -> None:
        self.store = store
        self.entry = entry
        self._started = time.time()

    @property
    def state(self) -> str:
        return self.entry.state

    def set(self, state: str | None = None, note: str | None = None, **fields: Any) -> None:
        try:
            self.entry = self.store.update(self.entry.id, state=state, note=note, **fields)
        except Exception:
            log.exception("comfyui-luma-fal: could not write the journal (entry %s, %s)", self.entry.id, state)

    def on_event(self, event: Any) -> None:
        """Progress events from the runner: the state changes they mean."""
        if event.phase == "submitting" and self.state == states.PREPARING:
            self.set(states.SUBMITTING, "sending the request to fal")
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

    def completed(self, result: dict[str, Any], metrics: dict[str, Any]) -> None:
        timings = {**self.entry.timings, **{k: v for k, v in metrics.items() if isinstance(v, (int, float))}}
        self.set(states.COMPLETED, "fal finished it; saving the result", result=result, timings=timings)

    def saved(self, files: dict[str, list[Path]], download_seconds: float) -> None:
        now = time.time()
        timings = {**self.entry.timings, "download_seconds": round(download_seconds, 3),
                   "this_process_seconds": round(now - self._started, 3)}
        self.set(states.DONE, "files saved", files={k: [str(p) for p in v] for k, v in files.items()},
                 timings=timings, finished_at=now)
        from .billing_records import bill_later

        bill_later(self.entry)  # what fal billed, in the background (never holds the run up)

    def failed(self, exc: BaseException) -> None:
        """The state an error leaves the request in. Anything fal may still hold stays followable."""
        from ..fal.errors import (
            DownloadFailed,
            FalError,
            RequestCancelled,
            ResultExpired,
            RunTimeout,
            SubmitOutcomeUnknown,
        )

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
