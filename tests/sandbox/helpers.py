"""Helpers for the sandbox tests (importable; conftest modules are not under --import-mode=importlib)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import httpx

TEST_KEY = "sandbox-test-key-id:sandbox-test-secret-5e2a"
FAL_HOSTS = frozenset({"queue.fal.run", "fal.run", "rest.fal.ai", "v3.fal.media", "queue.falrun.com", "falrun.com"})
QUICK = {"queue_seconds": 0.3, "run_seconds": 0.6, "queue_position_start": 2, "log_lines": 3}


def wait_completed(client: httpx.Client, status_url: str, timeout: float = 180.0, logs: bool = False) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = client.get(status_url, params={"logs": "1" if logs else "0"})
        body = response.json()
        if body["status"] == "COMPLETED":
            assert response.status_code == 200
            return body
        assert response.status_code == 202
        time.sleep(0.05)
    raise AssertionError(f"request did not complete within {timeout} s")


def run_to_result(client: httpx.Client, endpoint_id: str, payload: dict[str, Any]) -> httpx.Response:
    submitted = client.post(f"/{endpoint_id}", json=payload)
    assert submitted.status_code == 200, submitted.text
    wait_completed(client, submitted.json()["status_url"])
    return client.get(submitted.json()["response_url"])


@dataclass
class FalRouting:
    """Which fal hosts the official client talked to (method, host, path), in order."""

    base: httpx.URL
    seen: list[tuple[str, str, str]] = field(default_factory=list)

    def reroute(self, request: httpx.Request) -> None:
        if request.url.host not in FAL_HOSTS:
            return
        self.seen.append((request.method, request.url.host, request.url.path))
        request.headers["X-Forwarded-Proto"] = request.url.scheme
        # The Host header keeps fal's name; only the connection goes to the sandbox.
        request.url = request.url.copy_with(scheme=self.base.scheme, host=self.base.host, port=self.base.port)

