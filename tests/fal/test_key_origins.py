"""The key goes only to its origins, whatever a server's answer says (issue 9, transport).

The "other origin" is the same sandbox on a second port of 127.0.0.1: it answers like fal, so a client
that wrongly follows a URL there with the key SUCCEEDS — the tests see that in its call log (``host``,
``auth``), and demand a refusal or a key-less call instead.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from nodes.fal.config import FalConfig
from nodes.fal.errors import FalError, UnsafeUrl
from nodes.fal.http import create_client
from nodes.fal.queue import QueueClient, RequestHandle
from nodes.fal.runner import FalRunner
from nodes.fal.storage import Storage
from tests.fal.support import FAST_RETRY, TEST_KEY, calls

T2V = "luma/agent/ray/v3.2/text-to-video"


def _host(url: str) -> str:
    return url.split("://", 1)[1].rstrip("/")


def _at(sandbox: Any, base: str) -> list[dict[str, Any]]:
    return [c for c in sandbox.log() if c.get("host") == _host(base)]


def _secret_free(text: str) -> None:
    assert TEST_KEY not in text and TEST_KEY.split(":")[1] not in text


def test_queue_urls_on_another_port_are_refused_and_the_request_cancelled(fal_env: Any, runner: FalRunner) -> None:
    other = fal_env.second_origin()
    fal_env.configure(queue_seconds=0.5, run_seconds=0.5, queue_urls_at=other)

    with pytest.raises(UnsafeUrl) as caught:
        asyncio.run(runner.run(T2V, {"prompt": "a fox"}))

    text = str(caught.value)
    request_id = calls(fal_env, "submit")[0]["request_id"]
    assert caught.value.request_id == request_id and request_id in text
    assert other in text  # the refused origin, scheme://host:port
    _secret_free(text)
    assert _at(fal_env, other) == [], "nothing may be sent to the other origin"
    # The request was cancelled through the configured server, with the key, so it does not run unseen.
    cancels = calls(fal_env, "cancel")
    assert len(cancels) == 1 and cancels[0]["host"] == _host(fal_env.url) and cancels[0]["auth"] == "valid"
    assert "cancelled" in text


def _foreign_handle(sandbox: Any, which: str, other: str, request_id: str) -> RequestHandle:
    base = f"{sandbox.url}/luma/agent/requests/{request_id}"
    urls = {"status_url": f"{base}/status", "response_url": base, "cancel_url": f"{base}/cancel"}
    urls[which] = urls[which].replace(sandbox.url, other)
    return RequestHandle(request_id=request_id, endpoint_id=T2V, **urls)


@pytest.mark.parametrize(
    ("which", "call"),
    [
        ("status_url", lambda q, h: q.status(h)),
        ("status_url", lambda q, h: _drain(q.stream_status(h))),
        ("response_url", lambda q, h: q.result(h)),
        ("cancel_url", lambda q, h: q.cancel(h)),
    ],
    ids=["status", "status-stream", "result", "cancel"],
)
def test_every_queue_call_checks_its_url_before_sending(fal_env: Any, which: str, call: Any) -> None:
    """Whoever builds the handle (a submit answer, a journal, a caller), no keyed call leaves for another origin."""
    other = fal_env.second_origin()
    config = FalConfig.from_env()
    request_id = "1b2c3d4e-0000-4000-8000-000000000001"

    async def scenario() -> None:
        async with create_client(config) as client:
            queue = QueueClient(client, config.hosts, retry=FAST_RETRY)
            await call(queue, _foreign_handle(fal_env, which, other, request_id))

    with pytest.raises(UnsafeUrl) as caught:
        asyncio.run(scenario())
    assert _host(other) in str(caught.value) and request_id in str(caught.value)
    _secret_free(str(caught.value))
    assert _at(fal_env, other) == []


async def _drain(updates: Any) -> None:
    async for _ in updates:
        pass


def test_result_files_on_another_origin_are_downloaded_without_the_key(
    fal_env: Any, runner: FalRunner, tmp_path: Path
) -> None:
    other = fal_env.second_origin()
    fal_env.configure(queue_seconds=0.0, run_seconds=0.05, file_urls_at=other)
    done = asyncio.run(runner.run(T2V, {"prompt": "a boat"}))
    url = done.result["video"]["url"]
    assert url.startswith(other)

    path = asyncio.run(runner.download(url, tmp_path / "clip.mp4", request_id=done.request_id))

    assert path.read_bytes()[4:8] == b"ftyp"
    there = _at(fal_env, other)
    assert there and all(c["auth"] == "missing" for c in there), there


def test_a_signed_upload_url_never_gets_the_key_even_on_the_configured_host(fal_env: Any) -> None:
    other = fal_env.second_origin()
    fal_env.configure(upload_urls_at=other)
    config = FalConfig.from_env()

    async def scenario() -> str:
        async with create_client(config) as client:
            storage = Storage(client, config.hosts, config.credentials, retry=FAST_RETRY)
            return await storage.upload_via_rest(b"\x89PNG fake", "image/png", "ref.png")

    file_url = asyncio.run(scenario())

    assert file_url.startswith(fal_env.url)
    puts = [c for c in _at(fal_env, other) if c["method"] == "PUT"]
    assert len(puts) == 1 and puts[0]["auth"] == "missing", puts
    # The same holds on the configured origin itself: the signature authorises the PUT, not the key.
    fal_env.configure(upload_urls_at=None)
    asyncio.run(scenario())
    own_puts = [c for c in calls(fal_env, method="PUT") if c["host"] == _host(fal_env.url)]
    assert own_puts and all(c["auth"] == "missing" for c in own_puts)


@pytest.mark.parametrize("points", [("status", "stream"), ("result",)], ids=["status", "result"])
def test_a_redirect_never_carries_the_key_to_another_origin(
    fal_env: Any, runner: FalRunner, points: tuple[str, ...]
) -> None:
    other = fal_env.second_origin()
    fal_env.configure(queue_seconds=0.0, run_seconds=0.1)
    fal_env.inject(*({"point": p, "kind": "redirect", "location": other, "times": 50} for p in points))

    with pytest.raises(FalError) as caught:
        asyncio.run(runner.run(T2V, {"prompt": "a fox"}))

    request_id = calls(fal_env, "submit")[0]["request_id"]
    assert request_id in str(caught.value)
    _secret_free(str(caught.value))
    assert all(c["auth"] == "missing" for c in _at(fal_env, other)), _at(fal_env, other)


def test_a_client_that_follows_redirects_still_drops_the_key_at_the_origin_boundary(fal_env: Any) -> None:
    other = fal_env.second_origin()
    fal_env.configure(queue_seconds=0.0, run_seconds=0.05)
    fal_env.inject({"point": "status", "kind": "redirect", "location": other, "times": 1})
    config = FalConfig.from_env()

    async def scenario() -> httpx.Response:
        async with create_client(config, follow_redirects=True) as client:
            submitted = (await client.post(f"{fal_env.url}/{T2V}", json={"prompt": "x"})).json()
            return await client.get(submitted["status_url"])

    answer = asyncio.run(scenario())

    assert answer.history and answer.history[0].status_code == 307
    redirected = [c for c in _at(fal_env, other) if c["point"] == "status"]
    assert len(redirected) == 1 and redirected[0]["auth"] == "missing", redirected
    assert answer.status_code == 401  # the other origin is a keyed API: without the key it refuses


def test_the_last_check_strips_the_key_from_any_request_for_another_origin(fal_env: Any) -> None:
    """Even a request built by hand with the key in it (or a redirect httpx would let keep it) leaves without it."""
    other = fal_env.second_origin()
    config = FalConfig.from_env()
    assert config.credentials is not None

    async def scenario() -> None:
        async with create_client(config) as client:
            for base in (other, fal_env.url):
                request = client.build_request("GET", f"{base}/luma/agent/requests/x/status",
                                               headers={"Authorization": config.credentials.authorization})
                await client.send(request)

    asyncio.run(scenario())
    seen = {(c["host"], c["auth"]) for c in calls(fal_env, "status")}
    assert seen == {(_host(other), "missing"), (_host(fal_env.url), "valid")}


def test_key_reaches_the_configured_origin_on_every_normal_call(fal_env: Any, runner: FalRunner) -> None:
    fal_env.configure(queue_seconds=0.1, run_seconds=0.2)
    asyncio.run(runner.run(T2V, {"prompt": "a fox"}))
    keyed = [c for c in fal_env.log() if c["point"] in ("submit", "status", "stream", "result")]
    assert keyed and all(c["auth"] == "valid" and c["host"] == _host(fal_env.url) for c in keyed)
