"""Cooperative stopping: ComfyUI's interrupt is a flag, not a task cancel, so we poll it.

``should_stop`` is any zero-argument callable (e.g. a check of ComfyUI's interrupt flag). These
helpers check it every ``STOP_TICK`` seconds (well under the promised 250 ms) while waiting.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from .errors import StopRequested

ShouldStop = Callable[[], bool]
T = TypeVar("T")

STOP_TICK = 0.1


def check_stop(should_stop: ShouldStop | None) -> None:
    if should_stop is not None and should_stop():
        raise StopRequested()


async def sleep(seconds: float, should_stop: ShouldStop | None = None) -> None:
    """asyncio.sleep that raises StopRequested within one tick of ``should_stop()`` turning true."""
    deadline = time.monotonic() + max(0.0, seconds)
    while True:
        check_stop(should_stop)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        await asyncio.sleep(min(STOP_TICK, remaining))


async def run_stoppable(awaitable: Awaitable[T], should_stop: ShouldStop | None) -> T:
    """Await ``awaitable``; if ``should_stop()`` turns true first, cancel it and raise StopRequested.

    The inner task is always finished (cancelled and awaited) before this returns or raises, so no
    orphan task or half-used connection outlives the call.
    """
    if should_stop is None:
        return await awaitable
    if should_stop():
        if asyncio.iscoroutine(awaitable):
            awaitable.close()  # never started: close it so it is not reported as "never awaited"
        raise StopRequested()
    task = asyncio.ensure_future(awaitable)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=STOP_TICK)
            if done:
                return task.result()
            check_stop(should_stop)
    finally:
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
