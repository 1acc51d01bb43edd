"""Money you can trust, inside a real ComfyUI with the sandbox as fal: the pack follows fal's live schema
and prices (or its cached / bundled copy when fal's documents are missing), and the spend limits refuse
a run — or a whole prompt of runs — before anything is uploaded or submitted."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from typing import Any

import pytest

from nodes.luma import constants as C
from nodes.luma.fal_schema import bundled_documents
from tests.e2e.pack_helpers import example_prompt, node_of_type, unique_text

T2V, I2V = "LumaFalRay32TextToVideo", "LumaFalRay32ImageToVideo"
# fal's documents and its records (request history, billing events: read after a save, in the background)
# cost nothing
DOC_POINTS = {"openapi", "pricing", "billing", "requests", "billing_events"}
NO_LIMITS = {"max_run_usd": None, "daily_budget_usd": None, "balance_floor_usd": None, "unknown_price": "warn"}


class Money:
    """The pack's money routes on the ComfyUI under test."""

    def __init__(self, comfy: Any) -> None:
        self.client = comfy.client

    def refresh(self) -> dict[str, Any]:
        reply = self.client.post_json("/luma_fal/fal_docs/refresh", {})
        reply.raise_for_status()
        return reply.json()

    def forget(self) -> dict[str, Any]:
        reply = self.client._http.delete("/luma_fal/fal_docs")
        reply.raise_for_status()
        return reply.json()

    def limits(self, **settings: Any) -> dict[str, Any]:
        reply = self.client.post_json("/luma_fal/money", settings)
        assert reply.status_code == 200, reply.text
        return reply.json()

    def state(self) -> dict[str, Any]:
        return self.client.get_json("/luma_fal/money")

    def prices(self) -> dict[str, Any]:
        return self.client.get_json("/luma_fal/prices")

    def balance(self) -> dict[str, Any]:
        return self.client.get_json("/luma_fal/balance", fresh="1")


@pytest.fixture
def money(comfy: Any, comfy_sandbox: Any) -> Iterator[Money]:
    helper = Money(comfy)
    helper.refresh()
    yield helper
    # Leave fal's documents and the limits as other tests expect them: undrifted, fetched, no limits.
    helper.limits(**NO_LIMITS)
    comfy_sandbox.reset()
    helper.refresh()


def paid_calls(sandbox: Any) -> list[dict[str, Any]]:
    """Calls that could cost money or upload: everything except fal's documents and records."""
    return [c for c in sandbox.log() if c.get("point") not in DOC_POINTS]


def submits(sandbox: Any) -> list[dict[str, Any]]:
    return [c for c in sandbox.log() if c.get("point") == "submit"]


def refused(result: Any, node_type: str) -> str:
    assert result.status == "error", result.describe()
    assert result.error["node_type"] == node_type, result.describe()
    message = result.error["exception_message"]
    assert "nothing was sent to fal (not billed)" in message, message
    return message


def t2v(comfy: Any, **inputs: Any) -> dict[str, Any]:
    return example_prompt(comfy, "luma_ray32_text_to_video", LumaFalRay32TextToVideo=inputs)


# -- fal's schema ------------------------------------------------------------------------------------

def test_removed_aspect_ratio_is_refused_before_anything_is_sent(comfy: Any, comfy_sandbox: Any, money: Money) -> None:
    message = refused(comfy.run(t2v(comfy, aspect_ratio="3:2")), T2V)
    assert "aspect_ratio: fal changed this option: 3:2 is no longer accepted" in message, message
    assert "accepts 3:4, 4:3, 1:1, 9:16, 16:9, 21:9" in message and "(live)" in message, message
    assert paid_calls(comfy_sandbox) == []


