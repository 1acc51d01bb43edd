"""The one time limit of a run, shared by every phase after it starts.

A ``Deadline`` is made once (from the node's max_total_time) and handed to the upload, the wait, the
result read, every retry and every download, so the limit holds end to end: no retry starts or sleeps
past it, and each attempt's network timeouts are clipped to the time left.
"""

from __future__ import annotations

import time

import httpx

from .errors import DeadlineReached


class Deadline:
    """A point in ``time.monotonic()`` time, or none (no limit). ``limit`` is the original length in seconds."""

    __slots__ = ("at", "limit")

    def __init__(self, seconds: float | None) -> None:
        self.limit = seconds if seconds and seconds > 0 else None
        self.at = time.monotonic() + self.limit if self.limit is not None else None

    @classmethod
    def none(cls) -> Deadline:
        return cls(None)

    def __repr__(self) -> str:
        return f"Deadline(limit={self.limit}, remaining={self.remaining()})"

    def remaining(self) -> float | None:
        """Seconds left (never negative), or None without a limit."""
        return None if self.at is None else max(0.0, self.at - time.monotonic())

    def expired(self) -> bool:
        return self.at is not None and time.monotonic() >= self.at

    def check(self) -> None:
        """Raise ``DeadlineReached`` if the limit has passed."""
        if self.expired():
            raise DeadlineReached()

    def allows_wait(self, seconds: float) -> bool:
        """Whether waiting ``seconds`` (e.g. a retry's backoff) still ends before the limit."""
        left = self.remaining()
        return left is None or seconds < left

    def clip(self, timeout: httpx.Timeout) -> httpx.Timeout:
        """``timeout`` with each of its parts no longer than the time left."""
        left = self.remaining()
        if left is None:
            return timeout
        left = max(left, 0.001)  # httpx treats 0 as "no wait at all"; keep it a real (tiny) timeout

        def cut(value: float | None) -> float:
            return left if value is None else min(value, left)

        return httpx.Timeout(
            connect=cut(timeout.connect), read=cut(timeout.read), write=cut(timeout.write), pool=cut(timeout.pool)
        )
