"""Shared fixtures: the local fal-compatible sandbox server; the hooks that run ComfyUI tests on every host.

- ``sandbox_server`` (session): ``python -m sandbox --port 0`` in a subprocess (port 0 = the OS picks a
  free one; the server prints the URL it bound), stderr to test-output/sandbox-<pid>.log
  (tools.layout.TEST_OUTPUT).
- ``sandbox`` (function): the same server, reset before the test; ``.url``, ``.configure(**cfg)``,
  ``.inject(*faults)``, ``.log()``, ``.get(path)``, ``.second_origin()``.
"""

from __future__ import annotations

import os
import re
import selectors
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import host_params
from tools.layout import TEST_OUTPUT

REPO = Path(__file__).resolve().parents[1]
OUTPUT = TEST_OUTPUT
_READY = re.compile(r"sandbox listening on (http://\S+)")


class SandboxServer:
    def __init__(self, process: subprocess.Popen[bytes], url: str, log_path: Path) -> None:
        self.process = process
        self.url = url
        self.log_path = log_path


class Sandbox:
    """Test-side handle on a running sandbox: control API helpers over plain httpx."""

    def __init__(self, server: SandboxServer) -> None:
        self.url = server.url
        self.log_path = server.log_path
        self._http = httpx.Client(base_url=server.url, timeout=30.0)

    def reset(self) -> None:
        self._http.post("/_sandbox/reset").raise_for_status()

    def configure(self, **config: Any) -> dict[str, Any]:
        response = self._http.post("/_sandbox/config", json=config)
        response.raise_for_status()
        return response.json()

    def inject(self, *faults: dict[str, Any]) -> list[dict[str, Any]]:
        """Add fault rules, e.g. ``inject({"point": "submit", "kind": "http", "status": 429})``."""
        response = self._http.post("/_sandbox/faults", json={"faults": list(faults)})
        response.raise_for_status()
        return response.json()["pending"]

    def platform(self, **changes: Any) -> dict[str, Any]:
        """Drift fal's documents (see sandbox/platform_docs.py): enum_drift, drop_fields, prices, ..."""
        response = self._http.post("/_sandbox/platform", json=changes)
        response.raise_for_status()
        return response.json()

    def pending_faults(self) -> list[dict[str, Any]]:
        return self._http.get("/_sandbox/faults").json()["pending"]

    def log(self) -> list[dict[str, Any]]:
        return self._http.get("/_sandbox/log").json()["calls"]

    def second_origin(self) -> str:
        """Base URL of a second port serving this same sandbox: another origin (scheme://host:port)."""
        response = self._http.post("/_sandbox/second_origin")
        response.raise_for_status()
        return str(response.json()["url"])

    def release(self, request_id: str) -> bool:
        """Let a queued request start now (hold it with a long queue_seconds, then let it go)."""
        response = self._http.post("/_sandbox/release", json={"request_id": request_id})
        response.raise_for_status()
        return response.json()["released"]

    def expire(self, request_id: str | None = None) -> list[str]:
        """Forget a request (or every finished one) as fal does once its retention has passed."""
        body = {} if request_id is None else {"request_id": request_id}
        response = self._http.post("/_sandbox/expire", json=body)
        response.raise_for_status()
        return response.json()["expired"]

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        """GET a sandbox path or absolute URL (e.g. a returned file URL)."""
        return self._http.get(path, **kwargs)

    def close(self) -> None:
        self._http.close()


def _wait_for_ready_line(process: subprocess.Popen[bytes], timeout: float) -> str:
    assert process.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    buffer = b""
    try:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                break
            if selector.select(timeout=0.1):
                chunk = os.read(process.stdout.fileno(), 4096)
                if not chunk:
                    break
                buffer += chunk
                match = _READY.search(buffer.decode(errors="replace"))
                if match:
                    return match.group(1)
    finally:
        selector.close()
    raise RuntimeError(f"sandbox did not start (exit code {process.poll()}); output: {buffer!r}")


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[SandboxServer]:
    OUTPUT.mkdir(exist_ok=True)
    log_path = OUTPUT / f"sandbox-{os.getpid()}.log"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "sandbox", "--host", "127.0.0.1", "--port", "0", "--log-level", "INFO"],
            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=log_file,
        )
    try:
        # Generous: on a busy machine (the suite's parallel pytest processes start together) importing the
        # sandbox's numpy/av/PIL can take well over 30 s; a start-up failure here errors the whole session.
        url = _wait_for_ready_line(process, timeout=180.0)
        deadline = time.monotonic() + 10
        while httpx.get(f"{url}/_sandbox/health", timeout=2.0).status_code != 200:
            if time.monotonic() > deadline:
                raise RuntimeError("sandbox health check failed")
            time.sleep(0.05)
        yield SandboxServer(process, url, log_path)
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        if process.stdout is not None:
            process.stdout.close()


@pytest.fixture
def sandbox(sandbox_server: SandboxServer) -> Iterator[Sandbox]:
    handle = Sandbox(sandbox_server)
    handle.reset()
    try:
        yield handle
    finally:
        handle.close()


def pytest_addoption(parser: pytest.Parser) -> None:
    host_params.add_option(parser)


def pytest_configure(config: pytest.Config) -> None:
    host_params.register_marker(config)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    host_params.parametrize(metafunc)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Only the selected hosts' variants; then the browser tests last: Playwright's sync API keeps an event
    loop running on the main thread for the rest of the session, and the transport tests call
    ``asyncio.run`` themselves. (The sort is stable: pytest's grouping by host survives it.)"""
    host_params.deselect_other_hosts(config, items)
    browser_dir = REPO / "tests" / "browser"
    items.sort(key=lambda item: Path(str(item.path)).is_relative_to(browser_dir))