def test_live_drift_refuses_an_option_before_the_start_image_is_uploaded(comfy: Any, comfy_sandbox: Any,
                                                                         money: Money) -> None:
    comfy_sandbox.platform(enum_drift={C.RAY32_IMAGE_TO_VIDEO: {"resolution": ["720p", "1080p"]}})
    money.refresh()
    comfy_sandbox.log()  # the refresh's own calls are documents, which paid_calls ignores
    prompt = example_prompt(comfy, "luma_ray32_image_to_video", LumaFalRay32ImageToVideo={"resolution": "540p"})
    message = refused(comfy.run(prompt), I2V)
    assert "resolution: fal changed this option: 540p is no longer accepted" in message, message
    assert "accepts 720p, 1080p" in message, message
    assert paid_calls(comfy_sandbox) == [], "the start image was uploaded or the request submitted"
    # The same drift, with an option fal still takes, runs and is accepted by the drifted sandbox.
    ok = comfy.run(example_prompt(comfy, "luma_ray32_image_to_video", LumaFalRay32ImageToVideo={"resolution": "720p"}))
    assert ok.ok, ok.describe()


def test_newly_required_field_is_reported(comfy: Any, comfy_sandbox: Any, money: Money) -> None:
    comfy_sandbox.platform(require_fields={C.RAY32_TEXT_TO_VIDEO: ["camera_motion"]})
    money.refresh()
    message = refused(comfy.run(t2v(comfy)), T2V)
    assert "camera_motion: fal now requires this input" in message and "update comfyui-luma-fal" in message
    assert paid_calls(comfy_sandbox) == []


def test_field_fal_dropped_is_not_sent_and_the_status_line_says_so(comfy: Any, comfy_sandbox: Any,
                                                                   money: Money) -> None:
    comfy_sandbox.platform(drop_fields={C.RAY32_TEXT_TO_VIDEO: ["loop"]})
    money.refresh()
    run = comfy.submit(t2v(comfy, loop=True))
    told = run.wait_for_event(lambda e: e.type == "luma_fal.status" and e.data.get("notice"), timeout=60)
    result = run.wait(timeout=120)
    assert result.ok, result.describe()
    assert "loop=true is not sent: fal's current schema for luma/agent/ray/v3.2/text-to-video" in told.data["notice"]
    [submit] = submits(comfy_sandbox)
    assert "loop" not in submit["payload"] and submit["payload"]["resolution"] == "540p"


def _t2v_with_references(comfy: Any) -> dict[str, Any]:
    prompt = t2v(comfy)
    prompt["90"] = {"class_type": "LoadImage", "inputs": {"image": "example.png"}}
    node_of_type(prompt, T2V)[1]["inputs"]["reference_images"] = ["90", 0]
    return prompt


def test_text_to_video_references_fal_dropped_are_refused_before_anything_is_paid(comfy: Any, comfy_sandbox: Any,
                                                                                  money: Money) -> None:
    prompt = _t2v_with_references(comfy)
    run = comfy.submit(prompt)
    status = run.wait_for_event(lambda e: e.type == "luma_fal.status" and e.data.get("phase") == "refused", timeout=60)
    message = refused(run.wait(timeout=60), T2V)
    # which input, why, how to go on without it, what to use instead
    assert "reference_images: connected, but fal's current schema for luma/agent/ray/v3.2/text-to-video" in message
    assert "has no reference_image_urls" in message and "disconnect reference_images" in message, message
    assert "Luma Ray 3.2 Image to Video (fal) with a reference as its start frame (start_image)" in message
    assert "reference_images: connected" in status.data["text"]
    assert paid_calls(comfy_sandbox) == []  # nothing uploaded, nothing submitted
    # The node shows it before a run, from the same table as the price badge.
    drops = money.prices()["schema_drops"]
    assert "has no reference_image_urls" in drops[T2V]["reference_images"]
    # Disconnected: the user chose to run without them.
    del node_of_type(prompt, T2V)[1]["inputs"]["reference_images"]
    assert comfy.run(prompt).ok
    [submit] = submits(comfy_sandbox)
    assert "reference_image_urls" not in submit["payload"]


