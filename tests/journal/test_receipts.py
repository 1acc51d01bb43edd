"""The JSON receipt written next to a saved result, built from its journal entry."""

from __future__ import annotations

import json
from pathlib import Path

from nodes.journal import states
from nodes.journal.receipts import build_receipt, receipt_path, write_receipt
from nodes.journal.sqlite import SqliteJournal
from nodes.journal.store import NewEntry


def test_receipt_says_what_the_file_is_and_what_it_cost(tmp_path: Path) -> None:
    store = SqliteJournal(tmp_path / "journal.sqlite3")
    entry = store.create(NewEntry(
        identity="i", endpoint_id="luma/agent/ray/v3.2/image-to-video",
        payload={"prompt": "p", "image_url": "upload://0"},
        inputs={"upload://0": {"label": "start_image", "content": "hash"}}, output_kind="video", stem="s",
        node_name="Luma Ray 3.2 Image to Video (fal)", owner="me", seed=3, price_usd=0.5,
        price_source="prices.json: $0.50", node_id="7", prompt_id="p-1"))
    store.update(entry.id, inputs={"upload://0": {"label": "start_image", "content": "hash",
                                                  "url": "https://v3.fal.media/files/a.png"}})
    store.update(entry.id, state=states.QUEUED, request_id="req-42", submitted_at=10.0)
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"mp4")
    done = store.update(entry.id, state=states.DONE, result={"video": {"url": "https://v3.fal.media/files/v.mp4"}},
                        timings={"run_seconds": 12.5}, files={"video": [str(video)]}, finished_at=30.0)

    sent = {"prompt": "p", "image_url": "https://v3.fal.media/files/a.png"}
    written = write_receipt(video, build_receipt(done, done.files, sent_payload=sent, pack_version="0.1.0"))

    assert written == receipt_path(video) == tmp_path / "clip.mp4.json"
    receipt = json.loads(written.read_text())
    assert receipt["endpoint_id"] == "luma/agent/ray/v3.2/image-to-video" and receipt["request_id"] == "req-42"
    assert receipt["inputs"] == sent
    assert receipt["uploaded_files"] == {"upload://0": {"label": "start_image", "url": "https://v3.fal.media/files/a.png"}}
    assert receipt["fal_result"] == {"video": {"url": "https://v3.fal.media/files/v.mp4"}}
    assert receipt["estimated_price"] == {"usd": 0.5, "source": "prices.json: $0.50"}
    assert receipt["timings"] == {"run_seconds": 12.5} and receipt["pack"]["version"] == "0.1.0"
    assert receipt["files"] == {"video": ["clip.mp4"]} and receipt["node"]["name"].startswith("Luma Ray")
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp file left
