"""The journal store: entries, events, paging, pruning, damaged files, crashes and two writers."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from nodes.journal import states
from nodes.journal.config import JournalSettingInvalid, journal_url, open_journal, retention_days
from nodes.journal.identity import request_identity
from nodes.journal.sqlite import SqliteJournal
from nodes.journal.store import JournalStore, NewEntry
from tests.support.postgres import pg_cluster, pg_url  # noqa: F401  (fixtures)

WRITER = Path(__file__).with_name("writer.py")
T2V = "luma/agent/ray/v3.2/text-to-video"


def _new(identity: str = "id-1", **kw) -> NewEntry:
    base = dict(identity=identity, endpoint_id=T2V, payload={"prompt": "a cat", "image_url": "upload://0"},
                inputs={"upload://0": {"label": "start_image", "content": "abc"}}, output_kind="video",
                stem="ray32-t2v", node_name="Luma Ray 3.2 Text to Video (fal)", owner="me", seed=7,
                price_usd=0.5, price_source="prices.json: $0.50", node_id="3", prompt_id="p-1")
    base.update(kw)
    return NewEntry(**base)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> JournalStore:
    """Every contract test runs on both stores: the SQLite file and a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return SqliteJournal(tmp_path / "journal.sqlite3")
    from nodes.journal.postgres import PostgresJournal

    journal = PostgresJournal(request.getfixturevalue("pg_url"))
    request.addfinalizer(journal.close)
    return journal


def test_an_entry_keeps_everything_and_records_each_state_change(store: JournalStore) -> None:
    entry = store.create(_new())
    assert entry.state == states.PREPARING and entry.request_id is None and entry.price_usd == 0.5
    store.update(entry.id, state=states.SUBMITTING)
    store.update(entry.id, state=states.QUEUED, request_id="req-1", submitted_at=123.0)
    store.update(entry.id, state=states.RUNNING)
    store.update(entry.id, state=states.COMPLETED, result={"video": {"url": "https://x/v.mp4"}})
    done = store.update(entry.id, state=states.DONE, files={"video": ["/out/a.mp4"]},
                        timings={"queue_seconds": 1.5}, finished_at=130.0)
    assert done.result == {"video": {"url": "https://x/v.mp4"}} and done.saved_paths() == ["/out/a.mp4"]
    assert done.timings == {"queue_seconds": 1.5} and done.finished and done.payload["image_url"] == "upload://0"
    assert [e.state for e in store.events(entry.id)] == [
        "preparing", "submitting", "queued", "running", "completed", "done"]
    assert store.get_by_request_id("req-1") == done == store.get(entry.id)
    assert store.latest_for_identity("id-1") == done
    assert store.get(999) is None and store.get_by_request_id("nope") is None


def test_list_is_newest_first_with_paging_and_state_filter(store: JournalStore) -> None:
    ids = [store.create(_new(f"id-{n}")).id for n in range(7)]
    store.update(ids[2], state=states.DONE)
    first = store.list_entries(limit=3)
    assert [e.id for e in first] == ids[6:3:-1]
    second = store.list_entries(limit=3, before_id=first[-1].id)
    assert [e.id for e in second] == ids[3:0:-1]
    assert [e.id for e in store.list_entries(limit=3, before_id=second[-1].id)] == [ids[0]]
    assert [e.id for e in store.list_entries(states=[states.DONE])] == [ids[2]]
    assert ids[2] not in [e.id for e in store.in_flight()] and len(store.in_flight()) == 6
    with pytest.raises(ValueError, match="unknown state"):
        store.list_entries(states=["bogus"])


def test_update_refuses_unknown_fields_and_states(store: JournalStore) -> None:
    entry = store.create(_new())
    with pytest.raises(ValueError, match="cannot update"):
        store.update(entry.id, identity="other")
    with pytest.raises(ValueError, match="unknown state"):
        store.update(entry.id, state="finished-ish")
    with pytest.raises(KeyError):
        store.update(12345, state=states.DONE)


def test_claim_is_compare_and_set(store: JournalStore) -> None:
    entry = store.create(_new())
    assert store.claim(entry.id, "me", "you")
    assert not store.claim(entry.id, "me", "them")
    assert store.get(entry.id).owner == "you"


