"""Progress events of a fal run: plain data the glue can show however it likes.

Standard library only. ``FalEvent.text()`` gives the one-line summary used as the node's status text.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

Phase = Literal[
    "waiting_for_slot", "uploading", "submitting", "in_queue", "running", "downloading", "completed",
    "reconciling",
]

_MB = 1024 * 1024


@dataclass(frozen=True)
class FalEvent:
    phase: Phase
    request_id: str | None = None
    queue_position: int | None = None
    # Log lines that arrived since the previous event (not the whole history).
    new_logs: tuple[str, ...] = ()
    last_log: str | None = None
    elapsed_in_queue: float | None = None
    elapsed_running: float | None = None
    fraction: float | None = None
    bytes_done: int | None = None
    bytes_total: int | None = None
    uploads_done: int | None = None
    uploads_total: int | None = None

    def text(self) -> str:
        """One line for a status display, e.g. "In queue, position 3 · 4 s"."""
        parts: list[str]
        if self.phase == "waiting_for_slot":
            parts = ["Waiting for a free slot (other fal requests are running)"]
        elif self.phase == "uploading":
            parts = ["Uploading"]
            if self.uploads_total:
                parts[0] += f" {self.uploads_done or 0}/{self.uploads_total}"
            if self.bytes_total:
                parts.append(f"{_mb(self.bytes_done or 0)} of {_mb(self.bytes_total)} MB")
        elif self.phase == "submitting":
            parts = ["Submitting to fal"]
        elif self.phase == "in_queue":
            head = "In queue"
            if self.queue_position is not None:
                head += f", position {self.queue_position}"
            parts = [head, _seconds(self.elapsed_in_queue)]
        elif self.phase == "running":
            head = "Running"
            if self.fraction is not None:
                head += f" {round(self.fraction * 100)}%"
            parts = [head, _seconds(self.elapsed_running)]
            if self.last_log:
                parts.append(self.last_log)
        elif self.phase == "reconciling":  # the submit's answer was lost: reading fal's request records
            parts = ["Looking for the request at fal", _seconds(self.elapsed_in_queue)]
            if self.last_log:
                parts.append(self.last_log)
        elif self.phase == "downloading":
            if self.bytes_total:
                parts = [f"Downloading {_mb(self.bytes_done or 0)} of {_mb(self.bytes_total)} MB"]
            else:
                parts = [f"Downloading {_mb(self.bytes_done or 0)} MB"]
        else:
            parts = ["Completed"]
            if self.elapsed_running is not None:
                parts.append(f"ran {_seconds(self.elapsed_running)}")
        return " · ".join(p for p in parts if p)


EventCallback = Callable[[FalEvent], None]


def _seconds(value: float | None) -> str:
    if value is None:
        return ""
    total = int(value)
    if total < 60:
        return f"{total} s"
    minutes, secs = divmod(total, 60)
    return f"{minutes} min {secs:02d} s"


def _mb(n: int) -> str:
    return f"{n / _MB:.1f}"
