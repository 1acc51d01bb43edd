"""The spend-limit panel in ComfyUI's settings dialog: limits saved on the server, the fal balance shown,
and a key that may not read the balance said plainly."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

ROOT = ".luma-fal-money"
NO_LIMITS = {"max_run_usd": None, "daily_budget_usd": None, "balance_floor_usd": None, "unknown_price": "warn"}


def open_money_setting(comfy_page: Any) -> Any:
    page = comfy_page.page
    page.evaluate("() => window.app.extensionManager.command.execute('Comfy.ShowSettingsDialog')")
    page.get_by_text("Luma (fal)", exact=True).first.click()
    root = page.locator(ROOT)
    root.wait_for(state="visible", timeout=20_000)
    return root


@pytest.fixture
def clean_limits(host: Any, comfy_sandbox: Any) -> Iterator[Any]:
    host.client.post_json("/luma_fal/money", NO_LIMITS).raise_for_status()
    yield host
    host.client.post_json("/luma_fal/money", NO_LIMITS).raise_for_status()
    comfy_sandbox.reset()


def test_limits_are_saved_on_the_server_and_balance_is_shown(clean_limits: Any, comfy_sandbox: Any,
                                                              comfy_page: Any) -> None:
    comfy_sandbox.platform(balance=42.5)
    root = open_money_setting(comfy_page)
    root.locator('.luma-fal-money-balance[data-available="true"]').wait_for(timeout=20_000)
    assert root.locator(".luma-fal-money-balance").inner_text() == "fal balance: $42.50"
    root.locator(".luma-fal-money-max_run_usd").fill("1.5")
    root.locator(".luma-fal-money-daily_budget_usd").fill("12")
    root.locator(".luma-fal-money-unknown_price").select_option("refuse")
    root.locator(".luma-fal-money-save").click()
    root.get_by_text("Limits saved.").wait_for(timeout=20_000)
    state = clean_limits.client.get_json("/luma_fal/money")
    assert (state["max_run_usd"], state["daily_budget_usd"], state["unknown_price"]) == (1.5, 12.0, "refuse")
    assert state["origins"]["max_run_usd"] == "setting"
    assert "Spent today" in root.locator(".luma-fal-money-spent").inner_text()
    comfy_page.screenshot("money-settings")


def test_key_without_billing_access_is_said_plainly(clean_limits: Any, comfy_sandbox: Any, comfy_page: Any) -> None:
    comfy_sandbox.platform(billing_status=403)
    root = open_money_setting(comfy_page)
    root.locator('.luma-fal-money-balance[data-available="false"]').wait_for(timeout=20_000)
    text = root.locator(".luma-fal-money-balance").inner_text()
    assert "not available to this key" in text and "HTTP 403" in text, text
