"""Issue 11 in a real ComfyUI: a paid result is never lost and never paid twice.

ComfyUI is SIGKILLed while a request is uploading, submitting, queued, running and downloading,
restarted on the SAME user and output folders, and the same workflow is queued again; the sandbox's
call log says how many submits reached "fal". Also: a request that finished while ComfyUI was down
is saved without re-queueing, a result past fal's retention gives a message naming the request,
an unknown submit is never re-sent, and the key is in no journal or receipt byte.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from nodes.journal.store import JournalEntry
from nodes.luma.prices import price_of
from tests.e2e.pack_helpers import (
    all_takes_in_queue,
    calls_at,
    example_prompt,
    mp4_facts,
    node_of_type,
    saved_video,
)
from tools.harness import ComfyHost, start_host
from tools.layout import REPO, TEST_FAL_KEY, TEST_OUTPUT
from tools.procs import ComfyOptions

I2V = "LumaFalRay32ImageToVideo"
EXAMPLE = "luma_ray32_image_to_video"
NAME = "journal-crash"
WINDOW_S = 15.0


class Crashable:
    """One ComfyUI that tests kill and restart on the same folders."""

    def __init__(self, fal: Any) -> None:
        shutil.rmtree(TEST_OUTPUT / "comfy" / NAME, ignore_errors=True)  # folders (and journal) of this module only
        # How long a lost submit may still be running at fal (issue 18): short for tests.
        self.host: ComfyHost = start_host(ComfyOptions(name=NAME, log_dir=TEST_OUTPUT / "logs", extra_env={
            "LUMA_FAL_RECONCILE_WINDOW_S": str(WINDOW_S)}), sandbox=fal)

    @property
    def journal_path(self) -> Path:
        return self.host.user_dir / "comfyui-luma-fal" / "journal.sqlite3"

    def entry(self, request_id: str) -> JournalEntry | None:
        from nodes.journal.sqlite import SqliteJournal

        return SqliteJournal(self.journal_path).get_by_request_id(request_id)

    def events(self, entry_id: int) -> list[str]:
        """The entry's state changes (notes left out)."""
        from nodes.journal.sqlite import SqliteJournal

        return [e.state for e in SqliteJournal(self.journal_path).events(entry_id) if e.state != "note"]


@pytest.fixture(scope="module")
def crashable(comfy_fal: Any) -> Iterator[Crashable]:
    holder = Crashable(comfy_fal)
    try:
        yield holder
    finally:
        holder.host.stop()


def _phase(phase: str):
    return lambda e: e.type == "luma_fal.status" and e.data.get("phase") == phase


def _submits(sandbox: Any) -> list[dict[str, Any]]:
    """Every submit that reached the sandbox since this test reset it (logged on arrival, answered or not)."""
    return [c for c in sandbox.log() if c.get("point") == "submit"]


