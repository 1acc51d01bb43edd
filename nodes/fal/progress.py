"""What is known about a submitted request while it is followed, and the safe way to report it.

``Progress`` is updated from status reads and stream events and turns them into ``FalEvent``s at a
steady pace; ``Emitter`` hands those to the caller's callback without letting it break the run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from .events import EventCallback, FalEvent
from .queue import QueueState, RequestHandle, RequestStatus

log = logging.getLogger(__name__)


class Emitter:
    """Calls the caller's event callback; a broken progress display must not break a paid run."""

    def __init__(self, on_event: EventCallback | None) -> None:
        self._on_event = on_event

    def __call__(self, event: FalEvent) -> None:
        if self._on_event is None:
            return
        try:
            self._on_event(event)
        except Exception:
            log.exception("progress callback failed; continuing the run")


class Progress:
    """What we know about a submitted request, updated from status reads and stream events."""

    def __init__(self, handle: RequestHandle) -> None:
        self.handle = handle
        self.submitted_at = time.monotonic()
        self.started_at: float | None = None
        self.finished_at: float | None = None
        self.status = QueueState.IN_QUEUE
        self.queue_position: int | None = None
        self.fraction: float | None = None
        self.final: dict[str, Any] | None = None
        self._seen_logs: set[tuple[Any, Any]] = set()
        self._new_logs: list[str] = []
        self.last_log: str | None = None
        self._dirty = True
        self._last_emit = 0.0

    @property
    def was_running(self) -> bool:
        return self.started_at is not None

    def update(self, answer: Mapping[str, Any]) -> None:
        """Take in one status (``QueueClient.status``/``stream_status`` give them parsed)."""
        status = RequestStatus.parse(answer, "following the request", self.handle.request_id)
        now = time.monotonic()
        state = status.state
        if state is QueueState.IN_QUEUE:
            self.queue_position = status.queue_position if status.queue_position is not None else self.queue_position
        elif self.started_at is None:
            self.started_at = now
        if state is QueueState.COMPLETED:
            self.finished_at = now
            self.final = dict(status.answer)
        if status.fraction is not None:
            self.fraction = status.fraction
        for entry in status.logs:
            message = str(entry.get("message", "")).strip()
            key = (entry.get("timestamp"), message)
            if message and key not in self._seen_logs:
                self._seen_logs.add(key)
                self._new_logs.append(message)
                self.last_log = message
        if state != self.status:
            self.status = state
        self._dirty = True

    def queue_seconds(self, now: float) -> float:
        return (self.started_at or now) - self.submitted_at

    def run_seconds(self, now: float) -> float | None:
        return None if self.started_at is None else (self.finished_at or now) - self.started_at

    def event_if_due(self, now: float, every: float) -> FalEvent | None:
        if not self._dirty and now - self._last_emit < every:
            return None
        self._dirty = False
        self._last_emit = now
        logs, self._new_logs = tuple(self._new_logs), []
        phase = "in_queue" if self.status is QueueState.IN_QUEUE else "running"
        return FalEvent(
            phase,  # type: ignore[arg-type]
            request_id=self.handle.request_id,
            queue_position=self.queue_position if phase == "in_queue" else None,
            new_logs=logs,
            last_log=self.last_log,
            elapsed_in_queue=self.queue_seconds(now),
            elapsed_running=self.run_seconds(now),
            fraction=self.fraction,
        )
