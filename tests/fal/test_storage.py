"""Uploading inputs: fal's CDN-token flow, the REST fallback, bounded concurrent uploads."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import httpx
import pytest

from nodes.fal.config import FalConfig
from nodes.fal.errors import RequestCancelled
from nodes.fal.events import FalEvent
from nodes.fal.http import create_client
from nodes.fal.runner import FalRunner
from nodes.fal.transfers import Upload
from nodes.fal.storage import Storage
from tests.fal.support import FAST_RETRY, calls


def _fetch(url: str) -> httpx.Response:
    return httpx.get(url, trust_env=False)


async def _upload(config: FalConfig, data: bytes, **kw: Any) -> tuple[str, Storage]:
    async with create_client(config) as client:
        storage = Storage(client, config.hosts, config.credentials, retry=FAST_RETRY)
        return await storage.upload(data, "image/png", "ref.png"), storage


def test_cdn_upload_round_trip(fal_env: Any) -> None:
    data = os.urandom(300_000)
    config = FalConfig.from_env()

    url, _ = asyncio.run(_upload(config, data))

    fetched = _fetch(url)
    assert fetched.status_code == 200 and fetched.content == data
    uploads = calls(fal_env, "upload")
    paths = [c["path"] for c in uploads]
    assert any(p.startswith("/storage/auth/token") for p in paths)
    cdn_post = [c for c in uploads if c["path"] == "/files/upload"]
    assert len(cdn_post) == 1
    assert cdn_post[0]["auth"] != "valid"  # the CDN gets the token, never the key
    lifecycle = cdn_post[0]["headers"]["x-fal-object-lifecycle-preference"]
    assert lifecycle == '{"expiration_duration_seconds": 86400}'  # the upload cache relies on 24 h
    assert not any(p.startswith("/storage/upload/initiate") for p in paths)


def test_cdn_token_is_cached_between_uploads(fal_env: Any) -> None:
    config = FalConfig.from_env()

    async def twice() -> None:
        await _upload(config, b"one")
        await _upload(config, b"two")

    asyncio.run(twice())
    tokens = [c for c in calls(fal_env, "upload") if c["path"].startswith("/storage/auth/token")]
    assert len(tokens) == 1


def test_rest_fallback_when_the_cdn_fails(fal_env: Any) -> None:
    data = os.urandom(50_000)
    fal_env.inject(
        {
            "point": "upload",
            "kind": "http",
            "status": 403,
            "style": "json",
            "times": 1,
            "path_contains": "/files/upload",
        }
    )
    config = FalConfig.from_env()

    url, _ = asyncio.run(_upload(config, data))

    assert _fetch(url).content == data
    paths = [c["path"] for c in calls(fal_env, "upload")]
    assert any(p.startswith("/storage/upload/initiate") for p in paths)


def test_upload_many_keeps_order_and_reports_progress(fal_env: Any, runner: FalRunner) -> None:
    items = [Upload(os.urandom(1000 + i), "image/png", f"img{i}.png") for i in range(7)]
    events: list[FalEvent] = []

    urls = asyncio.run(runner.upload_many(items, on_event=events.append, concurrency=3))

    assert [_fetch(u).content for u in urls] == [i.data for i in items]
    assert events[0].phase == "uploading" and events[0].uploads_done == 0
    assert events[-1].uploads_done == 7 and events[-1].uploads_total == 7
    assert events[-1].text().startswith("Uploading 7/7")


def test_upload_many_stops_when_asked(fal_env: Any, runner: FalRunner) -> None:
    items = [Upload(os.urandom(1000), "image/png", f"img{i}.png") for i in range(3)]
    with pytest.raises(RequestCancelled) as caught:
        asyncio.run(runner.upload_many(items, should_stop=lambda: True))
    assert not caught.value.was_running
    assert "not billed" in str(caught.value) or "nothing is billed" in str(caught.value)


def test_an_item_goes_up_while_the_next_is_still_being_made(fal_env: Any, runner: FalRunner) -> None:
    """Items may still be in the making (an encode): the first goes up before the second exists, and an
    item that comes to None (its URL is known elsewhere) is not uploaded."""
    first = Upload(os.urandom(1000), "image/png", "first.png")
    second = Upload(os.urandom(1000), "image/png", "second.png")

    async def made_after_the_first_went_up() -> Upload:
        for _ in range(600):
            if [c for c in await asyncio.to_thread(calls, fal_env, "upload") if c["path"] == "/files/upload"]:
                return second
            await asyncio.sleep(0.05)
        raise AssertionError("the first item was not uploaded while the second was being made")

    async def known_elsewhere() -> None:
        return None

    urls = asyncio.run(runner.upload_many([first, made_after_the_first_went_up(), known_elsewhere()]))
    assert [_fetch(u).content for u in urls[:2]] == [first.data, second.data] and urls[2] is None
    assert len([c for c in calls(fal_env, "upload") if c["path"] == "/files/upload"]) == 2
