"""A process racing others on one PostgreSQL journal, for tests/journal/test_postgres.py (not a test module).

argv: url, "migrate" | "create", tag. ``create``: guarded creates of the same five identities (1 USD each)
under a 3 USD budget starting now; prints "created <identity>" or "refused <identity> <why>".
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from nodes.journal.postgres import PostgresJournal  # noqa: E402
from nodes.journal.store import Budget, NewEntry  # noqa: E402


def main() -> None:
    url, what, tag = sys.argv[1], sys.argv[2], sys.argv[3]
    store = PostgresJournal(url)
    if what == "create":
        budget = Budget(since=time.time() - 3600, limit_usd=3.0)
        for n in range(5):
            identity = f"identity-{n}"
            latest = store.latest_for_identity(identity)
            if latest is not None:
                print(f"refused {identity} exists", flush=True)
                continue
            new = NewEntry(identity=identity, endpoint_id="e", payload={}, inputs={}, output_kind="video",
                           stem="t", node_name="n", owner=tag, price_usd=1.0)
            done = store.create_guarded(new, after_id=None, budget=budget)
            why = "budget" if done.spent_usd is not None else "raced"
            print(f"created {identity}" if done.entry else f"refused {identity} {why}", flush=True)
    store.close()


if __name__ == "__main__":
    main()