def _with_references(money: Money) -> dict[str, Any]:
    """fal's text-to-video schema as the sandbox serves it, with reference images as (A)'s pages had them."""
    doc = copy.deepcopy(bundled_documents()[C.RAY32_TEXT_TO_VIDEO])
    doc["components"]["schemas"]["Ray32TextToVideoInput"]["properties"]["reference_image_urls"] = {
        "type": "array", "items": {"type": "string"}}
    return doc


def test_references_fal_still_takes_are_not_refused(comfy: Any, comfy_sandbox: Any, money: Money) -> None:
    comfy_sandbox.platform(openapi={C.RAY32_TEXT_TO_VIDEO: _with_references(money)})
    money.refresh()
    assert "LumaFalRay32TextToVideo" not in money.prices()["schema_drops"]
    result = comfy.run(_t2v_with_references(comfy))
    assert result.ok, result.describe()
    [submit] = submits(comfy_sandbox)
    assert len(submit["payload"]["reference_image_urls"]) == 1


def test_missing_documents_fall_back_to_cached_then_bundled(comfy: Any, comfy_sandbox: Any, money: Money) -> None:
    comfy_sandbox.platform(openapi_status={"*": 500}, pricing_status=404)
    status = money.refresh()
    assert status["prices"]["source"].startswith("cached 20") and "404" in status["prices"]["error"]
    assert all(s["source"].startswith("cached 20") for s in status["schemas"].values()), status
    assert money.prices()["endpoints"][C.RAY32_TEXT_TO_VIDEO]["source"]["kind"] == "cached"
    status = money.forget()
    assert {s["source"] for s in status["schemas"].values()} == {"bundled 2026-10"}
    table = money.prices()  # tries fal again (500/404), so still the bundled snapshot
    assert {e["source"]["label"] for e in table["endpoints"].values()} == {"bundled 2026-10"}
    assert table["endpoints"][C.RAY32_IMAGE_TO_VIDEO]["unit_price"] == 0.15
    message = refused(comfy.run(t2v(comfy, aspect_ratio="2:1")), T2V)
    assert "(bundled 2026-10) accepts 3:4, 4:3, 1:1, 9:16, 16:9, 21:9" in message, message
    assert paid_calls(comfy_sandbox) == []


# -- prices and limits -------------------------------------------------------------------------------

def test_live_price_drives_the_estimate_and_the_per_run_cap(comfy: Any, comfy_sandbox: Any, money: Money) -> None:
    comfy_sandbox.platform(prices={C.RAY32_TEXT_TO_VIDEO: {"unit_price": 0.16, "unit": "video_second"}})
    money.refresh()
    entry = money.prices()["endpoints"][C.RAY32_TEXT_TO_VIDEO]
    assert entry["unit_price"] == 0.8 and entry["source"]["kind"] == "live"  # 5 s x $0.16
    state = money.limits(max_run_usd=1.0)
    assert state["max_run_usd"] == 1.0 and state["origins"]["max_run_usd"] == "setting"
    message = refused(comfy.run(t2v(comfy, resolution="720p")), T2V)
    assert "the estimate for this run is $1.60 · live, above your per-run cap of $1.00" in message, message
    assert "Settings → Luma (fal) → Spend limits" in message and "LUMA_FAL_MAX_RUN_USD" in message
    assert paid_calls(comfy_sandbox) == []
    assert comfy.run(t2v(comfy, resolution="540p")).ok  # $0.80: within the cap


def _three_takes(comfy: Any) -> dict[str, Any]:
    prompt = t2v(comfy)
    node_id, node = node_of_type(prompt, T2V)
    for extra in ("201", "202"):
        twin = copy.deepcopy(node)
        twin["inputs"]["prompt"] = unique_text("another take")
        prompt[extra] = twin
    return prompt


