"""The PostgreSQL store's own behaviour: concurrent migration, guarded creates racing from many
processes, the budget held across them, an outage that keeps state changes in order, the password
kept out of every message, and a clear message when the driver is missing."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nodes.journal import states
from nodes.journal.postgres import JournalUnavailable, PostgresJournal, redact
from nodes.journal.store import Budget, NewEntry
from tests.support.postgres import pg_cluster, pg_url  # noqa: F401  (fixtures)
from tools.pgcluster import PASSWORD, PgCluster

RACER = Path(__file__).with_name("racer.py")
REPO = Path(__file__).resolve().parents[2]


def _new(identity: str, price: float | None = 1.0, owner: str = "me") -> NewEntry:
    return NewEntry(identity=identity, endpoint_id="luma/agent/ray/v3.2/text-to-video", payload={"prompt": "p"},
                    inputs={}, output_kind="video", stem="t", node_name="n", owner=owner, price_usd=price)


def test_another_pytest_process_s_cluster_never_stops_this_one(pg_cluster: PgCluster, tmp_path: Path) -> None:
    # The suite's parallel processes each set up and tear down a cluster (tests/support/postgres.py); one of
    # another output folder, created and removed while ours runs, must leave ours answering.
    other = subprocess.run(
        [sys.executable, "-c", "from tests.support.postgres import throwaway_cluster\n"
                               "with throwaway_cluster() as c: print(c.root)"],
        cwd=REPO, env={**os.environ, "LUMA_TEST_OUTPUT": str(tmp_path / "another-process")},
        capture_output=True, text=True, timeout=120)
    assert other.returncode == 0, other.stderr
    assert Path(other.stdout.strip()) != pg_cluster.root
    assert pg_cluster.new_database("after_another_process").endswith("/after_another_process")  # ours answers


def test_the_password_never_appears_in_a_message(pg_url: str) -> None:
    assert PASSWORD in pg_url
    store = PostgresJournal(pg_url)
    assert PASSWORD not in store.shown_url and ":***@" in store.shown_url
    assert redact("postgresql://u@h:5/db") == "postgresql://u@h:5/db"
    store.close()


def test_workers_starting_together_migrate_once(pg_url: str) -> None:
    procs = [subprocess.Popen([sys.executable, str(RACER), pg_url, "migrate", str(n)], stdout=subprocess.PIPE,
                              text=True, cwd=REPO) for n in range(6)]
    outs = [p.communicate(timeout=120)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    store = PostgresJournal(pg_url)
    assert store.migrate() == 3 and store.create(_new("x")).id == 1
    store.close()


def test_racing_processes_create_one_entry_per_identity_and_stay_in_the_budget(pg_url: str) -> None:
    PostgresJournal(pg_url).close()
    # 4 processes x the same 5 identities (1 USD each) under a 3 USD budget: 3 entries, one per identity.
    procs = [subprocess.Popen([sys.executable, str(RACER), pg_url, "create", f"w{n}"], stdout=subprocess.PIPE,
                              text=True, cwd=REPO) for n in range(4)]
    outs = [p.communicate(timeout=120)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    store = PostgresJournal(pg_url)
    entries = store.list_entries(limit=100)
    print(f"\nguarded creates: {len(entries)} entries from 4 racing processes x 5 identities, budget fits 3")
    assert len(entries) == 3 and len({e.identity for e in entries}) == 3
    created = sum(line.startswith("created") for out in outs for line in out.splitlines())
    assert created == 3
    store.close()


def test_a_released_reservation_frees_the_budget_and_one_in_doubt_stays(pg_url: str) -> None:
    store = PostgresJournal(pg_url)
    budget = Budget(since=time.time() - 60, limit_usd=2.0)
    first = store.create_guarded(_new("a"), after_id=None, budget=budget).entry
    second = store.create_guarded(_new("b"), after_id=None, budget=budget).entry
    assert first and second
    refused = store.create_guarded(_new("c"), after_id=None, budget=budget)
    assert refused.entry is None and refused.spent_usd == pytest.approx(2.0)
    store.update(first.id, state=states.NOT_SUBMITTED)  # never reached fal: released
    store.update(second.id, state=states.UNKNOWN_SUBMIT)  # may be billed: stays counted
    assert store.create_guarded(_new("c"), after_id=None, budget=budget).entry is not None
    assert store.create_guarded(_new("d"), after_id=None, budget=budget).entry is None
    store.close()


def test_an_outage_keeps_state_changes_in_order_and_refuses_new_spend(pg_cluster: PgCluster) -> None:
    url = pg_cluster.new_database("outage")
    store = PostgresJournal(url)
    entry = store.create(_new("paid"))
    store.update(entry.id, state=states.SUBMITTING)
    pg_cluster.stop("immediate")
    try:
        kept = store.update(entry.id, state=states.QUEUED, request_id="req-kept", note="fal accepted it")
        assert kept.request_id == "req-kept" and kept.state == states.QUEUED and store.pending_writes == 1
        store.update(entry.id, state=states.RUNNING)
        assert store.pending_writes == 2
        with pytest.raises(JournalUnavailable, match="no new paid request"):
            store.create_guarded(_new("new"), after_id=None, budget=Budget(0.0, 100.0))
        with pytest.raises(JournalUnavailable):
            store.list_entries()
    finally:
        pg_cluster.start()
    assert store.flush() == 0
    back = store.get(entry.id)
    assert back is not None and back.request_id == "req-kept" and back.state == states.RUNNING
    assert [e.state for e in store.events(entry.id)] == ["preparing", "submitting", "queued", "running"]
    store.close()


def test_without_the_driver_a_postgresql_url_is_a_clear_message(pg_url: str) -> None:
    # A Python where psycopg cannot be imported (None in sys.modules makes the import fail, as on a
    # machine without the package); the pack's own code is the real one.
    code = ("import sys; sys.modules['psycopg'] = None\n"
            "from nodes.journal.config import open_journal, JournalSettingInvalid\n"
            f"try:\n    open_journal({pg_url!r})\nexcept JournalSettingInvalid as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "psycopg[binary]" in out.stdout and "comfyui-luma-fal[postgres]" in out.stdout
    assert PASSWORD not in out.stdout + out.stderr


def test_after_a_server_restart_the_pool_reconnects_without_an_error(pg_cluster: PgCluster) -> None:
    store = PostgresJournal(pg_cluster.new_database("restart"))
    entry = store.create(_new("before"))
    pg_cluster.restart()  # the pooled connections are now closed by the server
    assert store.get(entry.id) == entry
    assert store.update(entry.id, state=states.QUEUED, request_id="r").request_id == "r"
    assert store.pending_writes == 0
    store.close()
