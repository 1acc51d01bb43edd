"""The journal in PostgreSQL: the shared state of a fleet of ComfyUI workers (``LUMA_FAL_JOURNAL_URL=postgresql://``).

The SQL is ``SqlJournal``'s; this module adds what a server brings: a small connection pool (a poll
never opens a connection of its own), advisory locks (one migration at a time when workers start
together; one guarded create at a time per identity, or for the whole fleet when a budget is checked),
and what to do while the server cannot be reached:

* a state change of a request already journaled (above all a paid request id) is kept in memory, in
  order, and written as soon as the server answers again; the entry the caller gets back shows it;
* anything that would start a new paid request (a create, a budget check) fails with
  ``JournalUnavailable``, so no run slips past the fleet's budget while its spend cannot be read.

The password (from the URL, ``PGPASSWORD`` or ``~/.pgpass``, all read by libpq) never appears in a
message: ``redact`` is applied to every URL this module names.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from .store import Budget, JournalEntry, SqlJournal

log = logging.getLogger(__name__)

POOL_SIZE = 4
CONNECT_TIMEOUT_S = 3
_MIGRATION_LOCK = 0x4C46_4A31  # "LFJ1": pg_advisory_xact_lock keys of this pack
_BUDGET_LOCK = 0x4C46_4A32
_IDENTITY_LOCK_CLASS = 0x4C46_4A33


class _Stale(Exception):
    """The connection was lost before anything was committed on it."""


class JournalUnavailable(RuntimeError):
    """The shared journal cannot be reached; the message says so without the password."""


def redact(url: str) -> str:
    """``url`` with any password replaced by ``***``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "postgresql://(unreadable URL)"
    if parts.password is None:
        return url
    netloc = f"{parts.username or ''}:***@{parts.hostname or ''}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


class _Pool:
    """Up to ``size`` idle connections kept open; a broken one is dropped, never handed out again."""

    def __init__(self, connect: Callable[[], Any], size: int) -> None:
        self._connect = connect
        self._size = size
        self._idle: list[Any] = []
        self._lock = threading.Lock()

    def take(self) -> Any:
        with self._lock:
            while self._idle:
                conn = self._idle.pop()
                if not conn.closed:
                    return conn
        return self._connect()

    def give_back(self, conn: Any, broken: bool) -> None:
        # Lazy: psycopg is the optional postgres extra, imported only once a PostgreSQL journal is in use.
        from psycopg.pq import TransactionStatus

        if broken or conn.closed or conn.info.transaction_status != TransactionStatus.IDLE:
            _close_quietly(conn)
            return
        with self._lock:
            if len(self._idle) < self._size:
                self._idle.append(conn)
                return
        _close_quietly(conn)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            _close_quietly(conn)


def _close_quietly(conn: Any) -> None:
    try:
        conn.close()
    except Exception:
        log.debug("closing a journal connection failed", exc_info=True)


