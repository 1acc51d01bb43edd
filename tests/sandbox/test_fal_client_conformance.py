"""The official fal-client 1.0.3, unmodified, against the sandbox as if it were fal.

``fal_routed`` sends fal's host names to the sandbox (see tests/sandbox/conftest.py); every URL the
client builds or follows is fal's own (https://queue.fal.run/..., https://v3.fal.media/...).
"""

from __future__ import annotations

import asyncio
import io
from typing import Any

import av
import fal_client
import httpx
import pytest
from PIL import Image

from tests.sandbox.helpers import TEST_KEY, FalRouting

T2V = "luma/agent/ray/v3.2/text-to-video"
T2I = "luma/agent/uni-1/v1/text-to-image"


def _fetch(url: str) -> httpx.Response:
    # A plain httpx client: the routed default transport carries v3.fal.media to the sandbox.
    with httpx.Client(timeout=60.0) as client:
        response = client.get(url)
    response.raise_for_status()
    return response


def test_sync_submit_status_iter_events_result(fal_routed: FalRouting) -> None:
    client = fal_client.SyncClient(key=TEST_KEY)
    handle = client.submit(T2V, {"prompt": "a lighthouse in a storm", "resolution": "540p"})
    assert handle.status_url.startswith("https://queue.fal.run/luma/agent/requests/")
    first = handle.status(with_logs=True)
    assert isinstance(first, (fal_client.Queued, fal_client.InProgress))

    events = list(handle.iter_events(with_logs=True, interval=0.05))
    kinds = [type(e).__name__ for e in events]
    assert kinds[-1] == "Completed" and "InProgress" in kinds
    assert [e.position for e in events if isinstance(e, fal_client.Queued)] == sorted(
        (e.position for e in events if isinstance(e, fal_client.Queued)), reverse=True)
    done = events[-1]
    assert isinstance(done, fal_client.Completed)
    assert done.error is None and "inference_time" in done.metrics
    assert any("step" in entry["message"] for entry in done.logs or [])

    result = handle.get()
    video = result["video"]
    assert video["url"].startswith("https://v3.fal.media/files/")
    assert video["content_type"] == "video/mp4"
    data = _fetch(video["url"]).content
    assert len(data) == video["file_size"]
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
        assert (stream.codec_context.width, stream.codec_context.height) == (960, 540)
        assert stream.average_rate == 24
        assert stream.codec_context.name == "h264"
    assert frames == 121
    # Same answers through the id-based calls, which build their URLs from the endpoint id.
    assert isinstance(client.status(T2V, handle.request_id, with_logs=False), fal_client.Completed)
    assert client.result(T2V, handle.request_id) == result
    hosts = {host for _, host, _ in fal_routed.seen}
    assert {"queue.fal.run", "v3.fal.media"} <= hosts


def test_sync_subscribe_with_queue_updates(fal_routed: FalRouting) -> None:
    client = fal_client.SyncClient(key=TEST_KEY)
    updates: list[Any] = []
    result = client.subscribe(T2I, {"prompt": "a red kite", "aspect_ratio": "16:9", "output_format": "jpeg"},
                              with_logs=True, on_queue_update=updates.append)
    assert updates and isinstance(updates[-1], (fal_client.InProgress, fal_client.Completed))
    (image,) = result["images"]
    assert image["content_type"] == "image/jpeg"
    picture = Image.open(io.BytesIO(_fetch(image["url"]).content))
    assert picture.format == "JPEG" and picture.size == (1360, 768)


def test_sync_cancel_queued_request(fal_routed: FalRouting, sandbox: Any) -> None:
    sandbox.configure(queue_seconds=30)
    client = fal_client.SyncClient(key=TEST_KEY)
    handle = client.submit(T2V, {"prompt": "never runs"})
    handle.cancel()
    status = handle.status(with_logs=False)
    assert isinstance(status, fal_client.Completed) and status.error is not None
    with pytest.raises(fal_client.FalClientHTTPError) as failure:
        handle.get()
    assert failure.value.status_code == 499
    assert failure.value.error_type == "client_cancelled"
    # A second cancel is refused: the request is already finished.
    with pytest.raises(fal_client.FalClientHTTPError) as again:
        client.cancel(T2V, handle.request_id)
    assert again.value.status_code == 400