def _wait_for_call(sandbox: Any, point: str, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [c for c in sandbox.log() if c.get("point") == point]  # logged on arrival, before it is answered
        if found:
            return found[-1]
        time.sleep(0.05)
    raise AssertionError(f"no {point} call reached the sandbox within {timeout}s")


def _wait_until_done_at_fal(sandbox: Any, request_id: str, timeout: float = 60.0) -> None:
    url = f"{sandbox.url}/luma/agent/requests/{request_id}/status"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if httpx.get(url, headers={"Authorization": f"Key {TEST_FAL_KEY}"}).json().get("status") == "COMPLETED":
            return
        time.sleep(0.2)
    raise AssertionError(f"request {request_id} did not complete at the sandbox")


def _arm(sandbox: Any, point: str) -> None:
    if point == "uploading":
        sandbox.inject({"point": "upload", "kind": "delay", "seconds": 60})
    elif point == "submitting":
        sandbox.inject({"point": "submit", "kind": "delay", "seconds": 60})
    elif point == "queued":
        sandbox.configure(queue_seconds=6, run_seconds=1)
    elif point == "running":
        sandbox.configure(queue_seconds=0.2, run_seconds=6)
    elif point == "downloading":
        sandbox.inject({"point": "download", "kind": "delay", "seconds": 60})


def _wait_for_kill_point(run: Any, sandbox: Any, point: str) -> None:
    if point == "uploading":
        run.wait_for_event(_phase("uploading"), timeout=60)
        _wait_for_call(sandbox, "upload")  # the (delayed) upload is under way
    elif point == "submitting":
        _wait_for_call(sandbox, "submit")
    elif point == "queued":
        run.wait_for_event(_phase("in_queue"), timeout=60)
    elif point == "running":
        run.wait_for_event(_phase("running"), timeout=60)
    elif point == "downloading":
        _wait_for_call(sandbox, "download")


@pytest.mark.parametrize("point", ["uploading", "queued", "running", "downloading"])
def test_killed_at_each_point_then_requeued_pays_once_and_delivers(crashable: Crashable, sandbox: Any,
                                                                   point: str) -> None:
    host = crashable.host
    prompt = example_prompt(host, EXAMPLE)
    node_id, _ = node_of_type(prompt, I2V)
    _arm(sandbox, point)
    run = host.submit(prompt)
    _wait_for_kill_point(run, sandbox, point)
    crashable.host.kill()
    before = len(_submits(sandbox))
    assert before == (0 if point == "uploading" else 1), f"{point}: {before} submits before the kill"
    downloads_before = len(calls_at(sandbox.log(), "download"))

    crashable.host = host = crashable.host.restarted()
    sandbox.configure(queue_seconds=0.3, run_seconds=1)
    result = host.run(prompt, timeout=240)

    assert result.ok, result.describe()
    after = len(_submits(sandbox))
    print(f"\nkill point {point}: {before} submit(s) before the kill, {after} in all after the re-queue")
    assert after == 1, f"{point}: {after} submits in all"
    video = saved_video(host, result, node_id)
    assert mp4_facts(video)["frames"] == 121
    # One wait and one download after the restart, shared by the start-up follower and the re-queued node.
    assert len(calls_at(sandbox.log(), "download")) - downloads_before == 1
    request_id = _submits(sandbox)[0]["request_id"] or json.loads(
        video.with_name(video.name + ".json").read_text())["request_id"]
    entry = crashable.entry(request_id)
    assert entry is not None and entry.state == "done", entry
    assert Path(entry.files["video"][0]) == video
    # Nothing half-saved is left by the killed process: one MP4 of this request, no empty or .part file.
    mine = [p for p in (host.output_dir / "luma-fal").iterdir() if request_id[:8] in p.name]
    assert sorted(p.name for p in mine) == [video.name, video.name + ".json"], mine
    receipt = json.loads(Path(entry.files["video"][0] + ".json").read_text())
    assert receipt["request_id"] == request_id and receipt["endpoint_id"].endswith("image-to-video")
    # The estimate the receipt keeps is the price table's for what was sent (and its source is named).
    sent = {k: entry.payload.get(k) for k in ("resolution", "duration", "hdr", "exr_export")}
    expected = price_of(entry.endpoint_id, sent)
    assert expected.usd is not None and receipt["estimated_price"]["usd"] == pytest.approx(expected.usd)
    assert receipt["inputs"]["image_url"].startswith(sandbox.url) and receipt["estimated_price"]["source"]
    if point != "uploading":
        states = crashable.events(entry.id)
        assert states[:3] == ["preparing", "submitting", "queued"] and states[-2:] == ["completed", "done"], states


def test_a_killed_fan_out_is_reattached_take_by_take_and_paid_once(crashable: Crashable, sandbox: Any) -> None:
    host = crashable.host
    sandbox.configure(queue_seconds=6, run_seconds=1)
    prompt = example_prompt(host, EXAMPLE, **{I2V: {"takes": 3}})
    node_id, _ = node_of_type(prompt, I2V)
    run = host.submit(prompt)
    run.wait_for_event(all_takes_in_queue(node_id, 3), timeout=60)
    crashable.host.kill()
    submitted = {c["request_id"] for c in _submits(sandbox)}
    assert len(submitted) == 3

    crashable.host = host = crashable.host.restarted()
    sandbox.configure(queue_seconds=0.3, run_seconds=1)
    result = host.run(prompt, timeout=240)

    assert result.ok, result.describe()
    assert {c["request_id"] for c in _submits(sandbox)} == submitted  # no take was paid twice
    videos = [host.output_path(f) for f in result.files(node_id)]
    assert len(videos) == 3 and all(mp4_facts(v)["frames"] == 121 for v in videos), result.describe()
    # Each take is its own journal entry, done, with its own file and receipt.
    for request_id in submitted:
        entry = crashable.entry(request_id)
        assert entry is not None and entry.state == "done", entry
        assert Path(entry.files["video"][0]) in videos
        receipt = json.loads(Path(entry.files["video"][0] + ".json").read_text())
        assert receipt["request_id"] == request_id


@pytest.mark.parametrize("then", ["finish", "cancel"])
def test_a_requeued_node_joins_the_start_up_follower(crashable: Crashable, sandbox: Any, then: str) -> None:
    host = crashable.host
    sandbox.configure(queue_seconds=900, run_seconds=1)  # held in the queue until the test lets it go
    prompt = example_prompt(host, EXAMPLE)
    node_id, _ = node_of_type(prompt, I2V)
    run = host.submit(prompt)
    request_id = run.wait_for_event(_phase("in_queue"), timeout=60).data["request_id"]
    crashable.host.kill()
    crashable.host = host = crashable.host.restarted()

    again = host.submit(prompt)
    shown = again.wait_for_event(_phase("in_queue"), timeout=60)  # the follower's progress, on this node
    assert shown.data["request_id"] == request_id and shown.data["node"] == node_id
    assert "already being followed; waiting for it" in host.log_text()
    if then == "cancel":
        host.interrupt()
    else:
        assert sandbox.release(request_id)
    result = again.wait(timeout=120)

    assert len(_submits(sandbox)) == 1
    if then == "finish":
        assert result.ok, result.describe()
        assert len(calls_at(sandbox.log(), "download")) == 1  # one download, shared
        assert crashable.entry(request_id).state == "done"
    else:
        assert result.status == "interrupted", result.describe()
        cancels = calls_at(sandbox.log(), "cancel")
        assert len(cancels) == 1 and cancels[0]["cancel"]["state_before"] == "IN_QUEUE", cancels
        assert crashable.entry(request_id).state == "cancelled"


def test_a_kill_mid_submit_is_never_sent_again(crashable: Crashable, sandbox: Any) -> None:
    """Killed while fal's gateway held the submit: the connection died with ComfyUI, so fal never had it.
    Nothing is paid again until fal's records, read once the window after the submit has passed, show no
    such request; then the re-run submits, once (issue 18). Whether start-up recovery or the re-run reads
    them first depends on how long the restart takes; a re-run that finds the entry still in doubt shows
    "Looking for the request at fal" (tests/e2e/test_reconcile.py checks that line)."""
    host = crashable.host
    prompt = example_prompt(host, EXAMPLE)
    _arm(sandbox, "submitting")
    run = host.submit(prompt)
    _wait_for_kill_point(run, sandbox, "submitting")
    killed_at = time.time()
    crashable.host.kill()
    crashable.host = host = crashable.host.restarted()

    result = host.run(prompt, timeout=240)

    assert result.ok, result.describe()
    accepted = [c for c in _submits(sandbox) if c.get("request_id")]
    assert len(accepted) == 1  # the held submit never became a request; the re-run's did
    video = saved_video(host, result, _node_id(prompt))
    assert json.loads(video.with_name(video.name + ".json").read_text())["request_id"] == accepted[0]["request_id"]
    from nodes.journal.sqlite import SqliteJournal

    killed = SqliteJournal(crashable.journal_path).list_entries(limit=2)[1]
    assert killed.state == "not_submitted" and killed.fal_records["verdict"] == "not_accepted", killed
    # fal's records were searched from when the submit was sent, not from the restart: a restart long after a
    # submit fal did accept must still find it there.
    assert killed.fal_records["submitted_around"] <= killed_at < killed.fal_records["looked_at"], killed.fal_records
    assert killed.fal_records["looked_at"] - killed.fal_records["submitted_around"] >= WINDOW_S
    assert killed.fal_records["window"][0] < killed_at - 60
    assert accepted[0]["time"] >= killed.fal_records["looked_at"]  # paid only after fal's records said so


def _node_id(prompt: dict[str, Any]) -> str:
    return node_of_type(prompt, I2V)[0]


def test_an_unknown_submit_outcome_is_not_resent_until_the_seed_changes(crashable: Crashable, sandbox: Any) -> None:
    """A key that may not read fal's request records: the outcome stays unknown, nothing is re-sent."""
    host = crashable.host
    prompt = example_prompt(host, EXAMPLE)
    node_id, node = node_of_type(prompt, I2V)
    sandbox.platform(key_scopes=["billing"])
    sandbox.inject({"point": "submit", "kind": "drop"})
    first = host.run(prompt, timeout=120)
    assert first.status == "error", first.describe()

    again = host.run(prompt, timeout=120)

    assert again.status == "error", again.describe()
    message = again.error["exception_message"]
    assert "https://fal.ai/dashboard/requests" in message and "change the seed" in message, message
    assert "Give the key read access" in message
    assert len(_submits(sandbox)) == 1
    node["inputs"]["seed"] = 1
    fresh = host.run(prompt, timeout=120)
    assert fresh.ok, fresh.describe()
    assert len(_submits(sandbox)) == 2


def test_a_request_that_finished_while_comfyui_was_down_is_saved_without_requeueing(crashable: Crashable,
                                                                                     sandbox: Any) -> None:
    host = crashable.host
    sandbox.configure(queue_seconds=0.2, run_seconds=2)
    prompt = example_prompt(host, EXAMPLE)
    run = host.submit(prompt)
    request_id = run.wait_for_event(_phase("running"), timeout=60).data["request_id"]
    crashable.host.kill()
    _wait_until_done_at_fal(sandbox, request_id)

    crashable.host = host = crashable.host.restarted()  # nothing is queued after this

    deadline = time.monotonic() + 120
    entry = crashable.entry(request_id)
    while (entry is None or entry.state != "done") and time.monotonic() < deadline:
        time.sleep(0.3)
        entry = crashable.entry(request_id)
    assert entry is not None and entry.state == "done", entry
    video = Path(entry.files["video"][0])
    assert mp4_facts(video)["frames"] == 121 and video.with_name(video.name + ".json").is_file()
    assert len(_submits(sandbox)) == 1
    log = host.log_text()
    assert f"following request {request_id}" in log and f"request {request_id}" in log and "saved after restart" in log
    from nodes.media.metadata import read_mp4_tags

    assert read_mp4_tags(video)["fal_request_id"] == request_id


def test_reattaching_after_fal_forgot_the_result_names_the_request(crashable: Crashable, sandbox: Any) -> None:
    host = crashable.host
    sandbox.configure(queue_seconds=0.2, run_seconds=2)
    prompt = example_prompt(host, EXAMPLE)
    run = host.submit(prompt)
    request_id = run.wait_for_event(_phase("running"), timeout=60).data["request_id"]
    crashable.host.kill()
    _wait_until_done_at_fal(sandbox, request_id)
    assert sandbox.expire(request_id) == [request_id]
    crashable.host = host = crashable.host.restarted()

    result = host.run(prompt, timeout=120)

    assert result.status == "error", result.describe()
    message = result.error["exception_message"]
    assert request_id in message and "limited time" in message, message
    assert len(_submits(sandbox)) == 1
    assert crashable.entry(request_id).state == "expired"


def _pyproject_version() -> str:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]


