"""fal's CDN multipart upload for files above the single-shot limit: parts in parallel, each part retried alone
after a broken connection or a refusal, nothing completed (no file) when the upload stops or fails."""

from __future__ import annotations

import asyncio
import os
import threading
from typing import Any

import httpx
import pytest

from nodes.fal.config import FalConfig
from nodes.fal.errors import RequestCancelled
from nodes.fal.http import create_client
from nodes.fal.runner import FalRunner
from nodes.fal.transfers import Upload
from nodes.fal.storage import MULTIPART_PART_SIZE, MULTIPART_THRESHOLD, Storage
from tests.fal.support import FAST_RETRY, calls

PART = 256 * 1024  # small parts keep these tests quick; the flow is the one a 100 MiB file takes


def _fetch(url: str) -> bytes:
    reply = httpx.get(url, trust_env=False, timeout=60)
    reply.raise_for_status()
    return reply.content


async def _upload(data: bytes, **kw: Any) -> str:
    config = FalConfig.from_env()
    async with create_client(config) as client:
        storage = Storage(client, config.hosts, config.credentials, retry=FAST_RETRY, multipart_threshold=PART,
                          part_size=PART, **kw)
        return await storage.upload(data, "video/mp4", "source.mp4")


def _part_puts(sandbox: Any) -> list[dict[str, Any]]:
    return [c for c in calls(sandbox, "upload") if c["method"] == "PUT" and "/multipart/" in c["path"]]


def _completes(sandbox: Any) -> list[dict[str, Any]]:
    return [c for c in calls(sandbox, "upload") if c["method"] == "POST" and c["path"].endswith("/complete")]


def test_a_file_above_fal_s_limit_goes_up_in_10_mib_parts(fal_env: Any, runner: FalRunner) -> None:
    data = os.urandom(MULTIPART_THRESHOLD + 1)  # fal's clients: strictly above 100 MiB
    [url] = asyncio.run(runner.upload_many([Upload(data, "video/mp4", "big.mp4")]))
    assert _fetch(url) == data
    puts = _part_puts(fal_env)
    assert sorted(int(c["path"].rsplit("/", 1)[1]) for c in puts) == list(range(1, 12))
    assert {c["upload"]["size"] for c in puts} == {MULTIPART_PART_SIZE, 1}
    assert all(c["auth"] != "valid" for c in puts)  # the CDN token, never the key
    assert len(_completes(fal_env)) == 1
    assert not [c for c in calls(fal_env, "upload") if c["path"] == "/files/upload"]


def test_at_the_limit_one_single_shot_upload(fal_env: Any) -> None:
    data = os.urandom(PART)
    assert _fetch(asyncio.run(_upload(data))) == data
    assert not _part_puts(fal_env) and [c for c in calls(fal_env, "upload") if c["path"] == "/files/upload"]


def test_a_reset_mid_part_resends_that_part_only(fal_env: Any) -> None:
    data = os.urandom(PART * 4 + 1000)
    fal_env.inject({"point": "upload", "kind": "drop", "times": 1, "path_contains": "/multipart/"})
    url = asyncio.run(_upload(data))
    assert _fetch(url) == data
    numbers = [int(c["path"].rsplit("/", 1)[1]) for c in _part_puts(fal_env)]
    assert sorted(set(numbers)) == [1, 2, 3, 4, 5] and len(numbers) == 6  # five parts, one sent twice
    assert len(_completes(fal_env)) == 1
    assert len([c for c in calls(fal_env, "upload") if c["path"] == "/files/upload/multipart"]) == 1


def test_a_refused_part_is_retried_and_a_lasting_refusal_completes_nothing(fal_env: Any) -> None:
    data = os.urandom(PART * 3)
    fal_env.inject({"point": "upload", "kind": "http", "status": 503, "style": "nginx", "times": 1,
                    "path_contains": "/multipart/"})
    assert _fetch(asyncio.run(_upload(data))) == data
    assert len(_part_puts(fal_env)) == 4 and len(_completes(fal_env)) == 1

    fal_env.reset()
    fal_env.inject({"point": "upload", "kind": "http", "status": 500, "style": "json", "times": 50,
                    "path_contains": "/multipart/"})
    url = asyncio.run(_upload(data))  # fal's storage API takes the whole file instead
    assert _fetch(url) == data
    assert not _completes(fal_env)  # no half file was ever completed
    assert [c for c in calls(fal_env, "upload") if c["path"].startswith("/storage/put/")]


def test_stop_mid_multipart_completes_nothing_and_leaves_no_thread(fal_env: Any, runner: FalRunner,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("nodes.fal.storage.MULTIPART_THRESHOLD", PART)
    monkeypatch.setattr("nodes.fal.storage.MULTIPART_PART_SIZE", PART)
    fal_env.configure(upload_bytes_per_second=PART * 4)  # about a second per part: time to stop midway
    data = os.urandom(PART * 6)
    threads = threading.active_count()
    stop = threading.Event()

    def should_stop() -> bool:
        if _part_puts(fal_env):
            stop.set()
        return stop.is_set()

    with pytest.raises(RequestCancelled) as caught:
        asyncio.run(_stopped(runner, data, should_stop))
    assert "nothing is billed" in str(caught.value)
    assert not _completes(fal_env)
    assert threading.active_count() == threads


async def _stopped(runner: FalRunner, data: bytes, should_stop: Any) -> list[str]:
    try:
        return await runner.upload_many([Upload(data, "video/mp4", "source.mp4")], should_stop=should_stop)
    finally:
        assert len(asyncio.all_tasks()) == 1  # only this one: no part left running
