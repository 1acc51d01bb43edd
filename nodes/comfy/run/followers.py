"""One follower per paid request in this process, shared by everyone who waits for it.

A node that finds its request already being followed (by the start-up recovery, or by another node
of the same inputs) waits for that follower's outcome instead of starting a second wait and a second
download. Followers run on whichever event loop started them (a prompt's loop, or the recovery
thread's); waiting works from any loop or thread. A waiter's Cancel cancels the follower, which
cancels at fal, and every waiter then sees that outcome.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

from ...journal.reconcile import LostWait

log = logging.getLogger(__name__)

_WAIT_TICK = 0.1  # how often a waiter checks its Cancel and the follower's outcome


class Follower:
    def __init__(self, identity: str, entry_id: int, description: str) -> None:
        self.identity = identity
        self.entry_id = entry_id
        self.description = description
        self.kind = "request"  # "reconcile": looking for a lost submit in fal's records (reconciling.py)
        self.background = False  # a search that goes on after the node that lost the answer stopped waiting
        self.lost_wait: LostWait | None = None  # reconcile: how long a node waits for it, and why
        self.future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self._stop = threading.Event()
        self._listeners: list[tuple[asyncio.AbstractEventLoop, Callable[[Any], None]]] = []
        self._lock = threading.Lock()
        self._task: asyncio.Task[None] | None = None

    # -- for the work -----------------------------------------------------------------------------

    def should_stop(self) -> bool:
        return self._stop.is_set()

    def emit(self, event: Any) -> None:
        """Hand a progress event to every waiter, on the waiter's own loop."""
        with self._lock:
            listeners = list(self._listeners)
        try:
            current = asyncio.get_running_loop()
        except RuntimeError:
            current = None
        for loop, callback in listeners:
            try:
                if loop is current:
                    callback(event)
                else:
                    loop.call_soon_threadsafe(callback, event)
            except Exception:  # a closed loop or a broken display must not break the run
                log.debug("could not pass a progress event on", exc_info=True)

    def start(self, work: Callable[[Follower], Awaitable[Any]]) -> None:
        """Run ``work(self)`` as a task on the running loop; its outcome resolves ``future``."""
        self._task = asyncio.ensure_future(self._run(work))

    async def _run(self, work: Callable[[Follower], Awaitable[Any]]) -> None:
        try:
            outcome = await work(self)
        except BaseException as exc:
            self.future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
        else:
            self.future.set_result(outcome)
        finally:
            _forget(self)

    # -- for waiters ------------------------------------------------------------------------------

    def cancel(self) -> None:
        self._stop.set()

    async def wait(self, listener: Callable[[Any], None] | None, should_stop: Callable[[], bool] | None) -> Any:
        """The follower's outcome (or its exception). ``should_stop()`` turning true cancels it."""
        entry = (asyncio.get_running_loop(), listener) if listener is not None else None
        if entry:
            with self._lock:
                self._listeners.append(entry)
        # Not wrapped (cancelling one waiter must never cancel the shared future): a done-callback wakes this
        # waiter at once, so the outcome is not up to a tick late; the tick only paces the Cancel check.
        loop = asyncio.get_running_loop()
        landed = asyncio.Event()

        def wake(_: Any) -> None:
            try:
                loop.call_soon_threadsafe(landed.set)
            except RuntimeError:  # this waiter's loop has closed: nobody to wake
                pass

        self.future.add_done_callback(wake)
        try:
            while not self.future.done():
                if should_stop is not None and not self._stop.is_set() and should_stop():
                    log.info("comfyui-luma-fal: %s: Cancel pressed; cancelling at fal", self.description)
                    self.cancel()
                try:
                    await asyncio.wait_for(landed.wait(), _WAIT_TICK)
                except asyncio.TimeoutError:
                    pass
            return self.future.result()
        finally:
            if entry:
                with self._lock:
                    self._listeners.remove(entry)


_ACTIVE: dict[str, Follower] = {}
_REGISTRY_LOCK = threading.RLock()


@contextmanager
def registry() -> Iterator[dict[str, Follower]]:
    """The followers of this process by request identity, locked while the caller decides."""
    with _REGISTRY_LOCK:
        yield _ACTIVE


def active(identity: str) -> Follower | None:
    with _REGISTRY_LOCK:
        return _ACTIVE.get(identity)


def _forget(follower: Follower) -> None:
    with _REGISTRY_LOCK:
        if _ACTIVE.get(follower.identity) is follower:
            del _ACTIVE[follower.identity]
