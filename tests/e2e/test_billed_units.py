"""What fal bills, for every key: the units fal sends with a result (x-fal-billable-units) times the unit
price of fal's pricing document, recorded with the result; the inbox, the receipt, the ledger and today's
spend use it. The key here may not read billing events (a plain key), so the units are all there is."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nodes.luma import constants as C
from tests.e2e.pack_helpers import example_prompt, node_of_type

T2V = "LumaFalRay32TextToVideo"


@pytest.fixture
def plain_key(comfy: Any, comfy_sandbox: Any) -> Iterator[Any]:
    comfy_sandbox.platform(key_scopes=["requests"])  # no billing scope: fal refuses its billing events
    yield comfy_sandbox
    comfy_sandbox.reset()
    comfy.client.post_json("/luma_fal/fal_docs/refresh", {})


def _run(comfy: Any, **inputs: Any) -> tuple[dict[str, Any], Path]:
    prompt = example_prompt(comfy, "luma_ray32_text_to_video", LumaFalRay32TextToVideo=inputs)
    node_id, _ = node_of_type(prompt, T2V)
    result = comfy.run(prompt, timeout=120)
    assert result.ok, result.describe()
    [video] = [comfy.output_path(f) for f in result.files(node_id) if f["filename"].endswith(".mp4")]
    rows = comfy.client.get_json("/luma_fal/requests", limit="5")["entries"]
    receipt = json.loads(video.with_name(video.name + ".json").read_text())
    [row] = [r for r in rows if r["request_id"] == receipt["request_id"]]
    return row, video


def _result_reads(sandbox: Any) -> list[dict[str, Any]]:
    return [c for c in sandbox.log() if c.get("point") == "result"]


def test_fals_billable_units_times_the_live_unit_price_is_the_billed_figure(comfy: Any, plain_key: Any) -> None:
    plain_key.platform(prices={C.RAY32_TEXT_TO_VIDEO: {"unit_price": 0.1, "unit": "video_second"}})
    comfy.client.post_json("/luma_fal/fal_docs/refresh", {})
    spent = comfy.client.get_json("/luma_fal/money")["spent_today"]
    row, video = _run(comfy, resolution="720p")

    # 720p 5 s = 2 x (5 s x $0.10): fal bills 10 units of a video second at $0.10
    assert row["billed_from"] == "units" and row["billed_units"] == 10 and row["billed_unit"] == "video_second"
    assert row["unit_price"] == 0.1 and row["billed_usd"] == pytest.approx(1.0) and row["price_usd"] == 1.0
    assert row["drift_flag"] is False
    receipt = json.loads(video.with_name(video.name + ".json").read_text())
    assert receipt["billed"]["usd"] == pytest.approx(1.0) and receipt["billed"]["units"] == 10
    assert receipt["billed"]["unit_price_source"] == "live"
    assert comfy.client.get_json("/luma_fal/ledger")["today"]["billed_usd"] >= 1.0
    assert comfy.client.get_json("/luma_fal/money")["spent_today"] == pytest.approx(spent + 1.0)
    assert not [c for c in plain_key.log() if c.get("point") == "billing_events"]  # a plain key: units only


def test_units_beyond_the_estimate_are_flagged_and_counted(comfy: Any, plain_key: Any) -> None:
    plain_key.platform(billing_factor=1.5)  # fal bills 50 % more units than the pack's table says
    spent = comfy.client.get_json("/luma_fal/money")["spent_today"]
    row, _ = _run(comfy)

    assert row["billed_from"] == "units" and row["billed_usd"] == pytest.approx(row["price_usd"] * 1.5)
    assert row["drift"] == pytest.approx(0.5) and row["drift_flag"] is True
    assert comfy.client.get_json("/luma_fal/money")["spent_today"] == pytest.approx(spent + row["billed_usd"])


def test_a_result_without_units_says_so_and_keeps_the_estimate(comfy: Any, plain_key: Any) -> None:
    plain_key.configure(billable_units=False)
    spent = comfy.client.get_json("/luma_fal/money")["spent_today"]
    row, video = _run(comfy)

    assert [c for c in _result_reads(plain_key)]  # the result was read, without the header
    assert row["billed_from"] == "none" and row["billed_usd"] is None and row["drift"] is None
    receipt = json.loads(video.with_name(video.name + ".json").read_text())
    assert receipt["billed"]["usd"] is None and "no billable units" in receipt["billed"]["note"]
    assert comfy.client.get_json("/luma_fal/money")["spent_today"] == pytest.approx(spent + row["price_usd"])