def _age(store: JournalStore, entry_id: int, days: float) -> None:
    """Pretend the entry was last changed ``days`` ago."""
    if isinstance(store, SqliteJournal):
        conn = sqlite3.connect(store.path)
        with conn:
            conn.execute("UPDATE journal_entries SET updated_at = updated_at - ? WHERE id = ?",
                         (days * 86400, entry_id))
        conn.close()
        return
    import psycopg

    with psycopg.connect(store.url) as conn:  # type: ignore[attr-defined]
        conn.execute("UPDATE journal_entries SET updated_at = updated_at - %s WHERE id = %s", (days * 86400, entry_id))


def test_prune_removes_only_old_finished_entries(store: JournalStore) -> None:
    old_done = store.create(_new("a"))
    store.update(old_done.id, state=states.DONE)
    old_running = store.create(_new("b"))
    store.update(old_running.id, state=states.RUNNING)
    fresh = store.create(_new("c"))
    store.update(fresh.id, state=states.FAILED)
    _age(store, old_done.id, 31)
    _age(store, old_running.id, 31)
    assert store.prune(30 * 86400) == 1
    assert store.get(old_done.id) is None and store.events(old_done.id) == []
    assert store.get(old_running.id) is not None and store.get(fresh.id) is not None


def test_open_journal_prunes_at_start_and_reads_its_settings(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'j.sqlite3'}"
    first = open_journal(url)
    entry = first.create(_new())
    first.update(entry.id, state=states.CANCELLED)
    _age(first, entry.id, 3)  # type: ignore[arg-type]
    assert open_journal(url, prune_days=5).get(entry.id) is not None
    assert open_journal(url, prune_days=2).get(entry.id) is None
    assert journal_url(tmp_path, {}) == f"sqlite:///{(tmp_path / 'journal.sqlite3').resolve()}"
    assert journal_url(tmp_path, {"LUMA_FAL_JOURNAL_URL": "sqlite:////x/y.db"}) == "sqlite:////x/y.db"
    assert retention_days({}) == 30.0 and retention_days({"LUMA_FAL_JOURNAL_DAYS": "2.5"}) == 2.5
    with pytest.raises(JournalSettingInvalid, match="LUMA_FAL_JOURNAL_DAYS"):
        retention_days({"LUMA_FAL_JOURNAL_DAYS": "soon"})
    with pytest.raises(JournalSettingInvalid, match="cannot be reached") as refused:
        open_journal("postgresql://luma:sekrit@127.0.0.1:1/journal")  # nothing listens on port 1
    assert "sekrit" not in str(refused.value) and "luma:***@127.0.0.1:1" in str(refused.value)
    with pytest.raises(JournalSettingInvalid, match="LUMA_FAL_JOURNAL_URL"):
        open_journal("mysql://db/journal")


def test_a_garbage_file_is_moved_aside_and_a_fresh_journal_starts(tmp_path: Path, caplog) -> None:
    path = tmp_path / "journal.sqlite3"
    garbage = b"this is not a database " * 500
    path.write_bytes(garbage)
    store = SqliteJournal(path)
    assert store.moved_aside is not None and store.moved_aside.name.startswith("journal.sqlite3.damaged-")
    assert store.moved_aside.read_bytes() == garbage
    assert "damaged" in caplog.text and str(store.moved_aside) in caplog.text
    assert store.create(_new()).id == 1


def test_a_truncated_database_is_moved_aside(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    store = SqliteJournal(path)
    for n in range(50):
        store.create(_new(f"id-{n}", payload={"prompt": "x" * 500}))
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] + b"\0" * 4096 + data[len(data) // 2 + 4096:])
    reopened = SqliteJournal(path)
    assert reopened.moved_aside is not None
    assert reopened.list_entries() == []


def test_identity_depends_on_content_and_seed_not_on_upload_urls() -> None:
    base = request_identity(T2V, {"prompt": "p", "image_url": "upload://0"}, {"upload://0": "hash-a"}, 1)
    assert base == request_identity(T2V, {"image_url": "upload://0", "prompt": "p"}, {"upload://0": "hash-a"}, 1)
    assert base != request_identity(T2V, {"prompt": "p", "image_url": "upload://0"}, {"upload://0": "hash-b"}, 1)
    assert base != request_identity(T2V, {"prompt": "p", "image_url": "upload://0"}, {"upload://0": "hash-a"}, 2)
    assert base != request_identity(T2V + "x", {"prompt": "p", "image_url": "upload://0"}, {"upload://0": "hash-a"}, 1)


def _spawn(path: Path, tag: str, count: int) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, str(WRITER), str(path), tag, str(count)],
                            stdout=subprocess.PIPE, text=True)


