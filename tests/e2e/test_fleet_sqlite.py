"""Issue 19 on the embedded journal: two real ComfyUI 0.3.75 processes sharing one user folder (so one
SQLite journal file) and one sandbox. The same races as on PostgreSQL: the same workflow and seed on
both at once is submitted once; a budget that fits 3 runs against 2 workers x 4 seeds: exactly 3 submits."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from nodes.journal.sqlite import SqliteJournal
from tests.e2e.fleet_helpers import Fleet, budget_race, same_identity_race
from tests.e2e.pack_helpers import submits, unique_text

pytestmark = pytest.mark.hosts("0.3.75")


@pytest.fixture(scope="module")
def fleet(comfy_fal: Any) -> Iterator[Fleet]:
    with Fleet(comfy_fal, "fleet-sqlite", 2) as holder:
        yield holder


def _store(fleet: Fleet) -> SqliteJournal:
    assert fleet.shared_user is not None
    return SqliteJournal(fleet.shared_user / "comfyui-luma-fal" / "journal.sqlite3")


def test_the_same_request_from_two_processes_on_one_user_folder_is_submitted_once(fleet: Fleet,
                                                                                 sandbox: Any) -> None:
    request_id, _ = same_identity_race(fleet, sandbox, "SQLite, same identity")
    entries = [e for e in _store(fleet).list_entries(limit=50) if e.request_id == request_id]
    assert len(entries) == 1 and entries[0].state == "done"


def test_one_budget_for_two_processes_on_one_user_folder(fleet: Fleet, sandbox: Any) -> None:
    sandbox.configure(queue_seconds=0.3, run_seconds=0.5)
    a, _ = fleet.hosts
    warm, _ = fleet.prompt(unique_text("sqlite fleet warm-up"), seed=1)
    assert a.run(warm, timeout=300).ok
    store = _store(fleet)
    price = store.get_by_request_id(submits(sandbox)[0]["request_id"]).price_usd  # type: ignore[union-attr]
    midnight = time.mktime(time.localtime()[:3] + (0, 0, 0, 0, 0, -1))
    budget = round(store.spent_since(midnight) + 3.5 * price, 2)

    def set_budget(usd: float | None) -> None:  # one user folder: stored once, read by both processes
        reply = a.client.post_json("/luma_fal/money", {"daily_budget_usd": usd})
        assert reply.status_code == 200, reply.text

    count, results = budget_race(fleet, sandbox, set_budget, budget, "sqlite fleet budget race")
    print(f"\nSQLite budget race (fits 3; 2 processes x 4 seeds at once): {count} submit(s)")
    assert count == 3 and sum(r.ok for r in results) == 3
    assert store.spent_since(midnight) <= budget + 1e-6
