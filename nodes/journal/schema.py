"""The journal's tables and their migrations.

Each migration is a list of statements applied in order, once; the version reached is kept in the
``journal_meta`` table (not a SQLite pragma), so the same steps can run on PostgreSQL. Only the
auto-increment key differs between the two, hence ``ID_COLUMN``.
"""

from __future__ import annotations

SCHEMA_VERSION_KEY = "schema_version"

ID_COLUMN = {
    "sqlite": "id INTEGER PRIMARY KEY AUTOINCREMENT",
    "postgresql": "id BIGSERIAL PRIMARY KEY",
}

META_TABLE = "CREATE TABLE IF NOT EXISTS journal_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)"

# JSON columns hold text (json.dumps); times are UNIX seconds.
_V1 = [
    """CREATE TABLE IF NOT EXISTS journal_entries (
        {id},
        identity TEXT NOT NULL,
        endpoint_id TEXT NOT NULL,
        state TEXT NOT NULL,
        request_id TEXT,
        seed BIGINT,
        payload TEXT NOT NULL,
        inputs TEXT NOT NULL,
        output_kind TEXT NOT NULL,
        stem TEXT NOT NULL,
        price_usd DOUBLE PRECISION,
        price_source TEXT NOT NULL,
        node_id TEXT,
        node_name TEXT NOT NULL,
        prompt_id TEXT,
        owner TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL,
        submitted_at DOUBLE PRECISION,
        finished_at DOUBLE PRECISION,
        result TEXT,
        files TEXT NOT NULL,
        timings TEXT NOT NULL,
        message TEXT
    )""",
    """CREATE TABLE IF NOT EXISTS journal_events (
        {id},
        entry_id BIGINT NOT NULL REFERENCES journal_entries(id) ON DELETE CASCADE,
        at DOUBLE PRECISION NOT NULL,
        state TEXT NOT NULL,
        note TEXT
    )""",
    "CREATE INDEX IF NOT EXISTS journal_entries_identity ON journal_entries (identity)",
    "CREATE INDEX IF NOT EXISTS journal_entries_request_id ON journal_entries (request_id)",
    "CREATE INDEX IF NOT EXISTS journal_entries_state ON journal_entries (state)",
    "CREATE INDEX IF NOT EXISTS journal_events_entry ON journal_events (entry_id)",
]

# 2: what fal's own records say. ``billed_usd``: fal's billing events for the request;
# ``fal_records``: JSON evidence of the reconciliation of a submit whose answer never arrived.
_V2 = [
    "ALTER TABLE journal_entries ADD COLUMN billed_usd DOUBLE PRECISION",
    "ALTER TABLE journal_entries ADD COLUMN fal_records TEXT",
]

# 3, a fleet of workers on one journal: the budget sums a day's entries (created_at), and each
# worker's heartbeat says whether its in-flight requests still have someone following them.
_V3 = [
    "CREATE INDEX IF NOT EXISTS journal_entries_day ON journal_entries (created_at, state, price_usd, billed_usd)",
    """CREATE TABLE IF NOT EXISTS journal_workers (
        owner TEXT PRIMARY KEY,
        seen_at DOUBLE PRECISION NOT NULL,
        started_at DOUBLE PRECISION NOT NULL,
        info TEXT NOT NULL
    )""",
]

MIGRATIONS: list[list[str]] = [_V1, _V2, _V3]
LATEST_VERSION = len(MIGRATIONS)


def migration_statements(version: int, dialect: str) -> list[str]:
    """The statements of migration number ``version`` (1-based) for ``dialect``."""
    return [sql.format(id=ID_COLUMN[dialect]) for sql in MIGRATIONS[version - 1]]
