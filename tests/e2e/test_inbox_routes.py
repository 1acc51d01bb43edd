"""Issue 11, "The inbox", server side in a real ComfyUI: list, spend summary, download again, cancel."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from nodes.luma import constants as C
from nodes.luma.prices import price_of
from tests.e2e.pack_helpers import (
    calls_at,
    example_prompt,
    generate_video,
    journal_row,
    node_of_type,
    remove_result_files,
)
from tools.layout import TEST_FAL_KEY

T2V = "LumaFalRay32TextToVideo"


def wait_for_row(comfy: Any, request_id: str, done: Callable[[dict[str, Any]], bool],
                 timeout: float = 60.0) -> dict[str, Any]:
    """The request's inbox row once ``done(row)`` holds (polled; fails with the last row seen)."""
    deadline = time.monotonic() + timeout
    row = journal_row(comfy, request_id)
    while not done(row):
        if time.monotonic() > deadline:
            raise AssertionError(f"row never reached the expected state: {row}")
        time.sleep(0.1)
        row = journal_row(comfy, request_id)
    return row


def post_action(comfy: Any, request_id: str, verb: str, body: Any = None,
                content_type: str = "application/json") -> Any:
    content = b"{}" if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    return comfy.client._http.post(f"/luma_fal/requests/{request_id}/{verb}", content=content,
                                   headers={"Content-Type": content_type})


def test_the_list_shows_a_run_as_view_addresses_without_paths_or_key(comfy, comfy_sandbox) -> None:
    request_id, files = generate_video(comfy)
    reply = comfy.client.get("/luma_fal/requests")
    assert reply.status_code == 200 and reply.headers["Cache-Control"] == "no-store"
    row = journal_row(comfy, request_id)
    assert row["state"] == "done" and row["endpoint_id"] == "luma/agent/ray/v3.2/text-to-video"
    assert row["node_name"] == "Luma Ray 3.2 Text to Video (fal)"
    # The estimate the run was checked with: the example's 540p 5 s SDR take at the server's price table.
    table = comfy.client.get_json("/luma_fal/prices")
    expected = price_of(C.RAY32_TEXT_TO_VIDEO, {"resolution": "540p", "duration": "5s", "hdr": False}, table)
    assert row["price_usd"] == expected.usd and expected.usd is not None
    assert row["prompt"] and row["can_refetch"] and not row["can_cancel"]
    [file] = row["files"]
    assert file == {"output": "video", "filename": files[0].name, "subfolder": "luma-fal", "type": "output",
                    "exists": True, "bytes": files[0].stat().st_size}
    assert comfy.view(file) == files[0].read_bytes()  # the address opens the very file
    text = reply.text
    assert str(comfy.output_dir) not in text and TEST_FAL_KEY not in text
    newest_first = [r["id"] for r in reply.json()["entries"]]
    assert newest_first == sorted(newest_first, reverse=True)


@pytest.mark.parametrize(("query", "word"), [({"limit": "0"}, "limit"), ({"limit": "lots"}, "limit"),
                                             ({"before": "-3"}, "before")])
def test_the_list_refuses_bad_paging(comfy, query, word) -> None:
    reply = comfy.client.get("/luma_fal/requests", **query)
    assert reply.status_code == 400 and word in reply.json()["error"]


def test_the_ledger_adds_a_finished_run_to_today_and_this_session(comfy, comfy_sandbox) -> None:
    before = comfy.client.get_json("/luma_fal/ledger")
    request_id, _ = generate_video(comfy, "luma_uni1_text_to_image", "LumaFalUni1TextToImage")
    price = journal_row(comfy, request_id)["price_usd"]
    assert price and price > 0
    after = comfy.client.get_json("/luma_fal/ledger")
    for period in ("today", "session"):
        assert after[period]["usd"] == pytest.approx(before[period]["usd"] + price), (before, after)
        assert after[period]["requests"] == before[period]["requests"] + 1
    uni1 = {r["endpoint_id"]: r for r in after["by_endpoint"]}["luma/agent/uni-1/v1/text-to-image"]
    assert uni1["usd"] >= price