class PostgresJournal(SqlJournal):
    def __init__(self, url: str, *, pool_size: int = POOL_SIZE) -> None:
        # Lazy: psycopg is the optional postgres extra, imported only once a PostgreSQL journal is in use.
        import psycopg

        self.url = url
        self.shown_url = redact(url)
        self._psycopg = psycopg
        self._pool = _Pool(lambda: psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT_S), pool_size)
        super().__init__(self._pool.take, dialect="postgresql", paramstyle="format")
        self._pending: list[tuple[int, str | None, str | None, dict[str, Any], float]] = []
        self._pending_lock = threading.RLock()
        self._known: dict[int, JournalEntry] = {}
        self._flushing = threading.local()
        self.migrate()

    # -- connections ------------------------------------------------------------------------------

    def _lost(self, exc: BaseException) -> bool:
        return isinstance(exc, (self._psycopg.OperationalError, self._psycopg.InterfaceError))

    def _run(self, work: Callable[[Any], Any]) -> Any:
        if self._pending and not getattr(self._flushing, "on", False):
            self.flush()  # what was kept during an outage is written before anything else is read or written
        try:
            return self._attempt(work)
        except _Stale:
            # A pooled connection the server closed (a restart): nothing was committed on it, so the work
            # runs once more on a new connection, and the other idle ones (as old) are dropped.
            self._pool.close()
            try:
                return self._attempt(work)
            except _Stale as stale:
                raise self._unavailable(stale.__cause__ or stale) from None

    def _attempt(self, work: Callable[[Any], Any]) -> Any:
        try:
            conn = self._pool.take()
        except Exception as exc:
            raise self._unavailable(exc) from None
        broken, committing = False, False
        try:
            with conn.cursor() as cur:
                try:
                    value = work(cur)
                except BaseException:
                    try:
                        conn.rollback()
                    except Exception:  # the connection is gone: the work's own error says more
                        broken = True
                    raise
            committing = True
            conn.commit()
            return value
        except Exception as exc:
            if not self._lost(exc):
                raise
            broken = True
            if committing:  # the commit may or may not have landed: never run it twice
                raise self._unavailable(exc) from None
            raise _Stale() from exc
        finally:
            self._pool.give_back(conn, broken)

    def _unavailable(self, exc: BaseException) -> JournalUnavailable:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        if self.url in first:
            first = first.replace(self.url, self.shown_url)
        return JournalUnavailable(
            f"the shared request journal ({self.shown_url}) cannot be reached ({first}). Requests already "
            "sent are still followed and their state is written when it is back; no new paid request starts "
            "until then.")

    def _lock_migration(self, cur: Any) -> None:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))

    def _lock_create(self, cur: Any, identity: str, budget: Budget | None) -> None:
        if budget is not None:  # the day's spend is read and added to by one worker at a time
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (_BUDGET_LOCK,))
        else:
            cur.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (_IDENTITY_LOCK_CLASS, identity))

    def close(self) -> None:
        self._pool.close()

    # -- an outage: state changes kept in order -----------------------------------------------------

    @property
    def pending_writes(self) -> int:
        with self._pending_lock:
            return len(self._pending)

    def flush(self) -> int:
        """Write the state changes kept during an outage, oldest first; returns how many are still kept."""
        with self._pending_lock:
            self._flushing.on = True
            try:
                self._write_pending()
            finally:
                self._flushing.on = False
            return len(self._pending)

    def _write_pending(self) -> None:
            while self._pending:
                entry_id, state, note, fields, at = self._pending[0]
                when = time.strftime("%H:%M:%S", time.localtime(at))
                late = f"{note} (at {when}, while the journal was unreachable)" if note else None
                super().update(entry_id, state=state, note=late if (state or note) else None, **fields)
                self._pending.pop(0)
                log.info("comfyui-luma-fal: journal reachable again; wrote a kept state change of entry %d",
                         entry_id)

    def update(self, entry_id: int, *, state: str | None = None, note: str | None = None,
               **fields: Any) -> JournalEntry:
        with self._pending_lock:
            try:
                self.flush()
                entry = super().update(entry_id, state=state, note=note, **fields)
            except JournalUnavailable as exc:
                known = self._known.get(entry_id)
                if known is None:
                    raise
                self._pending.append((entry_id, state, note, dict(fields), time.time()))
                log.warning("comfyui-luma-fal: %s Kept in memory: %d state change(s), written in order when it "
                            "answers again.", exc, len(self._pending))
                entry = dataclasses.replace(known, state=state or known.state, updated_at=time.time(), **fields)
            self._remember(entry)
            return entry

    def _remember(self, entry: JournalEntry) -> None:
        self._known[entry.id] = entry
        while len(self._known) > 2000:  # the entries this process follows; old ones are read again if needed
            del self._known[next(iter(self._known))]

    def get(self, entry_id: int) -> JournalEntry | None:
        entry = super().get(entry_id)
        if entry is not None:
            with self._pending_lock:
                self._remember(entry)
        return entry
