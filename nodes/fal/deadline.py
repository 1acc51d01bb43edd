"""The time limits of a run: ``TimeLimits`` as the node's inputs set them, ``Deadline`` once the clock runs.

``TimeLimits`` is built once from a node's max_queue_wait and max_total_time and carried down whole. Its
``start()`` is the ``Deadline`` handed to the upload, the wait, the result read, every retry and every
download, so the total limit holds end to end (no retry starts or sleeps past it, and each attempt's network
timeouts are clipped to the time left), and the wait reads the queue bound from the same object.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx

from .errors import DeadlineReached


@dataclass(frozen=True)
class TimeLimits:
    """How long a run may take. ``queue_wait``: seconds a request may wait in fal's queue without starting (a
    request that never starts usually means no credit); ``total``: seconds for everything, uploads to the last
    byte. None: no bound."""

    queue_wait: float | None = None
    total: float | None = None

    def start(self) -> Deadline:
        """The clock of these limits, from now."""
        return Deadline(self.total, queue_wait=self.queue_wait)


class Deadline:
    """A point in ``time.monotonic()`` time, or none (no limit). ``limit`` is the original length in seconds;
    ``queue_wait`` the queue bound of the same ``TimeLimits`` (None: none)."""

    __slots__ = ("at", "limit", "queue_wait")

    def __init__(self, seconds: float | None, *, queue_wait: float | None = None) -> None:
        self.limit = seconds if seconds and seconds > 0 else None
        self.at = time.monotonic() + self.limit if self.limit is not None else None
        self.queue_wait = queue_wait if queue_wait and queue_wait > 0 else None

    @classmethod
    def none(cls) -> Deadline:
        return cls(None)

    def without_queue_wait(self) -> Deadline:
        """The same clock without the queue bound (for a request submitted long before it is followed)."""
        copy = Deadline(None)
        copy.at, copy.limit = self.at, self.limit
        return copy

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
