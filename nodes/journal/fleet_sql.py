"""The SQL of a fleet sharing one journal: guarded creates (one request per identity, the budget checked and
reserved in the same transaction), the day's spend in one SUM, and the workers' heartbeats.

A mixin of ``store.SqlJournal`` (it uses its ``_run``, ``_sql``, ``_event`` and readers), kept apart so
each module stays short. Portable SQL: the same text runs on SQLite and PostgreSQL; PostgreSQL adds its
advisory locks through ``_lock_create`` (``postgres.py``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .states import ALL_STATES, IN_FLIGHT, MAY_BILL

# Entries and new entries are ``store.JournalEntry`` / ``store.NewEntry`` (typed ``Any`` here: store imports this).
JournalEntry = Any
NewEntry = Any


@dataclass(frozen=True)
class Budget:
    """A spend limit the new entry must fit in, with what the journal already holds since ``since``
    (UNIX seconds: the local midnight) that is or may be billed (``states.MAY_BILL``): fal's billed figure
    where known, else the estimate."""

    since: float
    limit_usd: float


@dataclass(frozen=True)
class Created:
    """What ``create_guarded`` did: ``entry`` is the new entry, or None when it was not written because
    another entry of the identity came first (``latest`` is it) or the budget is spent (``spent_usd``)."""

    entry: JournalEntry | None
    latest: JournalEntry | None = None
    spent_usd: float | None = None


class FleetSql:
    """``create_guarded``, ``spent_since``, ``beat`` and ``workers`` for ``SqlJournal``."""

    _run: Any
    _sql: Any
    _event: Any
    get: Any
    latest_for_identity: Any

    def _lock_create(self, cur: Any, identity: str, budget: Budget | None) -> None:
        """Serialise guarded creates that could conflict (SQLite's single statement needs nothing more)."""

    def create_guarded(self, new: NewEntry, *, after_id: int | None, budget: Budget | None = None) -> Created:
        check_state(new.state)
        now = time.time()
        values = entry_values(new, now)
        # INSERT ... SELECT ... WHERE: the check and the write are one statement, atomic on SQLite; PostgreSQL
        # also takes an advisory lock first (``_lock_create``), as READ COMMITTED would let two such inserts pass.
        picks = ", ".join(f"CAST(? AS {_CASTS[n]})" if n in _CASTS else "?" for n in values)
        where = ["COALESCE((SELECT MAX(id) FROM journal_entries WHERE identity = ?), 0) = ?"]
        params: list[Any] = [*values.values(), new.identity, int(after_id or 0)]
        spent_sql = _SPENT_SQL
        if budget is not None:
            where.append(f"({spent_sql}) + COALESCE(CAST(? AS DOUBLE PRECISION), 0) <= ?")
            params += [budget.since, *MAY_BILL, new.price_usd, budget.limit_usd + 1e-9]
        sql = (f"INSERT INTO journal_entries ({', '.join(values)}) SELECT {picks} WHERE {' AND '.join(where)} "
               "RETURNING id")

        def insert(cur: Any) -> tuple[int | None, float | None]:
            self._lock_create(cur, new.identity, budget)
            cur.execute(self._sql(sql), tuple(params))
            row = cur.fetchone()
            if row is not None:
                self._event(cur, int(row[0]), now, new.state, "journaled before anything was sent")
                return int(row[0]), None
            spent = None
            if budget is not None:
                cur.execute(self._sql(spent_sql), (budget.since, *MAY_BILL))
                spent = float(cur.fetchone()[0] or 0.0)
            return None, spent

        entry_id, spent = self._run(insert)
        if entry_id is not None:
            return Created(self.get(entry_id))
        latest = self.latest_for_identity(new.identity)
        if latest is not None and latest.id != (after_id or 0):
            return Created(None, latest=latest)
        return Created(None, latest=latest, spent_usd=spent)

    def spent_since(self, since: float, *, leave_out_prompt: str | None = None) -> float:
        sql = _SPENT_SQL
        params: list[Any] = [since, *MAY_BILL]
        if leave_out_prompt is not None:
            sql += f" AND NOT (COALESCE(prompt_id, '') = ? AND state IN ({', '.join('?' for _ in IN_FLIGHT)}))"
            params += [leave_out_prompt, *IN_FLIGHT]

        def read(cur: Any) -> float:
            cur.execute(self._sql(sql), tuple(params))
            return round(float(cur.fetchone()[0] or 0.0), 6)

        return self._run(read)

    def beat(self, owner: str, info: Mapping[str, Any]) -> None:
        now = time.time()
        self._run(lambda cur: cur.execute(self._sql(
            "INSERT INTO journal_workers (owner, seen_at, started_at, info) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (owner) DO UPDATE SET seen_at = excluded.seen_at, info = excluded.info"),
            (owner, now, now, dump(dict(info)))))

    def workers(self) -> dict[str, float]:
        def read(cur: Any) -> dict[str, float]:
            cur.execute("SELECT owner, seen_at FROM journal_workers")
            return {str(r[0]): float(r[1]) for r in cur.fetchall()}

        return self._run(read)

# The day's spend. ``state || ''`` keeps SQLite off the state index (most rows are done, so it would read
# nearly all of them) and on the day index (created_at, state, price_usd, billed_usd), which answers it
# alone. What fal billed counts where its billing events were read, else the estimate.
_SPENT_SQL = (f"SELECT COALESCE(SUM(COALESCE(billed_usd, price_usd)), 0) FROM journal_entries WHERE created_at >= ? AND "
              f"state || '' IN ({', '.join('?' for _ in MAY_BILL)})")

# Columns whose value goes through ``CAST`` in ``create_guarded``'s SELECT list: PostgreSQL types a bare
# parameter there as text, which a number column refuses (a None seed, say).
_CASTS = {"seed": "BIGINT", "price_usd": "DOUBLE PRECISION", "created_at": "DOUBLE PRECISION",
          "updated_at": "DOUBLE PRECISION"}


def entry_values(new: NewEntry, now: float) -> dict[str, Any]:
    """The columns of a new entry's row."""
    return {
        "identity": new.identity, "endpoint_id": new.endpoint_id, "state": new.state, "request_id": None,
        "seed": new.seed, "payload": dump(new.payload), "inputs": dump(new.inputs),
        "output_kind": new.output_kind, "stem": new.stem, "price_usd": new.price_usd,
        "price_source": new.price_source, "node_id": new.node_id, "node_name": new.node_name,
        "prompt_id": new.prompt_id, "owner": new.owner, "created_at": now, "updated_at": now,
        "files": "{}", "timings": "{}",
    }



def dump(value: Any) -> str | None:
    """A JSON column's text (None stays NULL)."""
    return None if value is None else json.dumps(value, sort_keys=True, default=str)


def check_state(state: str) -> None:
    if state not in ALL_STATES:
        raise ValueError(f"journal: unknown state {state!r}; known: {ALL_STATES}")
