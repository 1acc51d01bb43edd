"""The sandbox's control API (``/_sandbox/...``) over HTTP, for tests and the demo."""

from __future__ import annotations

from typing import Any

import httpx


class SandboxControl:
    """Reset, configure and inspect a running sandbox at ``url``."""

    def __init__(self, url: str, *, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self._timeout = timeout

    def _post(self, path: str, body: Any) -> Any:
        reply = httpx.post(f"{self.url}/_sandbox/{path}", json=body, timeout=self._timeout)
        reply.raise_for_status()
        return reply.json() if reply.content else None

    def health(self) -> Any:
        reply = httpx.get(f"{self.url}/_sandbox/health", timeout=self._timeout)
        reply.raise_for_status()
        return reply.json()

    def reset(self) -> None:
        self._post("reset", {})

    def configure(self, **config: Any) -> Any:
        return self._post("config", config)

    def inject(self, *faults: dict[str, Any]) -> Any:
        return self._post("faults", {"faults": list(faults)})

    def second_origin(self) -> str:
        """The base URL of a second port serving this sandbox: the same server at another origin."""
        return str(self._post("second_origin", {})["url"])

    def release(self, request_id: str) -> bool:
        """Let a queued request start now (hold it with a long queue_seconds, then let it go)."""
        return bool(self._post("release", {"request_id": request_id})["released"])

    def expire(self, request_id: str | None = None) -> list[str]:
        """Make fal "forget" a request (or every finished one) as when its retention has passed."""
        body = {} if request_id is None else {"request_id": request_id}
        return list(self._post("expire", body)["expired"])

    def platform(self, **changes: Any) -> Any:
        """Drift fal's documents (schema enums/fields, prices, balance, 404/500 modes)."""
        return self._post("platform", changes)

    def log(self) -> Any:
        reply = httpx.get(f"{self.url}/_sandbox/log", timeout=self._timeout)
        reply.raise_for_status()
        return reply.json()

    def __repr__(self) -> str:
        return f"SandboxControl({self.url!r})"
