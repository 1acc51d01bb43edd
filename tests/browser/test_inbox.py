"""The inbox in the page, on every frontend the browser fixtures serve: a queued run's request appears
and turns from running to done while the panel is open, its id copies, "Download again" writes the
deleted file again, and "Add to graph" adds a Result by Request ID node whose run yields the outputs.

Every wait is on the state that proves the action happened (a row's data-state, a file on disk, a node
in the graph, the node's shown result), never on a fixed sleep."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tests.browser.test_run_status import queue_example
from tests.e2e.pack_helpers import generate_video, journal_row, remove_result_files
from tools.layout import TEST_FAL_KEY

TIMEOUT_MS = 60_000
ROW = ".luma-fal-inbox-row"


def open_inbox(comfy_page: Any) -> Any:
    page = comfy_page.page
    page.locator(".side-bar-button:has(.luma-fal-inbox-icon)").first.click()
    panel = page.locator(".luma-fal-inbox")
    panel.wait_for(state="visible", timeout=TIMEOUT_MS)
    return panel


def row_of(panel: Any, request_id: str, state: str | None = None) -> Any:
    selector = f'{ROW}[data-request-id="{request_id}"]' + (f'[data-state="{state}"]' if state else "")
    return panel.locator(selector)


def newest_entry_id(host: Any) -> int:
    rows = host.client.get_json("/luma_fal/requests", limit=1)["entries"]
    return rows[0]["id"] if rows else 0


def wait_for_file(comfy_page: Any, request_id: str, timeout: float = 60.0) -> Path:
    """The request's saved file, once the journal says the save finished (state done) and lists a file that
    exists on disk. (A save reserves its file names, as empty files, before it downloads.) Waits in the
    page (see ``tests/browser/conftest.py``: the page's requests wait while Python sleeps)."""
    host = comfy_page.host
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = journal_row(host, request_id)
        for file in row["files"] if row["state"] == "done" else []:
            path = host.output_dir / file["subfolder"] / file["filename"]
            if file["exists"] and path.is_file():
                return path
        comfy_page.page.wait_for_timeout(100)
    raise AssertionError(f"no saved file for {request_id}: {journal_row(host, request_id)}")


def test_a_queued_run_appears_goes_from_running_to_done_and_its_id_copies(comfy_page: Any,
                                                                          comfy_sandbox: Any) -> None:
    comfy_sandbox.configure(queue_seconds=1.0, run_seconds=6.0)
    page, host = comfy_page.page, comfy_page.host
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=host.url)
    panel = open_inbox(comfy_page)
    before = newest_entry_id(host)
    queue_example(comfy_page, "luma_ray32_text_to_video", "LumaFalRay32TextToVideo")
    running = page.wait_for_function(
        """(before) => [...document.querySelectorAll('.luma-fal-inbox-row[data-state="running"]')]
              .map(r => r.dataset).find(d => Number(d.entryId) > before && d.requestId)?.requestId""",
        arg=before, timeout=TIMEOUT_MS,
    ).json_value()
    comfy_page.screenshot("inbox-running")
    row = row_of(panel, running, "done")
    row.wait_for(timeout=TIMEOUT_MS)  # no reload, no click: the open panel updated itself
    assert row.locator(".luma-fal-inbox-what").inner_text().startswith("Luma Ray 3.2 Text to Video (fal)")
    assert row.locator("a.luma-fal-inbox-file").count() == 1
    # The worker that owns the request (in a fleet, who follows it): here this ComfyUI itself.
    worker = journal_row(host, running)["worker"]
    assert worker and row.locator(".luma-fal-inbox-worker").inner_text() == f"worker {worker} (this one)"
    row.locator(".luma-fal-inbox-copy").click()
    row.locator('.luma-fal-inbox-copy[data-copied="true"]').wait_for(timeout=TIMEOUT_MS)
    assert page.evaluate("() => navigator.clipboard.readText()") == running
    comfy_page.screenshot("inbox-done")
    assert not [e for e in comfy_page.recorder.page_errors if "luma" in e.lower()], comfy_page.recorder.page_errors
    for url, body in comfy_page.recorder.bodies():
        assert TEST_FAL_KEY.encode() not in body, f"the server's fal key appears in {url}"


