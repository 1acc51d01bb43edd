"""A node's status line while the shared journal keeps its state changes in memory.

The PostgreSQL journal keeps a request's state changes in memory while the database is unreachable
and writes them when it is back (``PostgresJournal.pending_writes``). The journal knows nothing of
nodes: the run's recorder (``host.journaling.RunRecorder``) sees the count and calls ``held``; this wrapper of the follower's ``emit``
adds the note to every status event it passes on, so the node says it for as long as it lasts.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from ...fal.events import FalEvent


class _Noted:
    """An event whose one-line text ends with the journal note; everything else is the event's own."""

    def __init__(self, event: Any, note: str) -> None:
        self._event = event
        self._note = note

    def __getattr__(self, name: str) -> Any:
        return getattr(self._event, name)

    def text(self) -> str:
        return f"{self._event.text()} · {self._note}"


class NotingEmit:
    """``follower.emit`` with the journal note (if any) on each event; ``held`` sets or clears it."""

    def __init__(self, emit: Callable[[Any], None]) -> None:
        self._emit = emit
        self._last: Any = None
        self.note: str | None = None

    def __call__(self, event: Any) -> None:
        self._last = event
        self._emit(_Noted(event, self.note) if self.note else event)

    def held(self, note: str | None) -> None:
        """Show (or, with None, clear) the note now, on the last status shown (its log lines not again)."""
        self.note = note
        last = self._last if self._last is not None else FalEvent("in_queue")
        if isinstance(last, FalEvent):
            last = dataclasses.replace(last, new_logs=())
        self(last)
