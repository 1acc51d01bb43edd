"""The sandbox answers what fal answers (../shared/notes/fal-queue-protocol.md, docs/fal-records.md, the
recorded Ray 3.2 answers of issue 27): one test per documented behaviour the pack relies on."""

from __future__ import annotations

import math
from typing import Any

import httpx
import pytest

from nodes.luma import constants as C
from tests.sandbox.helpers import run_to_result, wait_completed

BILLABLE = "x-fal-billable-units"


def _ok(api: httpx.Client, endpoint_id: str, payload: dict[str, Any]) -> httpx.Response:
    response = run_to_result(api, endpoint_id, payload)
    assert response.status_code == 200, response.text
    return response


def test_a_field_the_endpoint_does_not_define_is_ignored_as_fal_does(api: httpx.Client) -> None:
    """fal ran a reframe payload carrying ``duration`` (reframe has none) and returned a video."""
    source = _ok(api, C.RAY32_TEXT_TO_VIDEO, {"prompt": "source"}).json()["video"]["url"]
    reframed = _ok(api, C.RAY32_REFRAME, {"prompt": "wide", "video_url": source, "aspect_ratio": "21:9",
                                          "duration": "10s"}).json()
    assert reframed["video"]["content_type"] == "video/mp4"
    t2v = _ok(api, C.RAY32_TEXT_TO_VIDEO, {"prompt": "x", "seed": 7, "negative_prompt": "y"}).json()
    assert t2v["video"]["url"]


def test_a_defined_field_with_a_bad_value_is_still_refused(api: httpx.Client) -> None:
    response = run_to_result(api, C.RAY32_TEXT_TO_VIDEO, {"prompt": "x", "resolution": "4k", "unknown": 1})
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body", "resolution"]


def test_ray_results_always_carry_exr_file_null_when_not_asked(api: httpx.Client) -> None:
    plain = _ok(api, C.RAY32_TEXT_TO_VIDEO, {"prompt": "x"}).json()
    assert "exr_file" in plain and plain["exr_file"] is None
    asked = _ok(api, C.RAY32_TEXT_TO_VIDEO, {"prompt": "x", "resolution": "720p", "hdr": True,
                                             "exr_export": True}).json()
    assert asked["exr_file"]["url"] and asked["exr_file"]["content_type"] == "image/x-exr"
    image = _ok(api, C.UNI1_TEXT_TO_IMAGE, {"prompt": "x"}).json()
    assert "exr_file" not in image  # Uni-1's output is {images: [...]} only


@pytest.mark.parametrize("endpoint_id,payload,units", [
    (C.RAY32_TEXT_TO_VIDEO, {"prompt": "x"}, 1.0),                           # one 5 s 540p video
    (C.RAY32_TEXT_TO_VIDEO, {"prompt": "x", "resolution": "720p"}, 2.0),     # 720p costs 2x
    (C.RAY32_TEXT_TO_VIDEO, {"prompt": "x", "resolution": "1080p", "duration": "10s"}, 8.0),  # 4x, 10 s 2x
    (C.UNI1_TEXT_TO_IMAGE, {"prompt": "x"}, 1.0),                            # one image
])
def test_the_result_read_carries_the_billable_units_of_what_was_produced(api: httpx.Client, endpoint_id: str,
                                                                         payload: dict[str, Any], units: float) -> None:
    response = _ok(api, endpoint_id, payload)
    assert float(response.headers[BILLABLE]) == pytest.approx(units)


def test_reframe_bills_the_started_seconds_of_the_source_it_really_reframed(api: httpx.Client) -> None:
    source = _ok(api, C.RAY32_TEXT_TO_VIDEO, {"prompt": "source"}).json()["video"]["url"]  # 121 frames: 5.04 s
    response = _ok(api, C.RAY32_REFRAME, {"prompt": "wide", "video_url": source, "aspect_ratio": "21:9"})
    assert float(response.headers[BILLABLE]) == math.ceil(121 / 24)  # 6 started seconds at $0.06


def test_failed_results_carry_no_units_and_the_header_can_be_left_out(sandbox: Any, api: httpx.Client) -> None:
    failed = run_to_result(api, C.RAY32_TEXT_TO_VIDEO, {"prompt": ""})
    assert failed.status_code == 422 and BILLABLE not in failed.headers  # fal bills only successful outputs
    sandbox.configure(billable_units=False)
    assert BILLABLE not in _ok(api, C.RAY32_TEXT_TO_VIDEO, {"prompt": "x"}).headers


def test_status_and_result_accept_a_trailing_slash(api: httpx.Client) -> None:
    submitted = api.post(f"/{C.RAY32_TEXT_TO_VIDEO}", json={"prompt": "x"}).json()
    done = wait_completed(api, submitted["status_url"] + "/")
    assert done["status"] == "COMPLETED" and "logs" in done and "metrics" in done
    assert api.get(submitted["response_url"] + "/").status_code == 200
