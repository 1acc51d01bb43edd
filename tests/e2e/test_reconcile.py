"""Issue 18 in a real ComfyUI: a submit whose answer never arrived is found in fal's own records.

The sandbox accepts the submit and then loses its answer (a reset, a gateway 502/504, an answer later
than max_total_time), or ComfyUI is SIGKILLed while the submit is under way. In each case the paid
result ends up on disk with its receipt, the inbox row carries fal's request id and says "recovered",
and fal saw exactly one submit. A submit that truly never reached fal is marked not accepted once the
window has passed, and only then does a re-run submit. Listing refused / failing / slow: the old
message, no crash, a bounded number of calls. Billing events: billed figures beside the estimate.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nodes.journal.store import JournalEntry
from tests.e2e.pack_helpers import example_prompt, mp4_facts, node_of_type, submits
from tools.harness import ComfyHost, start_host
from tools.layout import TEST_OUTPUT
from tools.procs import ComfyOptions

I2V = "LumaFalRay32ImageToVideo"
EXAMPLE = "luma_ray32_image_to_video"
NAME = "reconcile"
# LUMA_FAL_RECONCILE_WINDOW_S for this ComfyUI: how long a lost submit may still be running. Long enough for
# the sandbox to render two takes side by side on a busy 2-core machine (fal lists a request once it ended).
WINDOW_S = 20


class Host:
    def __init__(self, fal: Any, version: str) -> None:
        name = f"{NAME}-{version}"
        shutil.rmtree(TEST_OUTPUT / "comfy" / name, ignore_errors=True)
        extra_env = {"LUMA_FAL_RECONCILE_WINDOW_S": str(WINDOW_S), "LUMA_FAL_READ_BILLING": "1"}
        self.host: ComfyHost = start_host(ComfyOptions(name=name, host=version, log_dir=TEST_OUTPUT / "logs",
                                                       extra_env=extra_env), sandbox=fal)

    def store(self) -> Any:
        from nodes.journal.sqlite import SqliteJournal

        return SqliteJournal(self.host.user_dir / "comfyui-luma-fal" / "journal.sqlite3")

    def newest(self, n: int = 1) -> list[JournalEntry]:
        return self.store().list_entries(limit=n)

    def __enter__(self) -> Host:
        return self

    def __exit__(self, *exc: object) -> None:
        self.host.stop()

    def row(self, entry_id: int) -> dict[str, Any]:
        rows = self.host.client.get_json("/luma_fal/requests", limit="50")["entries"]
        return next(r for r in rows if r["id"] == entry_id)


@pytest.fixture(scope="module")
def comfy_r(comfy_fal: Any, comfy_version: str) -> Iterator[Host]:
    with Host(comfy_fal, comfy_version) as holder:
        yield holder


def _accepted(sandbox: Any) -> list[str]:
    """Request ids fal (the sandbox) created: submits that reached it, answered or not."""
    return [c["request_id"] for c in submits(sandbox) if c.get("request_id")]


def _calls(sandbox: Any, point: str) -> int:
    return sum(1 for c in sandbox.log() if c.get("point") == point)


def _wait_entry(holder: Host, entry_id: int, state: str, timeout: float = 120) -> JournalEntry:
    deadline = time.monotonic() + timeout
    entry = holder.store().get(entry_id)
    while (entry is None or entry.state != state) and time.monotonic() < deadline:
        time.sleep(0.2)
        entry = holder.store().get(entry_id)
    assert entry is not None and entry.state == state, entry
    return entry


def _check_saved(holder: Host, entry: JournalEntry, request_id: str) -> None:
    """The paid result is on disk with its receipt, the journal and the inbox name fal's request id."""
    assert entry.state == "done" and entry.request_id == request_id, entry
    video = Path(entry.files["video"][0])
    assert mp4_facts(video)["frames"] == 121
    receipt = json.loads(video.with_name(video.name + ".json").read_text())
    assert receipt["request_id"] == request_id
    from nodes.media.metadata import read_mp4_tags

    assert read_mp4_tags(video)["fal_request_id"] == request_id
    row = holder.row(entry.id)
    assert row["request_id"] == request_id and row["recovered"] is True and row["state"] == "done", row
    assert (entry.fal_records or {}).get("verdict") == "adopted"


LOST = {
    "reset": {"point": "submit", "kind": "after_accept"},
    "gateway_502": {"point": "submit", "kind": "after_accept", "status": 502},
    "gateway_504": {"point": "submit", "kind": "after_accept", "status": 504},
}