def test_sync_validation_error_surfaces_as_422(fal_routed: FalRouting) -> None:
    client = fal_client.SyncClient(key=TEST_KEY)
    with pytest.raises(fal_client.FalClientHTTPError) as failure:
        client.subscribe(T2V, {"prompt": ""})
    assert failure.value.status_code == 422
    assert isinstance(failure.value.message, list) and failure.value.message[0]["loc"][-1] == "prompt"


@pytest.mark.parametrize("repository", [None, "fal"], ids=["cdn-v3-default", "fal-rest-fallback"])
def test_sync_upload_and_fetch_back(fal_routed: FalRouting, sandbox: Any, repository: str | None) -> None:
    client = fal_client.SyncClient(key=TEST_KEY)
    payload = bytes(range(256)) * 40
    url = client.upload(payload, "application/x-test", "blob.bin", repository=repository)
    assert url.startswith("https://v3.fal.media/files/")
    fetched = _fetch(url)
    assert fetched.content == payload
    assert fetched.headers["content-type"] == "application/x-test"
    flows = [e["upload"]["flow"] for e in sandbox.log() if "upload" in e]
    assert flows == (["cdn"] if repository is None else ["rest"])
    rest_calls = [(method, path.rsplit("/", 1)[0]) for method, host, path in fal_routed.seen if host == "rest.fal.ai"]
    if repository is None:
        assert rest_calls == [("POST", "/storage/auth")]
    else:  # initiate, then the PUT to the signed upload URL it handed out
        assert rest_calls == [("POST", "/storage/upload"), ("PUT", "/storage/put")]


def test_sync_upload_falls_back_to_rest_when_cdn_fails(fal_routed: FalRouting, sandbox: Any) -> None:
    sandbox.inject({"point": "upload", "kind": "http", "status": 500, "path_contains": "/files/upload"})
    url = fal_client.SyncClient(key=TEST_KEY).upload(b"fallback bytes", "text/plain", "note.txt")
    assert _fetch(url).content == b"fallback bytes"
    assert [e["upload"]["flow"] for e in sandbox.log() if "upload" in e] == ["rest"]


def test_sync_client_retries_nginx_429_and_gives_up_on_json_503(fal_routed: FalRouting, sandbox: Any) -> None:
    client = fal_client.SyncClient(key=TEST_KEY)
    sandbox.inject({"point": "submit", "kind": "http", "status": 429, "retry_after": 0},
                   {"point": "submit", "kind": "http", "status": 502})
    handle = client.submit(T2I, {"prompt": "retried"})
    assert handle.request_id
    assert [e["status"] for e in sandbox.log() if e["point"] == "submit"] == [429, 502, 200]
    sandbox.inject({"point": "submit", "kind": "http", "status": 503, "style": "json"})
    with pytest.raises(fal_client.FalClientHTTPError) as failure:
        client.submit(T2I, {"prompt": "not retried"})
    assert failure.value.status_code == 503
    assert failure.value.response_headers.get("x-fal-request-id")


def test_async_client_full_cycle(fal_routed: FalRouting) -> None:
    async def scenario() -> tuple[dict[str, Any], list[Any], str, Any]:
        client = fal_client.AsyncClient(key=TEST_KEY)
        handle = await client.submit(T2I, {"prompt": "async lantern", "aspect_ratio": "2:3"})
        events = [event async for event in handle.iter_events(with_logs=True, interval=0.05)]
        result = await handle.get()
        uploaded = await client.upload(b"\x89PNG-not-really", "image/png", "x.png")
        uploaded_rest = await client.upload(b"rest bytes", "text/plain", "r.txt", repository="fal")
        queued = await client.submit(T2I, {"prompt": "cancel me"})
        await queued.cancel()
        cancelled = await queued.status()
        return result, events, uploaded + " " + uploaded_rest, cancelled

    result, events, uploads, cancelled = asyncio.run(scenario())
    assert isinstance(events[-1], fal_client.Completed)
    picture = Image.open(io.BytesIO(_fetch(result["images"][0]["url"]).content))
    assert picture.format == "PNG" and picture.size == (832, 1248)
    first, second = uploads.split()
    assert _fetch(first).content == b"\x89PNG-not-really"
    assert _fetch(second).content == b"rest bytes"
    assert isinstance(cancelled, fal_client.Completed) and cancelled.error is not None
