"""Helpers shared by the fal transport tests (imported as ``tests.fal.support``)."""

from __future__ import annotations

import os
from typing import Any

from nodes.fal.retry import RetryPolicy
from nodes.fal.runner import FalRunner

# A key-shaped secret that must never show up in a log line, message or repr.
TEST_KEY = "fal-test-id-7f3a:fal-test-secret-9b1c5d"
FAST_RETRY = RetryPolicy(max_attempts=5, base_delay=0.01, max_delay=0.05)

ENV_NAMES = (
    "FAL_KEY",
    "FAL_KEY_ID",
    "FAL_KEY_SECRET",
    "LUMA_FAL_BASE_URL",
    "LUMA_FAL_CA_BUNDLE",
    "LUMA_FAL_MAX_CONCURRENT",
    "SSL_CERT_FILE",
    "REQUESTS_CA_BUNDLE",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "no_proxy",
)


def make_runner(**kwargs: Any) -> FalRunner:
    options: dict[str, Any] = {
        "retry": FAST_RETRY,
        "poll_interval": 0.05,
        "max_poll_interval": 0.2,
        "event_interval": 0.2,
    }
    options.update(kwargs)
    return FalRunner(**options)


def calls(sandbox: Any, point: str | None = None, method: str | None = None) -> list[dict[str, Any]]:
    return [
        e
        for e in sandbox.log()
        if (point is None or e.get("point") == point) and (method is None or e.get("method") == method)
    ]


def fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))