@pytest.mark.parametrize("fault", sorted(LOST))
def test_a_lost_submit_answer_is_found_in_fals_records_and_saved(comfy_r: Host, sandbox: Any, fault: str) -> None:
    host = comfy_r.host
    sandbox.configure(queue_seconds=0.2, run_seconds=1)
    sandbox.inject(LOST[fault])
    prompt = example_prompt(host, EXAMPLE)
    node_id, node = node_of_type(prompt, I2V)
    node["inputs"]["seed"] = 100 + sorted(LOST).index(fault)
    run = host.submit(prompt)
    looking = run.wait_for_event(lambda e: e.type == "luma_fal.status" and e.data.get("phase") == "reconciling",
                                 timeout=60)
    assert "Looking for the request at fal" in looking.data["text"]
    result = run.wait(timeout=120)

    assert result.ok, result.describe()
    [request_id] = _accepted(sandbox)
    assert len(submits(sandbox)) == 1  # never re-sent
    [entry] = comfy_r.newest()
    _check_saved(comfy_r, entry, request_id)
    assert [host.output_path(f) for f in result.files(node_id)] == [Path(entry.files["video"][0])]


def test_identical_payloads_in_the_same_window_go_each_to_their_own_entry(comfy_r: Host, sandbox: Any) -> None:
    host = comfy_r.host
    sandbox.configure(queue_seconds=0.2, run_seconds=1)
    sandbox.inject({**LOST["gateway_502"], "times": 2})
    prompt = example_prompt(host, EXAMPLE, **{I2V: {"takes": 2, "seed": 200}})  # two takes: one payload
    result = host.run(prompt, timeout=180)

    assert result.ok, result.describe()
    accepted = _accepted(sandbox)
    assert len(accepted) == 2 == len(submits(sandbox))
    bodies = [c["payload"] for c in submits(sandbox)]
    assert bodies[0] == bodies[1]  # fal cannot tell them apart by payload: one each, oldest first
    entries = comfy_r.newest(2)
    assert sorted(e.request_id for e in entries) == sorted(accepted)
    for entry in entries:
        _check_saved(comfy_r, entry, str(entry.request_id))


def test_a_submit_delayed_past_max_total_time_is_saved_in_the_background(comfy_r: Host, sandbox: Any) -> None:
    host = comfy_r.host
    sandbox.configure(queue_seconds=0.2, run_seconds=1)
    sandbox.inject({"point": "submit", "kind": "after_accept", "seconds": 45})
    prompt = example_prompt(host, EXAMPLE, **{I2V: {"seed": 300, "max_total_time": 30}})
    result = host.run(prompt, timeout=120)

    assert result.status == "error", result.describe()
    assert "in the background" in result.error["exception_message"]
    [entry] = comfy_r.newest()
    entry = _wait_entry(comfy_r, entry.id, "done")
    [request_id] = _accepted(sandbox)
    _check_saved(comfy_r, entry, request_id)
    again = host.run(prompt, timeout=60)  # the re-run finds the saved result: nothing paid again
    assert again.ok, again.describe()
    assert len(submits(sandbox)) == 1


def test_a_kill_during_submit_is_recovered_after_restart(comfy_r: Host, sandbox: Any) -> None:
    sandbox.configure(queue_seconds=0.2, run_seconds=1)
    sandbox.inject({"point": "submit", "kind": "after_accept", "seconds": 60})
    prompt = example_prompt(comfy_r.host, EXAMPLE, **{I2V: {"seed": 400}})
    comfy_r.host.submit(prompt)
    deadline = time.monotonic() + 60
    while not submits(sandbox) and time.monotonic() < deadline:
        time.sleep(0.05)
    comfy_r.host.kill()
    comfy_r.host = host = comfy_r.host.restarted()

    [entry] = comfy_r.newest()
    entry = _wait_entry(comfy_r, entry.id, "done")
    [request_id] = _accepted(sandbox)
    _check_saved(comfy_r, entry, request_id)
    result = host.run(prompt, timeout=60)
    assert result.ok, result.describe()
    assert len(submits(sandbox)) == 1
    assert "recovered from fal's records" in host.log_text()