def test_a_writer_killed_at_any_instant_leaves_every_committed_write(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    SqliteJournal(path)
    for kill_after in (1, 7, 23):  # different instants: mid-entry, between entries
        proc = _spawn(path, f"w{kill_after}", 1000)
        committed: dict[int, str] = {}
        assert proc.stdout is not None
        for _ in range(kill_after):
            _, entry_id, state = proc.stdout.readline().split()
            committed[int(entry_id)] = state
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        store = SqliteJournal(path)
        assert store.moved_aside is None
        conn = sqlite3.connect(path)
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        conn.close()
        order = ["preparing", "queued", "running", "completed", "done"]
        for entry_id, state in committed.items():
            entry = store.get(entry_id)
            assert entry is not None
            assert order.index(entry.state) >= order.index(state)  # the write printed was committed
            assert [e.state for e in store.events(entry_id)][: order.index(state) + 1] == order[: order.index(state) + 1]


def test_two_processes_writing_at_once_do_not_corrupt_it(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    SqliteJournal(path)
    procs = [_spawn(path, tag, 40) for tag in ("a", "b")]
    for proc in procs:
        out, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0, out
    store = SqliteJournal(path)
    entries = store.list_entries(limit=1000)
    assert len(entries) == 80 and all(e.state == states.DONE for e in entries)
    assert {e.owner for e in entries} == {"a", "b"}
    assert all(len(store.events(e.id)) == 5 for e in entries)
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()


def test_take_zero_keeps_the_identity_requests_had_before_takes_and_other_takes_differ() -> None:
    payload, content = {"prompt": "p", "image_url": "upload://0"}, {"upload://0": "hash-a"}
    # The digest the identity function gave before fan-outs existed (integration branch 8d88577): journal
    # entries written then must still match a one-take run of the same inputs.
    before = "243f10911def834363131cb8ab6a2209729c35dcbe97910a76af6eeb15eafb2f"
    assert request_identity("luma/agent/ray/v3.2/text-to-video", payload, content, 7) == before
    assert request_identity("luma/agent/ray/v3.2/text-to-video", payload, content, 7, take=0) == before
    takes = {request_identity("luma/agent/ray/v3.2/text-to-video", payload, content, 7, take=t) for t in range(16)}
    assert len(takes) == 16


def test_guarded_create_holds_one_entry_per_identity_and_the_budget(store: JournalStore) -> None:
    from nodes.journal.store import Budget

    budget = Budget(since=0.0, limit_usd=1.0)  # _new() costs 0.5
    first = store.create_guarded(_new("g-1"), after_id=None, budget=budget)
    assert first.entry is not None and first.entry.identity == "g-1"
    again = store.create_guarded(_new("g-1"), after_id=None, budget=budget)  # someone came first
    assert again.entry is None and again.latest == first.entry and again.spent_usd is None
    store.update(first.entry.id, state=states.FAILED)  # never reached fal: its reservation is released
    retry = store.create_guarded(_new("g-1"), after_id=first.entry.id, budget=budget)
    assert retry.entry is not None
    assert store.create_guarded(_new("g-2"), after_id=None, budget=budget).entry is not None
    over = store.create_guarded(_new("g-3"), after_id=None, budget=budget)
    assert over.entry is None and over.spent_usd == pytest.approx(1.0)
    assert store.spent_since(0.0) == pytest.approx(1.0)
    assert store.spent_since(0.0, leave_out_prompt="p-1") == 0.0  # its unfinished entries are the prompt's own
    assert store.create_guarded(_new("g-4", price_usd=None), after_id=None, budget=budget).entry is not None


def test_heartbeats_are_kept_per_worker(store: JournalStore) -> None:
    store.beat("gpu-01/12/34", {"pid": 12})
    store.beat("gpu-02/56/78", {"pid": 56})
    first = store.workers()["gpu-01/12/34"]
    store.beat("gpu-01/12/34", {"pid": 12})
    beats = store.workers()
    assert set(beats) == {"gpu-01/12/34", "gpu-02/56/78"} and beats["gpu-01/12/34"] >= first


def test_reconcile_columns_round_trip_on_both_stores(store: JournalStore) -> None:
    # Issue 18's migration 2 (/work/coord/reconcile-store.md): billed_usd and fal_records, on SQLite and PostgreSQL.
    entry = store.create(_new("r-1"))
    assert entry.billed_usd is None and entry.fal_records is None
    done = store.update(entry.id, billed_usd=0.42, fal_records={"verdict": "adopted", "billing": {"usd": 0.42}})
    assert done.billed_usd == 0.42 and done.fal_records == {"verdict": "adopted", "billing": {"usd": 0.42}}
    assert store.get(entry.id) == done
