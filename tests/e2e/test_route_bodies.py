"""Every POST route of the pack reads at most a few KB of body, counted as it reads, in a real ComfyUI.

A chunked POST carries no Content-Length; a route that trusted that header read such a body up to
ComfyUI's upload limit (100 MB by default). Each route here answers 413 to a chunked body over its cap
and changes nothing; a small chunked body split over several chunks is read whole.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

NO_LIMITS = {"max_run_usd": None, "daily_budget_usd": None, "balance_floor_usd": None, "unknown_price": "warn"}
CHUNK = 1024
OVER_EVERY_CAP = 64  # chunks: 64 KB, over the key's and the settings' 4 KB and the inbox's 1 KB


def chunked(data: bytes) -> Iterator[bytes]:
    """The body in CHUNK-sized pieces: httpx sends an iterator with Transfer-Encoding: chunked."""
    for start in range(0, len(data), CHUNK):
        yield data[start:start + CHUNK]


def post_chunked(comfy: Any, path: str, data: bytes) -> Any:
    return comfy.client._http.post(path, content=chunked(data), headers={"Content-Type": "application/json"})


def big_json(field: str) -> bytes:
    return json.dumps({field: "x" * (OVER_EVERY_CAP * CHUNK)}).encode()


@pytest.mark.parametrize("path", [
    "/luma_fal/key",
    "/luma_fal/money",
    f"/luma_fal/requests/{uuid.uuid4()}/refetch",
    f"/luma_fal/requests/{uuid.uuid4()}/cancel",
])
def test_a_chunked_body_over_the_cap_is_refused_and_changes_nothing(comfy, comfy_sandbox, path) -> None:
    key_before = comfy.client.get_json("/luma_fal/key")
    money_before = comfy.client.get_json("/luma_fal/money")["stored"]
    reply = post_chunked(comfy, path, big_json("key"))
    assert reply.status_code == 413, reply.text
    assert "too large" in reply.json()["error"]
    assert reply.request.headers.get("transfer-encoding") == "chunked"
    assert "content-length" not in reply.request.headers  # the server had no length to trust
    assert comfy.client.get_json("/luma_fal/key") == key_before
    assert comfy.client.get_json("/luma_fal/money")["stored"] == money_before
    assert comfy_sandbox.log() == []


def test_a_small_chunked_body_is_read_whole(comfy, comfy_sandbox) -> None:
    body = json.dumps({**NO_LIMITS, "max_run_usd": 7.5}, indent=600).encode()  # ~3 KB: three chunks
    assert len(body) > 2 * CHUNK
    try:
        reply = post_chunked(comfy, "/luma_fal/money", body)
        assert reply.status_code == 200, reply.text
        assert reply.json()["max_run_usd"] == 7.5
    finally:
        comfy.client.post_json("/luma_fal/money", NO_LIMITS)
    # The inbox's empty-object body, split in two chunks, reaches the id check (unknown id: 404).
    reply = comfy.client._http.post(f"/luma_fal/requests/{uuid.uuid4()}/cancel", content=iter([b"{", b"}"]),
                                    headers={"Content-Type": "application/json"})
    assert reply.status_code == 404, reply.text
    assert comfy_sandbox.log() == []