@pytest.mark.parametrize(
    ("request_id", "body", "content_type", "status"),
    [
        ("not-a-uuid", None, "application/json", 400),
        ("3f2b6c1e-8d4a-4b7e-9c0d-1a2b3c4d5e6f", None, "text/plain", 415),
        ("3f2b6c1e-8d4a-4b7e-9c0d-1a2b3c4d5e6f", {"request_id": "x"}, "application/json", 400),
        ("3f2b6c1e-8d4a-4b7e-9c0d-1a2b3c4d5e6f", b"not json", "application/json", 400),
        ("3f2b6c1e-8d4a-4b7e-9c0d-1a2b3c4d5e6f", b"{" + b" " * 2000 + b"}", "application/json", 413),
        ("3f2b6c1e-8d4a-4b7e-9c0d-1a2b3c4d5e6f", None, "application/json", 404),
    ],
    ids=["bad-id", "not-json-type", "unexpected-body", "broken-json", "too-large", "unknown-id"],
)
@pytest.mark.parametrize("verb", ["refetch", "cancel"])
def test_actions_refuse_bad_input_without_calling_fal(comfy, comfy_sandbox, verb, request_id, body,
                                                       content_type, status) -> None:
    reply = post_action(comfy, request_id, verb, body, content_type)
    assert reply.status_code == status, reply.text
    assert reply.json()["error"]
    assert comfy_sandbox.log() == []
    assert comfy.client.get(f"/luma_fal/requests/{uuid.uuid4()}/{verb}").status_code in (404, 405)  # POST only


def test_download_again_saves_the_deleted_result_again(comfy, comfy_sandbox) -> None:
    request_id, files = generate_video(comfy)
    remove_result_files(files)
    assert journal_row(comfy, request_id)["files"][0]["exists"] is False
    reply = post_action(comfy, request_id, "refetch")
    assert reply.status_code == 202, reply.text
    row = wait_for_row(comfy, request_id,
                       lambda r: r["state"] == "done" and any(f["exists"] for f in r["files"]))
    [file] = row["files"]
    saved = comfy.output_dir / file["subfolder"] / file["filename"]
    assert saved.is_file() and saved.stat().st_size == file["bytes"] > 0
    calls = comfy_sandbox.log()
    assert len(calls_at(calls, "submit")) == 1 and calls_at(calls, "download")


def test_cancel_from_the_inbox_cancels_a_running_request_at_fal(comfy, comfy_sandbox) -> None:
    comfy_sandbox.configure(queue_seconds=0.2, run_seconds=60)
    prompt = example_prompt(comfy, "luma_ray32_text_to_video")
    node_id, _ = node_of_type(prompt, T2V)
    run = comfy.submit(prompt)
    running = run.wait_for_event(lambda e: e.type == "luma_fal.status" and e.data.get("phase") == "running"
                                 and e.data.get("node") == node_id, timeout=60)
    request_id = running.data["request_id"]
    assert journal_row(comfy, request_id)["can_cancel"]
    reply = post_action(comfy, request_id, "cancel")
    assert reply.status_code == 202, reply.text
    result = run.wait(timeout=60)
    assert result.status in ("interrupted", "error"), result.describe()
    cancels = calls_at(comfy_sandbox.log(), "cancel")
    assert len(cancels) == 1 and cancels[0]["cancel"]["state_before"] == "IN_PROGRESS", cancels
    row = wait_for_row(comfy, request_id, lambda r: r["state"] == "cancelled")
    assert request_id in (row["message"] or "")
    again = post_action(comfy, request_id, "cancel")
    assert again.status_code == 409 and "cancelled" in again.json()["error"]


def test_the_list_never_shows_a_recorded_path_outside_the_output_folder(comfy, comfy_sandbox) -> None:
    from nodes.journal.config import open_journal

    request_id, files = generate_video(comfy)
    store = open_journal(f"sqlite:///{comfy.user_dir / 'comfyui-luma-fal' / 'journal.sqlite3'}")
    entry = store.get_by_request_id(request_id)
    assert entry is not None
    outside = [str(comfy.output_dir.parent / "elsewhere.mp4"), "/etc/passwd",
               str(comfy.output_dir / "luma-fal" / ".." / ".." / "escape.mp4")]
    store.update(entry.id, files={"video": [str(files[0]), *outside]})
    row = journal_row(comfy, request_id)
    assert [f["filename"] for f in row["files"]] == [files[0].name], row["files"]
    text = comfy.client.get("/luma_fal/requests").text
    assert "passwd" not in text and "elsewhere" not in text and "escape" not in text