def test_download_again_writes_the_deleted_file_again(comfy_page: Any, comfy_sandbox: Any) -> None:
    host = comfy_page.host
    request_id, files = generate_video(host)
    remove_result_files(files)
    panel = open_inbox(comfy_page)
    row = row_of(panel, request_id)
    row.locator(".luma-fal-inbox-file-missing").wait_for(timeout=TIMEOUT_MS)
    row.locator(".luma-fal-inbox-refetch").click()
    saved = wait_for_file(comfy_page, request_id)
    assert saved.stat().st_size > 0 and saved not in files
    link = row.locator("a.luma-fal-inbox-file")
    link.wait_for(timeout=TIMEOUT_MS)  # the row now offers the new file
    opened = comfy_page.page.request.get(host.url + link.get_attribute("href"))
    assert opened.ok and opened.body() == saved.read_bytes()



def _change_entry(host: Any, comfy_page: Any, request_id: str, message: str) -> None:
    """Write ``message`` on the request's journal entry (as a background billing or recovery write would
    change it) and wait until the page's list poll has brought the change."""
    from nodes.journal.sqlite import SqliteJournal

    entry_id = journal_row(host, request_id)["id"]
    store = SqliteJournal(host.user_dir / "comfyui-luma-fal" / "journal.sqlite3")
    with comfy_page.page.expect_response(
        lambda r: "/luma_fal/requests?limit" in r.url and any(
            e["id"] == entry_id and e["message"] == message for e in r.json()["entries"]),
        timeout=TIMEOUT_MS,
    ):
        try:
            store.update(entry_id, message=message)
        finally:
            store.close()


def test_a_click_is_not_lost_when_the_list_refreshes_under_it(comfy_page: Any, comfy_sandbox: Any) -> None:
    """The inbox redraws as entries change (every poll, every status event): a row whose entry did not
    change stays the same element, and a press on a button is not swallowed by a redraw before the release."""
    host, page = comfy_page.host, comfy_page.page
    request_id, files = generate_video(host)
    other_id, _ = generate_video(host, "luma_uni1_text_to_image", "LumaFalUni1TextToImage")
    remove_result_files(files)
    panel = open_inbox(comfy_page)
    row = row_of(panel, request_id)
    row.locator(".luma-fal-inbox-file-missing").wait_for(timeout=TIMEOUT_MS)
    row_of(panel, other_id).evaluate("(node) => { node.dataset.probe = 'kept'; }")

    _change_entry(host, comfy_page, request_id, "changed while shown")
    row.locator(".luma-fal-inbox-message", has_text="changed while shown").wait_for(timeout=TIMEOUT_MS)
    assert row_of(panel, other_id).get_attribute("data-probe") == "kept", "an unchanged row was rebuilt"

    button = row.locator(".luma-fal-inbox-refetch")
    button.evaluate("(node) => { node.dataset.probe = 'pressed'; }")
    box = button.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    _change_entry(host, comfy_page, request_id, "changed while pressed")
    assert button.get_attribute("data-probe") == "pressed", "the row was redrawn under the pressed button"
    page.mouse.up()

    saved = wait_for_file(comfy_page, request_id)  # the click arrived: the result is downloaded again
    assert saved.stat().st_size > 0 and saved not in files
    row.locator(".luma-fal-inbox-message", has_text="changed while pressed").wait_for(timeout=TIMEOUT_MS)
    row.locator("a.luma-fal-inbox-file").wait_for(timeout=TIMEOUT_MS)  # drawn once released

def test_add_to_graph_gives_a_result_by_id_node_whose_run_yields_the_outputs(comfy_page: Any,
                                                                             comfy_sandbox: Any) -> None:
    host, page = comfy_page.host, comfy_page.page
    request_id, files = generate_video(host)
    page.evaluate("() => window.app.graph.clear()")
    panel = open_inbox(comfy_page)
    row_of(panel, request_id).locator(".luma-fal-inbox-to-graph").click()
    node_id = page.wait_for_function(
        """(rid) => window.app.graph._nodes.find(n => n.type === 'LumaFalRequestById'
              && n.widgets.find(w => w.name === 'request_id')?.value === rid
              && n.widgets.find(w => w.name === 'endpoint')?.value
                 === 'luma/agent/ray/v3.2/text-to-video')?.id""",
        arg=request_id, timeout=TIMEOUT_MS,
    ).json_value()
    page.evaluate("() => window.app.queuePrompt(0, 1)")
    shown = page.wait_for_function(
        "(id) => window.app.graph.getNodeById(id)?.lumaFal?.lastVideo?.filename", arg=node_id,
        timeout=TIMEOUT_MS,
    ).json_value()
    assert shown == files[0].name  # the saved result of that request, shown on the new node
    comfy_page.screenshot("inbox-result-by-id")
