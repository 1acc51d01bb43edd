"""The browser fixtures keep the page on loopback (tests/browser/conftest.py): a request to any other address
fails inside Chromium and is recorded, while the ComfyUI server on loopback answers as usual. Proved with a
server of the test's own that listens on every interface, so only the browser's set-up can stop the request."""

from __future__ import annotations

import socket
import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


def _outward_address() -> str | None:
    """This machine's address on its first non-loopback interface (a UDP connect sends nothing)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.123", 9))
        except OSError:
            return None
        address = probe.getsockname()[0]
    return None if address.startswith("127.") else address


@pytest.fixture
def listener() -> Iterator[tuple[str, list[str]]]:
    """An HTTP server on every interface: (its non-loopback base URL, the paths it was asked for)."""
    address = _outward_address()
    if address is None:
        pytest.fail("this machine has no non-loopback IPv4 address to prove the loopback-only browser with")
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            self.send_response(200)
            self.send_header("Access-Control-Allow-Origin", "*")
            self.end_headers()
            self.wfile.write(b"reached")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("0.0.0.0", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{address}:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def test_a_request_off_loopback_fails_in_the_browser_and_is_recorded(canvas_page: Any, listener: Any) -> None:
    base, seen = listener
    # The listener does answer on that address: the test's own client reaches it.
    with urllib.request.urlopen(f"{base}/from-the-test", timeout=5) as reply:
        assert reply.read() == b"reached"
    outcome = canvas_page.page.evaluate(
        """async (url) => {
            try { const r = await fetch(url); return 'answered ' + r.status + ' ' + await r.text(); }
            catch (error) { return 'failed: ' + error; }
        }""",
        f"{base}/from-the-page",
    )
    assert outcome.startswith("failed"), outcome
    assert "/from-the-page" not in seen, seen
    assert f"{base}/from-the-page" in canvas_page.recorder.aborted
    # Loopback is untouched: the page still reads its own server.
    stats = canvas_page.page.evaluate("async () => (await fetch('/system_stats')).status")
    assert stats == 200