def test_a_submit_that_never_reached_fal_is_not_accepted_then_a_rerun_submits_once(comfy_r: Host,
                                                                                  sandbox: Any) -> None:
    host = comfy_r.host
    sandbox.configure(queue_seconds=0.2, run_seconds=1)
    sandbox.inject({"point": "submit", "kind": "drop"})  # the gateway drops it: fal never has it
    prompt = example_prompt(host, EXAMPLE, **{I2V: {"seed": 500}})
    first = host.run(prompt, timeout=120)

    assert first.status == "error", first.describe()
    assert "never reached fal" in first.error["exception_message"]
    [entry] = comfy_r.newest()
    assert entry.state == "not_submitted" and entry.fal_records["verdict"] == "not_accepted", entry
    assert entry.fal_records["looked_at"] - entry.fal_records["submitted_around"] >= WINDOW_S
    assert comfy_r.row(entry.id)["not_accepted"] is True
    assert _accepted(sandbox) == []
    again = host.run(prompt, timeout=120)
    assert again.ok, again.describe()
    assert len(_accepted(sandbox)) == 1


@pytest.mark.parametrize("trouble", ["refused", "http_500", "slow"])
def test_records_that_cannot_be_read_give_the_old_message_without_a_retry_storm(comfy_r: Host, sandbox: Any,
                                                                                trouble: str) -> None:
    host = comfy_r.host
    sandbox.configure(queue_seconds=0.2, run_seconds=1)
    if trouble == "refused":
        sandbox.platform(key_scopes=["billing"])
    elif trouble == "http_500":
        sandbox.inject({"point": "requests", "kind": "http", "status": 500, "times": 1000})
    else:
        sandbox.inject({"point": "requests", "kind": "slow", "seconds": 8, "times": 1000})
    sandbox.inject(LOST["gateway_502"])
    prompt = example_prompt(host, EXAMPLE, **{I2V: {"seed": 600 + ["refused", "http_500", "slow"].index(trouble)}})
    first = host.run(prompt, timeout=180)

    assert first.status == "error", first.describe()
    message = first.error["exception_message"]
    assert "NOT re-sent" in message and "https://fal.ai/dashboard" in message, message
    if trouble == "refused":
        assert "Give the key read access" in message
        # fal's platform error envelope reaches the user: its type and message
        assert "HTTP 403, authorization_error: This API key does not have permission" in message, message
        assert _calls(sandbox, "requests") == 1
        again = host.run(prompt, timeout=120)
        assert again.status == "error" and "Give the key read access" in again.error["exception_message"]
        assert "change the seed" in again.error["exception_message"]
    [entry] = comfy_r.newest()
    if trouble != "refused":  # the search goes on in the background once: wait for it to give up
        deadline = time.monotonic() + 90
        while f"(journal entry {entry.id}): " not in host.log_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert f"(journal entry {entry.id}): " in host.log_text()
    assert comfy_r.store().get(entry.id).state == "unknown_submit"  # never concluded without fal's records
    calls = _calls(sandbox, "requests")
    print(f"\nrecords {trouble}: {calls} listing call(s)")
    assert 1 <= calls <= 20  # a few looks of two tries each over the window, then one in the background (16 seen)
    assert len(submits(sandbox)) == 1


def test_billing_events_show_what_fal_billed_and_the_budget_uses_it(comfy_r: Host, sandbox: Any) -> None:
    host = comfy_r.host
    sandbox.configure(queue_seconds=0.2, run_seconds=1)
    sandbox.platform(billing_factor=1.5)  # fal bills 50 % more than the pack's table says
    prompt = example_prompt(host, EXAMPLE, **{I2V: {"seed": 700}})
    before = host.client.get_json("/luma_fal/money")["spent_today"]
    result = host.run(prompt, timeout=120)
    assert result.ok, result.describe()
    [entry] = comfy_r.newest()
    deadline = time.monotonic() + 60
    while comfy_r.store().get(entry.id).billed_usd is None and time.monotonic() < deadline:
        time.sleep(0.2)
    entry = comfy_r.store().get(entry.id)
    assert entry.billed_usd == pytest.approx(entry.price_usd * 1.5)
    row = comfy_r.row(entry.id)
    assert row["billed_usd"] == pytest.approx(entry.billed_usd) and row["drift"] == pytest.approx(0.5)
    assert row["drift_flag"] is True
    ledger = host.client.get_json("/luma_fal/ledger")
    assert ledger["today"]["billed_usd"] >= entry.billed_usd
    after = host.client.get_json("/luma_fal/money")["spent_today"]
    assert after - before == pytest.approx(entry.billed_usd)  # today's spend counts fal's bill, not the estimate
