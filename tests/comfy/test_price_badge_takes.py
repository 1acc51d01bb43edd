"""The generated (JSONata) badge of a node with a fan-out: takes × prompt_variants requests, priced as one
request times that many, evaluated as ComfyUI's frontend evaluates it (tests/comfy/badge_expect.py)."""

from __future__ import annotations

from typing import Any

import pytest

from nodes.comfy.rules.price_badge import BadgeInput, price_badge
from nodes.luma import constants as C
from nodes.luma.prices import money
from tests.comfy.badge_expect import badge_result, expected_badge, expected_price

RAY = [BadgeInput("resolution", "combo", tuple(C.RAY_RESOLUTIONS)),
       BadgeInput("duration", "combo", tuple(C.RAY_DURATIONS)),
       BadgeInput("hdr", "boolean", (False, True)), BadgeInput("exr_export", "boolean", (False, True))]
FAN_OUT = [BadgeInput("takes", "other"), BadgeInput("prompt_variants", "other")]
TYPES = {"resolution": "COMBO", "duration": "COMBO", "hdr": "BOOLEAN", "exr_export": "BOOLEAN",
         "model": "COMBO", "takes": "INT", "prompt_variants": "STRING"}
T2V_WIDGETS = {"resolution": "720p", "duration": "10s", "hdr": False, "exr_export": False}


def _declared(endpoint: str, inputs: list[BadgeInput]) -> dict[str, Any]:
    badge = price_badge(endpoint, inputs)
    return {"engine": "jsonata", "expr": badge.expr, "input_groups": [],
            "depends_on": {"widgets": [{"name": w, "type": TYPES[w]} for w in badge.widgets],
                           "inputs": badge.inputs}}


@pytest.mark.parametrize(("takes", "variants", "count"), [
    (1, "", 1), (4, "", 4), (1, "a\n\n b \n", 2), (3, "a\nb", 6), (None, None, 1),
], ids=["one", "four-takes", "two-variants", "takes-times-variants", "widgets-missing"])
def test_badge_multiplies_by_takes_times_variants(takes: Any, variants: Any, count: int) -> None:
    badge = _declared(C.RAY32_TEXT_TO_VIDEO, [*RAY, *FAN_OUT])
    assert [w["name"] for w in badge["depends_on"]["widgets"]][-2:] == ["takes", "prompt_variants"]
    node = {"type": "LumaFalRay32TextToVideo", "widgets": T2V_WIDGETS, "linked": []}
    one, _ = expected_price(node)
    text = badge_result(badge, {**T2V_WIDGETS, "takes": takes, "prompt_variants": variants}, [])["text"]
    if count == 1:
        assert text == expected_badge(node)
    else:
        assert text == f"{money(one.usd * count)} ({count} × {one.label}) · {one.source}"


def test_fan_out_of_a_rate_or_unknown_price_says_n_times() -> None:
    badge = _declared(C.RAY32_REFRAME, [BadgeInput("resolution", "combo", tuple(C.RAY_RESOLUTIONS)), *FAN_OUT])
    node = {"type": "LumaFalRay32Reframe", "widgets": {"resolution": "720p"}, "linked": []}
    text = badge_result(badge, {"resolution": "720p", "takes": 2, "prompt_variants": ""}, [])["text"]
    assert text == f"2 × {expected_badge(node)}"


def test_a_lower_bound_stays_a_lower_bound() -> None:
    inputs = [BadgeInput("image", "image"), BadgeInput("model", "combo", tuple(C.UNI1_MODELS)),
              BadgeInput("references", "image"), *FAN_OUT]
    badge = _declared(C.UNI1_EDIT, inputs)
    node = {"type": "LumaFalUni1ImageEdit", "widgets": {"model": "uni-1"}, "linked": ["image", "references"]}
    one, lower = expected_price(node)
    assert lower
    text = badge_result(badge, {"model": "uni-1", "takes": 2}, ["image", "references"])["text"]
    assert text == f"from {money(one.usd * 2)} (2 × {one.label}) · {one.source}"
