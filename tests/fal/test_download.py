"""Result downloads: streamed to disk, resumed after a drop, verified, never carrying the key."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from nodes.fal.errors import DownloadFailed, RequestCancelled, ResultExpired
from nodes.fal.events import FalEvent
from nodes.fal.runner import FalRunner
from tests.fal.support import calls

T2V = "luma/agent/ray/v3.2/text-to-video"


def _video(fal_env: Any, runner: FalRunner) -> dict:
    fal_env.configure(queue_seconds=0.0, run_seconds=0.05)
    return asyncio.run(runner.run(T2V, {"prompt": "a boat"})).result["video"]


def _reference_bytes(url: str) -> bytes:
    import httpx

    return httpx.get(url, trust_env=False).content


def test_download_writes_the_whole_file(fal_env: Any, runner: FalRunner, tmp_path: Path) -> None:
    video = _video(fal_env, runner)
    events: list[FalEvent] = []
    dest = tmp_path / "out" / "clip.mp4"

    path = asyncio.run(
        runner.download(video["url"], dest, expected_size=video.get("file_size"), on_event=events.append)
    )

    data = path.read_bytes()
    assert path == dest and data == _reference_bytes(video["url"])
    assert data[4:8] == b"ftyp"
    assert not (tmp_path / "out" / "clip.mp4.part").exists()
    assert events[-1].bytes_done == len(data) == events[-1].bytes_total
    assert events[-1].text().startswith("Downloading")
    assert all(c.get("auth") == "missing" for c in calls(fal_env, "download"))


def test_download_resumes_after_a_dropped_connection(fal_env: Any, runner: FalRunner, tmp_path: Path) -> None:
    video = _video(fal_env, runner)
    fal_env.inject({"point": "download", "kind": "drop", "fraction": 0.4, "times": 1})
    dest = tmp_path / "clip.mp4"

    asyncio.run(runner.download(video["url"], dest, expected_size=video.get("file_size")))

    assert dest.read_bytes() == _reference_bytes(video["url"])
    downloads = calls(fal_env, "download")
    assert len(downloads) >= 2
    assert downloads[0].get("fault") == "drop"


def test_truncated_body_is_completed_or_refused(fal_env: Any, runner: FalRunner, tmp_path: Path) -> None:
    video = _video(fal_env, runner)
    fal_env.inject({"point": "download", "kind": "truncated", "mode": "short", "fraction": 0.5, "times": 1})
    dest = tmp_path / "clip.mp4"

    asyncio.run(runner.download(video["url"], dest, expected_size=video["file_size"]))

    assert dest.read_bytes() == _reference_bytes(video["url"])


def test_truncated_every_time_fails_and_leaves_nothing(
    fal_env: Any, runner: FalRunner, tmp_path: Path
) -> None:
    video = _video(fal_env, runner)
    fal_env.inject({"point": "download", "kind": "truncated", "mode": "short", "fraction": 0.5, "times": 100})
    dest = tmp_path / "clip.mp4"

    with pytest.raises(DownloadFailed):
        asyncio.run(runner.download(video["url"], dest, expected_size=video["file_size"]))

    assert list(tmp_path.iterdir()) == []


def test_expired_media_url(fal_env: Any, runner: FalRunner, tmp_path: Path) -> None:
    video = _video(fal_env, runner)
    fal_env.inject({"point": "download", "kind": "expired_url", "times": 1})

    with pytest.raises(ResultExpired):
        asyncio.run(runner.download(video["url"], tmp_path / "clip.mp4"))

    assert list(tmp_path.iterdir()) == []


def test_stop_during_download_removes_the_partial_file(
    fal_env: Any, runner: FalRunner, tmp_path: Path
) -> None:
    video = _video(fal_env, runner)
    seen: list[FalEvent] = []

    def stop() -> bool:
        return bool(seen)

    with pytest.raises(RequestCancelled) as caught:
        asyncio.run(
            runner.download(
                video["url"],
                tmp_path / "clip.mp4",
                on_event=seen.append,
                should_stop=stop,
                request_id="req-123",
            )
        )

    assert caught.value.was_running and "req-123" in str(caught.value)
    assert list(tmp_path.iterdir()) == []