def test_daily_budget_counts_every_paid_node_of_the_prompt(comfy: Any, comfy_sandbox: Any, money: Money) -> None:
    spent = money.state()["spent_today"]
    money.limits(daily_budget_usd=spent + 1.20)  # three $0.50 takes do not fit, one would
    message = refused(comfy.run(_three_takes(comfy)), T2V)
    assert "this prompt's 3 paid runs together $1.50" in message, message
    assert "over your daily budget" in message and "$1.20 left today" in message, message
    assert paid_calls(comfy_sandbox) == [], "a take slipped past the budget"

    money.limits(daily_budget_usd=spent + 1.50)
    result = comfy.run(_three_takes(comfy))
    assert result.ok, result.describe()
    assert len(submits(comfy_sandbox)) == 3
    assert money.state()["spent_today"] == pytest.approx(spent + 1.50)
    # Today's spend now fills the budget: the next take is refused.
    refused(comfy.run(t2v(comfy)), T2V)
    assert len(submits(comfy_sandbox)) == 3


def test_unknown_price_refused_when_set_to_refuse(comfy: Any, comfy_sandbox: Any, money: Money) -> None:
    money.limits(unknown_price="refuse")
    message = refused(comfy.run(t2v(comfy, resolution="720p", hdr=True)), T2V)
    assert "price of this run is unknown" in message and "price not published" in message, message
    assert paid_calls(comfy_sandbox) == []
    money.limits(unknown_price="warn")
    assert comfy.run(t2v(comfy, resolution="720p", hdr=True)).ok


def test_refusal_names_the_prompts_other_paid_nodes_by_their_display_names(comfy: Any, comfy_sandbox: Any,
                                                                          money: Money) -> None:
    # The spend check names other nodes by the titles the extension registered at start-up.
    money.limits(unknown_price="refuse")
    prompt = t2v(comfy, resolution="720p", hdr=True)
    _, node = node_of_type(prompt, T2V)
    twin = copy.deepcopy(node)
    twin["inputs"]["prompt"] = unique_text("the other node")
    prompt["301"] = twin
    message = refused(comfy.run(prompt), T2V)
    # whichever of the two runs first names the other one by its title and prompt node id
    assert re.search(r"Luma Ray 3\.2 Text to Video \(fal\) #\d+: price not published", message), message
    assert paid_calls(comfy_sandbox) == []


def test_balance_floor_refuses_and_a_key_without_billing_access_is_said_plainly(comfy: Any, comfy_sandbox: Any,
                                                                                  money: Money) -> None:
    comfy_sandbox.platform(balance=3.0)
    assert money.balance() == {"available": True, "usd": 3.0, "currency": "USD", "refused": False, "message": ""}
    money.limits(balance_floor_usd=2.5)
    message = refused(comfy.run(t2v(comfy, resolution="1080p")), T2V)
    assert "your fal balance is $3.00" in message and "would be $1.00" in message, message
    assert "balance floor of $2.50" in message
    assert paid_calls(comfy_sandbox) == []

    comfy_sandbox.platform(billing_status=403)
    found = money.balance()
    assert found["available"] is False and found["refused"] is True
    assert "may not read the account balance (HTTP 403, authorization_error: Forbidden: this key has no billing " \
        "access); fal shows it only" in found["message"], found["message"]  # fal's platform envelope, shown
    assert comfy.run(t2v(comfy, resolution="1080p")).ok  # the floor cannot be checked: a warning, not a refusal


def test_bad_limit_setting_is_refused_naming_it(comfy: Any, money: Money) -> None:
    reply = comfy.client.post_json("/luma_fal/money", {"daily_budget_usd": "lots"})
    assert reply.status_code == 400 and "daily_budget_usd" in reply.json()["error"]
    reply = comfy.client.post_json("/luma_fal/money", {"unknown_price": "maybe"})
    assert reply.status_code == 400 and "refuse or warn" in reply.json()["error"]
