"""The journal store: one row per paid request, one event per state change.

``JournalStore`` is the interface the rest of the pack uses. ``SqlJournal`` implements it with
portable SQL over any DB-API connection factory (``?`` placeholders are rewritten for drivers that
use ``%s``), so a PostgreSQL store needs only a connection factory and the dialect name; the
SQLite specifics (file, WAL, damaged files) live in ``sqlite.py``.

Every write is one short transaction that starts with its write, so concurrent writers queue on
the database lock (busy timeout) instead of failing on an upgraded read lock.
"""

from __future__ import annotations

import json
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import schema
from .fleet_sql import Budget, Created, FleetSql, entry_values
from .fleet_sql import check_state as _check_state
from .fleet_sql import dump as _dump
from .states import FINAL, IN_FLIGHT


@dataclass(frozen=True)
class NewEntry:
    """What is known of a request before anything is uploaded or sent."""

    identity: str
    endpoint_id: str
    payload: dict[str, Any]  # fal's field names, upload placeholders where files go
    inputs: dict[str, Any]  # placeholder -> {"label", "content" (hash), later "url"}
    output_kind: str  # "video" | "images"
    stem: str  # file-name stem for saved results
    node_name: str
    owner: str  # the process working on it (see nodes.comfy.host.journaling.owner_token)
    seed: int | None = None
    price_usd: float | None = None
    price_source: str = ""
    node_id: str | None = None
    prompt_id: str | None = None
    state: str = "preparing"


@dataclass(frozen=True)
class JournalEntry:
    id: int
    identity: str
    endpoint_id: str
    state: str
    request_id: str | None
    seed: int | None
    payload: dict[str, Any]
    inputs: dict[str, Any]
    output_kind: str
    stem: str
    price_usd: float | None
    price_source: str
    node_id: str | None
    node_name: str
    prompt_id: str | None
    owner: str
    created_at: float
    updated_at: float
    submitted_at: float | None
    finished_at: float | None
    result: dict[str, Any] | None
    files: dict[str, list[str]] = field(default_factory=dict)
    timings: dict[str, Any] = field(default_factory=dict)
    message: str | None = None
    billed_usd: float | None = None  # what fal's billing events say it billed (None: not known)
    fal_records: dict[str, Any] | None = None  # reconciliation evidence and billing (reconcile.py)

    @property
    def finished(self) -> bool:
        return self.state in FINAL

    def saved_paths(self) -> list[str]:
        return [p for paths in self.files.values() for p in paths]


@dataclass(frozen=True)
class JournalEvent:
    entry_id: int
    at: float
    state: str
    note: str | None


# Columns a caller may change with ``update``; the JSON ones are stored as text.
_JSON_FIELDS = ("payload", "inputs", "result", "files", "timings", "fal_records")
UPDATABLE = ("request_id", "inputs", "result", "files", "timings", "message", "submitted_at", "finished_at",
             "owner", "prompt_id", "node_id", "billed_usd", "fal_records")
_COLUMNS = ("id", "identity", "endpoint_id", "state", "request_id", "seed", "payload", "inputs", "output_kind",
            "stem", "price_usd", "price_source", "node_id", "node_name", "prompt_id", "owner", "created_at",
            "updated_at", "submitted_at", "finished_at", "result", "files", "timings", "message", "billed_usd",
            "fal_records")


class JournalStore(ABC):
    """Where the pack remembers every paid request. All methods are synchronous and thread-safe."""

    @abstractmethod
    def create(self, new: NewEntry) -> JournalEntry:
        """Write a new entry (and its first event); returns it with its id."""

    @abstractmethod
    def update(self, entry_id: int, *, state: str | None = None, note: str | None = None,
               **fields: Any) -> JournalEntry:
        """Change fields (see ``UPDATABLE``); a new ``state`` (or a ``note``) is also recorded as an event."""

    @abstractmethod
    def create_guarded(self, new: NewEntry, *, after_id: int | None, budget: Budget | None = None) -> Created:
        """``create`` only if the newest entry of ``new.identity`` is still ``after_id`` (None: there is none)
        and, given a ``budget``, the day's spend plus this entry's estimate fits in it: decided and written in
        one transaction, so two processes (or a fleet of workers) never both pay for one request or past it."""

    @abstractmethod
    def spent_since(self, since: float, *, leave_out_prompt: str | None = None) -> float:
        """USD (at the estimates) of entries created since ``since`` that are or may be billed
        (``states.MAY_BILL``); the unfinished entries of prompt ``leave_out_prompt`` are left out."""

    @abstractmethod
    def beat(self, owner: str, info: Mapping[str, Any]) -> None:
        """Record that worker ``owner`` is alive now (its heartbeat)."""

    @abstractmethod
    def workers(self) -> dict[str, float]:
        """Every worker that ever beat: owner -> UNIX time of its last heartbeat."""

    @abstractmethod
    def claim(self, entry_id: int, expected_owner: str, new_owner: str) -> bool:
        """Take over an entry only if ``expected_owner`` still has it (compare-and-set)."""

    @abstractmethod
    def get(self, entry_id: int) -> JournalEntry | None: ...

    @abstractmethod
    def get_by_request_id(self, request_id: str) -> JournalEntry | None:
        """The newest entry carrying fal's ``request_id``."""

    @abstractmethod
    def latest_for_identity(self, identity: str) -> JournalEntry | None:
        """The newest entry for a request identity (``identity.request_identity``)."""

    @abstractmethod
    def list_entries(self, *, limit: int = 50, before_id: int | None = None,
                     states: Iterable[str] | None = None) -> list[JournalEntry]:
        """Newest first; page with ``before_id`` = the last id of the previous page."""

    @abstractmethod
    def in_flight(self) -> list[JournalEntry]:
        """Entries not yet finished (preparing, submitting, queued, running, completed), oldest first."""

    @abstractmethod
    def events(self, entry_id: int) -> list[JournalEvent]:
        """The entry's state changes, oldest first."""

    @abstractmethod
    def prune(self, older_than_seconds: float) -> int:
        """Delete finished entries last changed longer ago than that; returns how many."""

    def close(self) -> None:  # noqa: B027  (optional for stores without resources)
        """Release resources (connections are per call, so usually nothing)."""


