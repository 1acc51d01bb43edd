"""The one retry policy (nodes/fal/retry.py) where its merged rules reach calls that had their own list:
fal's records and result downloads retry every answer that says "not now", honour a 429's Retry-After,
and reads retry a 425 like any other "too early"."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from nodes.fal.config import FalConfig
from nodes.fal.download import download_file
from nodes.fal.errors import DownloadFailed
from nodes.fal.http import create_client
from nodes.fal.queue import COMPLETED, QueueClient, QueueState, RequestStatus
from nodes.fal.records import RecordsClient, RecordsUnavailable
from nodes.fal.retry import RetryPolicy
from nodes.luma import constants as C

from .support import FAST_RETRY, TEST_KEY, calls

EP = C.RAY32_TEXT_TO_VIDEO
KEY = {"Authorization": f"Key {TEST_KEY}"}


def _finished_video(sandbox: Any) -> tuple[str, str, int | None]:
    """(request id, video URL, file size) of a request run to its end at the sandbox, outside the pack."""
    sandbox.configure(queue_seconds=0.0, run_seconds=0.05)
    request_id = httpx.post(f"{sandbox.url}/{EP}", json={"prompt": "a boat"}, headers=KEY).json()["request_id"]
    base = f"{sandbox.url}/luma/agent/requests/{request_id}"
    deadline = time.monotonic() + 30
    while httpx.get(f"{base}/status", headers=KEY).json()["status"] != "COMPLETED":
        assert time.monotonic() < deadline, "the sandbox never finished the request"
        time.sleep(0.05)
    video = httpx.get(base, headers=KEY).json()["video"]
    return request_id, video["url"], video.get("file_size")


def _download(url: str, dest: Path, size: int | None, retry: RetryPolicy = FAST_RETRY) -> Path:
    async def scenario() -> Path:
        async with create_client(FalConfig.from_env(), with_key=False) as client:
            return await download_file(client, url, dest, expected_size=size, retry=retry)

    return asyncio.run(scenario())


@pytest.mark.parametrize("status", [408, 409, 425, 429, 500, 502, 503, 504])
def test_every_not_now_answer_to_a_records_read_is_retried(fal_env: Any, status: int) -> None:
    fal_env.inject({"point": "requests", "kind": "http", "status": status, "times": 1})
    client = RecordsClient(FalConfig.from_env(), retry_gap=0.01)
    now = time.time()

    listed = asyncio.run(client.requests(EP, start=now - 300, end=now + 60))

    assert listed == [] and client.calls == 2
    assert [c.get("fault") is not None for c in calls(fal_env, "requests")] == [True, False]


def test_a_records_answer_that_is_no_retryable_refusal_is_not_retried(fal_env: Any) -> None:
    fal_env.inject({"point": "requests", "kind": "http", "status": 400, "times": 5})
    client = RecordsClient(FalConfig.from_env(), retry_gap=0.01)
    now = time.time()

    with pytest.raises(RecordsUnavailable) as failed:
        asyncio.run(client.requests(EP, start=now - 300, end=now + 60))

    assert failed.value.status == 400 and client.calls == 1


@pytest.mark.parametrize("status", [408, 409, 425, 429, 500, 502, 503, 504])
def test_every_not_now_answer_to_a_download_is_retried(fal_env: Any, status: int, tmp_path: Path) -> None:
    _, url, size = _finished_video(fal_env)
    fal_env.inject({"point": "download", "kind": "http", "status": status, "style": "json", "times": 2})

    path = _download(url, tmp_path / "clip.mp4", size)

    assert [c.get("fault") is not None for c in calls(fal_env, "download")] == [True, True, False]
    assert path.read_bytes() == httpx.get(url).content


def test_a_download_waits_out_a_429s_retry_after_rather_than_the_backoff(fal_env: Any, tmp_path: Path) -> None:
    _, url, size = _finished_video(fal_env)
    fal_env.inject({"point": "download", "kind": "http", "status": 429, "style": "json", "retry_after": 0,
                    "times": 1})
    # A backoff this long would outlast the test; Retry-After: 0 says to try again at once.
    slow_backoff = RetryPolicy(max_attempts=3, base_delay=600.0, max_delay=600.0)

    path = _download(url, tmp_path / "clip.mp4", size, slow_backoff)

    assert len(calls(fal_env, "download")) == 2
    assert path.read_bytes() == httpx.get(url).content


def test_a_download_refused_for_good_is_not_retried(fal_env: Any, tmp_path: Path) -> None:
    _, url, size = _finished_video(fal_env)
    fal_env.inject({"point": "download", "kind": "http", "status": 400, "style": "json", "times": 5})

    with pytest.raises(DownloadFailed, match="HTTP 400"):
        _download(url, tmp_path / "clip.mp4", size)

    assert len(calls(fal_env, "download")) == 1
    assert not list(tmp_path.iterdir())


def test_a_status_read_retries_a_425_and_parses_the_answer_once(fal_env: Any) -> None:
    request_id, _, _ = _finished_video(fal_env)
    fal_env.inject({"point": "status", "kind": "http", "status": 425, "style": "json", "times": 2})
    config = FalConfig.from_env()

    async def scenario() -> RequestStatus:
        async with create_client(config) as client:
            queue = QueueClient(client, config.hosts, retry=FAST_RETRY)
            return await queue.status(queue.handle_for(EP, request_id))

    status = asyncio.run(scenario())

    assert status.state is QueueState.COMPLETED
    assert status["status"] == "COMPLETED" == COMPLETED and dict(status)["status"] == "COMPLETED"
    assert [c.get("fault") is not None for c in calls(fal_env, "status")][-3:] == [True, True, False]

