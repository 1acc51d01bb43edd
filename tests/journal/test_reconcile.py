"""Matching journal entries with fal's request records (nodes/journal/reconcile.py): by the canonical JSON of
the payload sent, never by time alone; one to one, oldest entry first; ids already journaled never reused."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import pytest

from nodes.journal.reconcile import (
    DEFAULT_LOST_WAIT_S,
    LEAD_S,
    MIN_LOST_WAIT_S,
    lost_wait,
    billing_drift,
    canonical,
    match,
    not_accepted_yet_possible,
    sent_payload,
    window_seconds,
)
from nodes.journal.store import JournalEntry

EP = "luma/agent/ray/v3.2/image-to-video"


@dataclass(frozen=True)
class Rec:
    request_id: str
    json_input: Any
    sent_at: float | None = None
    started_at: float | None = None
    ended_at: float | None = None


def _entry(entry_id: int, created: float, payload: dict[str, Any], url: str | None = "https://cdn/x.png") -> JournalEntry:
    return JournalEntry(id=entry_id, identity=f"id{entry_id}", endpoint_id=EP, state="unknown_submit", request_id=None,
                        seed=entry_id, payload=payload, inputs={"@upload:image_url": {"label": "image", "url": url}},
                        output_kind="video", stem="s", price_usd=0.15, price_source="table", node_id="1",
                        node_name="I2V", prompt_id=None, owner="h/1/1", created_at=created, updated_at=created + 1,
                        submitted_at=None, finished_at=None, result=None)


PAYLOAD = {"prompt": "a boat", "image_url": "@upload:image_url", "resolution": "540p"}
SENT = {"resolution": "540p", "prompt": "a boat", "image_url": "https://cdn/x.png"}


def test_the_payload_sent_carries_the_upload_urls_and_canonical_json_ignores_key_order() -> None:
    entry = _entry(1, 1000.0, PAYLOAD)
    assert sent_payload(entry) == SENT
    assert canonical(sent_payload(entry)) == canonical(dict(reversed(list(SENT.items()))))


def test_one_record_with_the_same_payload_matches() -> None:
    [found] = match([_entry(1, 1000.0, PAYLOAD)], [Rec("r-other", {**SENT, "prompt": "a car"}, 1001.0),
                                                   Rec("r-1", SENT, 1002.0)])
    assert (found.entry_id, found.request_id) == (1, "r-1")


def test_time_alone_never_matches() -> None:
    # The only record is sent right at the submit, but its payload differs (another upload URL).
    assert match([_entry(1, 1000.0, PAYLOAD)], [Rec("r-1", {**SENT, "image_url": "https://cdn/y.png"}, 1001.0)]) == []
    assert match([_entry(1, 1000.0, PAYLOAD)], [Rec("r-1", None, 1001.0)]) == []


def test_identical_payloads_go_one_to_one_oldest_entry_to_earliest_record() -> None:
    entries = [_entry(2, 1005.0, PAYLOAD), _entry(1, 1000.0, PAYLOAD)]
    records = [Rec("late", SENT, 1010.0), Rec("early", SENT, 1003.0)]
    found = {m.entry_id: m.request_id for m in match(entries, records)}
    assert found == {1: "early", 2: "late"}


def test_more_entries_than_records_leaves_the_newest_unmatched_and_taken_ids_are_never_reused() -> None:
    entries = [_entry(1, 1000.0, PAYLOAD), _entry(2, 1005.0, PAYLOAD)]
    assert [(m.entry_id, m.request_id) for m in match(entries, [Rec("only", SENT, 1003.0)])] == [(1, "only")]
    assert match(entries, [Rec("only", SENT, 1003.0)], taken=["only"]) == []


def test_a_record_sent_well_before_the_entry_existed_is_not_its_request() -> None:
    assert match([_entry(1, 10_000.0, PAYLOAD)], [Rec("old", SENT, 10_000.0 - LEAD_S - 1)]) == []


def test_absence_proves_nothing_inside_the_window() -> None:
    entry = replace(_entry(1, 1000.0, PAYLOAD), submitted_at=1000.0)
    assert not_accepted_yet_possible(entry, 1000.0 + 29, 30.0)
    assert not not_accepted_yet_possible(entry, 1000.0 + 31, 30.0)


def test_window_setting() -> None:
    assert window_seconds({}) == 1800.0 and window_seconds({"LUMA_FAL_RECONCILE_WINDOW_S": "6"}) == 6.0
    for bad in ("x", "0", "-3"):
        with pytest.raises(ValueError, match="LUMA_FAL_RECONCILE_WINDOW_S"):
            window_seconds({"LUMA_FAL_RECONCILE_WINDOW_S": bad})


def test_the_wait_for_a_lost_submit_follows_the_slowest_recent_run_at_fal() -> None:
    records = [Rec("a", None, sent_at=100.0, started_at=110.0, ended_at=160.0),   # 60 s queue + run
               Rec("b", None, sent_at=200.0, started_at=201.0, ended_at=290.0),   # 90 s: the slowest
               Rec("c", None, sent_at=None, started_at=300.0, ended_at=320.0),    # no sent_at: from start
               Rec("d", None, sent_at=400.0)]                                      # not ended: no evidence
    wait = lost_wait(records)
    assert wait.slowest_s == 90.0 and wait.records == 3
    assert wait.seconds == 90.0 * 1.5 + 15.0
    assert "slowest of 3" in wait.reason() and "150 s" in wait.reason()


def test_without_records_the_wait_is_the_documented_default_and_never_below_the_floor() -> None:
    none = lost_wait([])
    assert none.seconds == DEFAULT_LOST_WAIT_S and none.slowest_s is None and "default" in none.reason()
    assert lost_wait([Rec("a", None, sent_at=10.0, ended_at=10.0)]).seconds == MIN_LOST_WAIT_S


def test_drift_between_estimate_and_bill() -> None:
    assert billing_drift(0.30, 0.36) == pytest.approx(0.2)
    assert billing_drift(0.30, 0.30) == 0.0
    assert billing_drift(None, 0.3) is None and billing_drift(0.0, 0.3) is None and billing_drift(0.3, None) is None


def test_migration_2_adds_the_billed_figure_and_the_evidence_to_an_existing_journal(tmp_path: Any) -> None:
    import sqlite3

    from nodes.journal import schema
    from nodes.journal.sqlite import SqliteJournal
    from nodes.journal.store import NewEntry

    path = tmp_path / "journal.sqlite3"
    conn = sqlite3.connect(path)  # a journal written by the previous release (schema version 1)
    conn.execute(schema.META_TABLE)
    for statement in schema.migration_statements(1, "sqlite"):
        conn.execute(statement)
    conn.execute("INSERT INTO journal_meta (name, value) VALUES ('schema_version', '1')")
    conn.execute("INSERT INTO journal_entries (identity, endpoint_id, state, payload, inputs, output_kind, stem, "
                 "price_source, node_name, owner, created_at, updated_at, files, timings) VALUES "
                 "('i', 'e', 'done', '{}', '{}', 'video', 's', 't', 'n', 'o', 1, 1, '{}', '{}')")
    conn.commit()
    conn.close()

    store = SqliteJournal(path)
    [old] = store.list_entries()
    assert old.billed_usd is None and old.fal_records is None
    new = store.create(NewEntry(identity="j", endpoint_id=EP, payload={}, inputs={}, output_kind="video", stem="s",
                                node_name="n", owner="o"))
    evidence = {"verdict": "adopted", "request_id": "r-1", "window": [1.0, 2.0]}
    updated = store.update(new.id, billed_usd=0.225, fal_records=evidence, note="fal billed")
    assert updated.billed_usd == 0.225 and updated.fal_records == evidence
    assert store.migrate() == schema.LATEST_VERSION >= 2
