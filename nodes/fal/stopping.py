"""Cooperative stopping: ComfyUI's interrupt is a flag, not a task cancel, so we poll it.

``should_stop`` is any zero-argument callable (e.g. a check of ComfyUI's interrupt flag). These
helpers check it every ``STOP_TICK`` seconds (well under the promised 250 ms) while waiting. They also
watch the run's ``Deadline`` the same way, so the time limit holds in every phase.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

from .errors import DeadlineReached, StopRequested

if TYPE_CHECKING:
    from .deadline import Deadline

ShouldStop = Callable[[], bool]
T = TypeVar("T")

STOP_TICK = 0.1


def check_stop(should_stop: ShouldStop | None, deadline: Deadline | None = None) -> None:
    if should_stop is not None and should_stop():
        raise StopRequested()
    if deadline is not None:
        deadline.check()


async def sleep(seconds: float, should_stop: ShouldStop | None = None, deadline: Deadline | None = None) -> None:
    """asyncio.sleep that raises StopRequested within one tick of ``should_stop()`` turning true.

    A wait that would end after ``deadline`` raises DeadlineReached at once: a retry that could only
    start after the limit is not worth waiting for.
    """
    if deadline is not None and not deadline.allows_wait(seconds):
        raise DeadlineReached()
    until = time.monotonic() + max(0.0, seconds)
    while True:
        check_stop(should_stop)
        remaining = until - time.monotonic()
        if remaining <= 0:
            return
        await asyncio.sleep(min(STOP_TICK, remaining))


async def run_stoppable(
    awaitable: Awaitable[T], should_stop: ShouldStop | None, deadline: Deadline | None = None
) -> T:
    """Await ``awaitable``; if ``should_stop()`` turns true first, cancel it and raise StopRequested,
    and if ``deadline`` passes first, cancel it and raise DeadlineReached.

    The inner task is always finished (cancelled and awaited) before this returns or raises, so no
    orphan task or half-used connection outlives the call.
    """
    if should_stop is None and (deadline is None or deadline.at is None):
        return await awaitable
    try:
        check_stop(should_stop, deadline)
    except BaseException:
        if asyncio.iscoroutine(awaitable):
            awaitable.close()  # never started: close it so it is not reported as "never awaited"
        raise
    task = asyncio.ensure_future(awaitable)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=STOP_TICK)
            if done:
                return task.result()
            check_stop(should_stop, deadline)
    finally:
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
