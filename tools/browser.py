"""Debian's Chromium as the browser tests and tools/make_thumbnails.py drive it (Playwright, headless).

The page may only reach loopback: Chromium sends every other request (the frontend calls api.comfy.org) to a
proxy on a closed loopback port, so it fails inside the browser at once.
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
CLOSED_PORT = 9  # discard: nothing listens on it here
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
    "--autoplay-policy=no-user-gesture-required",
    # Loopback goes direct (Chromium never proxies it); anything else, IP literals included, goes to a
    # proxy port where nothing listens and fails at once.
    f"--proxy-server=http://127.0.0.1:{CLOSED_PORT}",
]
# Settings a fresh user gets prompts for; answered up front so no dialog covers the canvas.
QUIET_SETTINGS: dict[str, Any] = {"Comfy.TutorialCompleted": True, "Comfy.VueNodes.Enabled": False}


def post_settings(base_url: str, settings: dict[str, Any] | None = None) -> None:
    """Store ComfyUI user settings (``QUIET_SETTINGS`` by default) before a page loads."""
    request = urllib.request.Request(
        f"{base_url}/settings", data=json.dumps(settings or QUIET_SETTINGS).encode(), method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30):
        pass
