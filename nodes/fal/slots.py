"""How many fal requests may be in flight at once: a per-event-loop limiter whose size can change live.

The size comes from ``LUMA_FAL_MAX_CONCURRENT`` (default 8, config.DEFAULT_MAX_CONCURRENT) until ``set_max_concurrent`` sets it; a
request that must wait says so through its ``on_waiting`` callback, and a stop while waiting sends
nothing to fal.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from .config import max_concurrent_from_env
from .errors import RequestCancelled, StopRequested
from .stopping import STOP_TICK, ShouldStop, check_stop

_max_concurrent: int | None = None


def max_concurrent() -> int:
    return _max_concurrent if _max_concurrent is not None else max_concurrent_from_env()


def set_max_concurrent(n: int | None) -> None:
    """Change the cap at run time (None: back to the environment's value); waiting requests re-check it at once."""
    global _max_concurrent
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise ValueError(f"the number of concurrent fal requests must be a whole number >= 1, got {n!r}")
    _max_concurrent = n
    for loop, slots in list(_slots_by_loop.items()):
        if not loop.is_closed():
            loop.call_soon_threadsafe(slots.wake)


class _Slots:
    """A counting limiter whose capacity is read on every acquire, so it can change at run time."""

    def __init__(self) -> None:
        self.in_use = 0
        self._waiters: set[asyncio.Future[None]] = set()

    async def acquire(self, should_stop: ShouldStop | None) -> None:
        loop = asyncio.get_running_loop()
        while self.in_use >= max_concurrent():
            check_stop(should_stop)
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiters.add(waiter)
            try:
                await asyncio.wait({waiter}, timeout=STOP_TICK)
            finally:
                self._waiters.discard(waiter)
                if not waiter.done():
                    waiter.cancel()
        # No await between the capacity check and the increment: the pair is atomic on the loop.
        self.in_use += 1

    def release(self) -> None:
        self.in_use -= 1
        self.wake()

    def wake(self) -> None:
        for waiter in list(self._waiters):
            if not waiter.done():
                waiter.set_result(None)


_slots_by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Slots] = weakref.WeakKeyDictionary()


def _slots() -> _Slots:
    loop = asyncio.get_running_loop()
    slots = _slots_by_loop.get(loop)
    if slots is None:
        slots = _slots_by_loop[loop] = _Slots()
    return slots


def in_flight() -> int:
    """Requests holding a slot on the current event loop."""
    return _slots().in_use


@asynccontextmanager
async def request_slot(should_stop: ShouldStop | None, on_waiting: Callable[[], None]) -> AsyncIterator[None]:
    """Hold one of the slots for the body of the ``async with``; ``on_waiting`` runs if none is free."""
    slots = _slots()
    if slots.in_use >= max_concurrent():
        on_waiting()
    try:
        await slots.acquire(should_stop)
    except StopRequested:
        raise RequestCancelled(
            "Stopped while waiting for a free slot: nothing was sent to fal, so nothing is billed.",
            was_running=False,
        ) from None
    try:
        yield
    finally:
        slots.release()