class SqlJournal(FleetSql, JournalStore):
    """``JournalStore`` over DB-API connections from ``connect`` (one per call, closed after it)."""

    def __init__(self, connect: Callable[[], Any], *, dialect: str, paramstyle: str = "qmark") -> None:
        self._connect = connect
        self.dialect = dialect
        self._format = paramstyle in ("format", "pyformat")

    # -- plumbing ---------------------------------------------------------------------------------

    def _sql(self, text: str) -> str:
        return text.replace("?", "%s") if self._format else text

    def _run(self, work: Callable[[Any], Any]) -> Any:
        conn = self._connect()
        try:
            cur = conn.cursor()
            try:
                value = work(cur)
            except BaseException:
                conn.rollback()
                raise
            conn.commit()
            return value
        finally:
            conn.close()

    def _lock_migration(self, cur: Any) -> None:
        """Hold the database's migration lock until the transaction ends (several workers may start at once)."""

    def migrate(self) -> int:
        """Apply pending migrations; returns the schema version reached."""

        def step(cur: Any) -> int:
            self._lock_migration(cur)
            cur.execute(schema.META_TABLE)
            cur.execute(self._sql("SELECT value FROM journal_meta WHERE name = ?"), (schema.SCHEMA_VERSION_KEY,))
            row = cur.fetchone()
            version = int(row[0]) if row else 0
            for number in range(version + 1, schema.LATEST_VERSION + 1):
                for statement in schema.migration_statements(number, self.dialect):
                    cur.execute(statement)
            if version < schema.LATEST_VERSION:
                cur.execute(self._sql("DELETE FROM journal_meta WHERE name = ?"), (schema.SCHEMA_VERSION_KEY,))
                cur.execute(self._sql("INSERT INTO journal_meta (name, value) VALUES (?, ?)"),
                            (schema.SCHEMA_VERSION_KEY, str(schema.LATEST_VERSION)))
            return max(version, schema.LATEST_VERSION)

        return self._run(step)

    def _select(self, where: str, params: tuple[Any, ...], tail: str = "") -> list[JournalEntry]:
        sql = self._sql(f"SELECT {', '.join(_COLUMNS)} FROM journal_entries WHERE {where} {tail}")

        def read(cur: Any) -> list[JournalEntry]:
            cur.execute(sql, params)
            return [_entry(row) for row in cur.fetchall()]

        return self._run(read)

    def _one(self, where: str, params: tuple[Any, ...]) -> JournalEntry | None:
        rows = self._select(where, params, "ORDER BY id DESC LIMIT 1")
        return rows[0] if rows else None

    def _event(self, cur: Any, entry_id: int, at: float, state: str, note: str | None) -> None:
        cur.execute(self._sql("INSERT INTO journal_events (entry_id, at, state, note) VALUES (?, ?, ?, ?)"),
                    (entry_id, at, state, note))

    # -- the interface ----------------------------------------------------------------------------

    def create(self, new: NewEntry) -> JournalEntry:
        _check_state(new.state)
        now = time.time()
        values = entry_values(new, now)
        names = ", ".join(values)
        marks = ", ".join("?" for _ in values)

        def insert(cur: Any) -> int:
            cur.execute(self._sql(f"INSERT INTO journal_entries ({names}) VALUES ({marks}) RETURNING id"),
                        tuple(values.values()))
            entry_id = int(cur.fetchone()[0])
            self._event(cur, entry_id, now, new.state, "journaled before anything was sent")
            return entry_id

        entry = self.get(self._run(insert))
        assert entry is not None
        return entry

    def update(self, entry_id: int, *, state: str | None = None, note: str | None = None,
               **fields: Any) -> JournalEntry:
        unknown = set(fields) - set(UPDATABLE)
        if unknown:
            raise ValueError(f"journal: cannot update {sorted(unknown)}; updatable: {UPDATABLE}")
        if state is not None:
            _check_state(state)
        now = time.time()
        changes = {k: (_dump(v) if k in _JSON_FIELDS else v) for k, v in fields.items()}
        if state is not None:
            changes["state"] = state
        changes["updated_at"] = now
        assignments = ", ".join(f"{name} = ?" for name in changes)

        def write(cur: Any) -> None:
            cur.execute(self._sql(f"UPDATE journal_entries SET {assignments} WHERE id = ?"),
                        (*changes.values(), entry_id))
            if cur.rowcount == 0:
                raise KeyError(f"journal: no entry {entry_id}")
            if state is not None or note:
                self._event(cur, entry_id, now, state or "note", note)

        self._run(write)
        entry = self.get(entry_id)
        assert entry is not None
        return entry

    def claim(self, entry_id: int, expected_owner: str, new_owner: str) -> bool:
        def write(cur: Any) -> bool:
            cur.execute(self._sql("UPDATE journal_entries SET owner = ?, updated_at = ? WHERE id = ? AND owner = ?"),
                        (new_owner, time.time(), entry_id, expected_owner))
            return cur.rowcount == 1

        return bool(self._run(write))

    def get(self, entry_id: int) -> JournalEntry | None:
        return self._one("id = ?", (int(entry_id),))

    def get_by_request_id(self, request_id: str) -> JournalEntry | None:
        return self._one("request_id = ?", (request_id,))

    def latest_for_identity(self, identity: str) -> JournalEntry | None:
        return self._one("identity = ?", (identity,))

    def list_entries(self, *, limit: int = 50, before_id: int | None = None,
                     states: Iterable[str] | None = None) -> list[JournalEntry]:
        where, params = ["1 = 1"], []
        if before_id is not None:
            where.append("id < ?")
            params.append(int(before_id))
        wanted = list(states or [])
        if wanted:
            for state in wanted:
                _check_state(state)
            where.append(f"state IN ({', '.join('?' for _ in wanted)})")
            params += wanted
        return self._select(" AND ".join(where), tuple(params), f"ORDER BY id DESC LIMIT {max(1, int(limit))}")

    def in_flight(self) -> list[JournalEntry]:
        marks = ", ".join("?" for _ in IN_FLIGHT)
        return self._select(f"state IN ({marks})", tuple(IN_FLIGHT), "ORDER BY id")

    def events(self, entry_id: int) -> list[JournalEvent]:
        def read(cur: Any) -> list[JournalEvent]:
            cur.execute(self._sql("SELECT entry_id, at, state, note FROM journal_events WHERE entry_id = ? ORDER BY id"),
                        (int(entry_id),))
            return [JournalEvent(int(r[0]), float(r[1]), str(r[2]), r[3]) for r in cur.fetchall()]

        return self._run(read)

    def prune(self, older_than_seconds: float) -> int:
        cutoff = time.time() - older_than_seconds
        marks = ", ".join("?" for _ in FINAL)
        condition = f"state IN ({marks}) AND updated_at < ?"

        def delete(cur: Any) -> int:
            # Events first: SQLite enforces the foreign key only when asked to, PostgreSQL always.
            cur.execute(self._sql(f"DELETE FROM journal_events WHERE entry_id IN "
                                  f"(SELECT id FROM journal_entries WHERE {condition})"), (*FINAL, cutoff))
            cur.execute(self._sql(f"DELETE FROM journal_entries WHERE {condition}"), (*FINAL, cutoff))
            return int(cur.rowcount)

        return self._run(delete)


def _load(text: Any, empty: Any) -> Any:
    if text is None:
        return empty
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return empty


def _entry(row: tuple[Any, ...]) -> JournalEntry:
    data: dict[str, Any] = dict(zip(_COLUMNS, row, strict=True))
    data["id"] = int(data["id"])
    data["payload"] = _load(data["payload"], {})
    data["inputs"] = _load(data["inputs"], {})
    data["result"] = _load(data["result"], None)
    data["files"] = _load(data["files"], {})
    data["timings"] = _load(data["timings"], {})
    data["fal_records"] = _load(data["fal_records"], None)
    return JournalEntry(**data)


def entry_summary(entry: JournalEntry) -> Mapping[str, Any]:
    """A JSON-ready view of an entry (for routes, logs and receipts); the journal never holds the key."""
    return {name: getattr(entry, name) for name in _COLUMNS}