def test_saved_images_carry_the_request_in_png_text_and_a_receipt(crashable: Crashable, sandbox: Any) -> None:
    from PIL import Image

    from nodes.journal.sqlite import SqliteJournal

    host = crashable.host
    result = host.run(example_prompt(host, "luma_uni1_text_to_image"), timeout=120)
    assert result.ok, result.describe()
    entry = SqliteJournal(crashable.journal_path).list_entries(limit=1)[0]  # this run's, the newest
    assert entry.state == "done" and entry.endpoint_id == "luma/agent/uni-1/v1/text-to-image", entry
    saved = Path(entry.files["images"][0])
    assert saved.suffix == ".png"
    with Image.open(saved) as image:
        assert image.text["fal_request_id"] == entry.request_id
        assert image.text["fal_endpoint"] == entry.endpoint_id
    receipt = json.loads(saved.with_name(saved.name + ".json").read_text())
    assert receipt["request_id"] == entry.request_id and receipt["fal_result"]["images"]
    # The pack's version is pyproject.toml's (the one the Registry publishes), never "unknown".
    assert receipt["pack"] == {"name": "comfyui-luma-fal", "version": _pyproject_version()}
    assert len(_submits(sandbox)) == 1


def test_the_key_is_nowhere_in_the_journal_or_the_receipts(crashable: Crashable) -> None:
    folder = crashable.journal_path.parent
    conn = sqlite3.connect(crashable.journal_path)
    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
    count = conn.execute("SELECT COUNT(*) FROM journal_entries").fetchone()[0]
    conn.close()
    assert count >= 1  # runs of this module were journaled here (all of them when the whole module runs)
    receipts = list((crashable.host.output_dir / "luma-fal").glob("*.json"))
    assert receipts
    for path in [*folder.glob("journal.sqlite3*"), *receipts]:
        data = path.read_bytes()
        assert TEST_FAL_KEY.encode() not in data and b"sandbox-test-key" not in data, path
