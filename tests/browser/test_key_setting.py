"""The fal key setting: store, replace and remove the server-side key from ComfyUI's settings dialog,
with the key never showing up in the page, the workflow, the settings file or anything the server sends."""

from __future__ import annotations

import json
import secrets
import stat
import time
from pathlib import Path
from typing import Any

ROOT = ".luma-fal-key"


def new_key() -> str:
    # Shaped like a real fal key (<uuid-ish id>:<32 hex>), unique per run so a hit can only be a leak.
    return f"{secrets.token_hex(4)}-leakcheck-{secrets.token_hex(4)}:{secrets.token_hex(16)}"


def open_key_setting(comfy_page: Any) -> Any:
    page = comfy_page.page
    page.evaluate("() => window.app.extensionManager.command.execute('Comfy.ShowSettingsDialog')")
    page.get_by_text("Luma (fal)", exact=True).first.click()
    root = page.locator(ROOT)
    root.wait_for(state="visible", timeout=20_000)
    return root


def wait_state(root: Any, configured: bool, source: str) -> None:
    selector = f'.luma-fal-key-state[data-configured="{str(configured).lower()}"][data-source="{source}"]'
    root.locator(selector).wait_for(timeout=20_000)


def save(root: Any, key: str) -> None:
    root.locator(".luma-fal-key-input").fill(key)
    root.locator(".luma-fal-key-save").click()


def assert_never_leaked(comfy_page: Any, keys: list[str], settings_file: Path) -> None:
    page = comfy_page.page
    dom = page.content()
    text = page.evaluate("() => document.body.innerText")
    inputs = page.evaluate("() => [...document.querySelectorAll('input, textarea')].map(e => e.value).join('\\n')")
    workflow = page.evaluate("() => JSON.stringify(window.app.graph.serialize())")
    storage = page.evaluate("() => JSON.stringify({...localStorage}) + JSON.stringify({...sessionStorage})")
    stored_settings = settings_file.read_text() if settings_file.exists() else ""
    bodies = list(comfy_page.recorder.bodies())
    assert bodies, "no responses were recorded"
    for key in keys:
        for where, content in [("DOM", dom), ("page text", text), ("input values", inputs), ("workflow", workflow),
                               ("web storage", storage), ("ComfyUI settings file", stored_settings)]:
            assert key not in content, f"the key appears in the {where}"
        for url, body in bodies:
            assert key.encode() not in body, f"the key appears in the response from {url}"


def test_store_replace_remove_key_from_settings(keyless_page: Any, clean_key_file: Path) -> None:
    comfy_page = keyless_page
    first, second = new_key(), new_key()
    root = open_key_setting(comfy_page)
    wait_state(root, False, "")
    assert "No fal key configured" in root.locator(".luma-fal-key-state").inner_text()

    save(root, first)
    wait_state(root, True, "file")
    assert clean_key_file.read_text().strip() == first
    assert stat.S_IMODE(clean_key_file.stat().st_mode) == 0o600
    assert root.locator(".luma-fal-key-input").input_value() == ""
    comfy_page.screenshot("key-stored")

    save(root, second)
    # The message already reads "Key saved." from the first save: wait for the file to change instead.
    deadline = time.monotonic() + 20
    while clean_key_file.read_text().strip() != second and time.monotonic() < deadline:
        comfy_page.page.wait_for_timeout(100)
    assert clean_key_file.read_text().strip() == second

    save(root, "not a key")  # refused by shape, with a message that names the rule
    root.locator(".luma-fal-key-message", has_text="must not contain spaces").wait_for(timeout=20_000)
    assert clean_key_file.read_text().strip() == second

    root.locator(".luma-fal-key-remove").click()
    wait_state(root, False, "")
    assert not clean_key_file.exists()
    comfy_page.screenshot("key-removed")

    settings_file = comfy_page.host.user_dir / "default" / "comfy.settings.json"
    assert_never_leaked(comfy_page, [first, second], settings_file)


def test_key_status_route_never_returns_the_key(keyless_page: Any, clean_key_file: Path) -> None:
    key = new_key()
    page = keyless_page.page
    answers = page.evaluate(
        """async (key) => {
            const send = (method, body) => fetch('/api/luma_fal/key', {method,
                headers: {'Content-Type': 'application/json'}, body: body && JSON.stringify(body)})
                .then(async r => ({status: r.status, text: await r.text()}));
            return [await send('POST', {key}), await send('GET'), await send('DELETE'), await send('GET')];
        }""",
        key,
    )
    assert [a["status"] for a in answers] == [200, 200, 200, 200]
    assert [json.loads(a["text"]) for a in answers[1:]] == [
        {"configured": True, "source": "file"}, {"configured": False, "source": None},
        {"configured": False, "source": None},
    ]
    assert all(key not in a["text"] for a in answers)
