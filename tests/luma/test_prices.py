"""Every price fal publishes (protocol notes §11.3) comes out of prices.json; unpublished ones say so."""

from __future__ import annotations

import itertools
import json

import pytest

from nodes.luma import constants as C
from nodes.luma.catalog import build_request
from nodes.luma.prices import PRICES_PATH, Price, money, price_of, price_of_request, price_table

# Written out from the notes, not read from the table, so a typo in prices.json fails here.
I2V_SDR = {("5s", "540p"): 0.50, ("5s", "720p"): 1.00, ("5s", "1080p"): 2.00,
           ("10s", "540p"): 1.00, ("10s", "720p"): 2.00, ("10s", "1080p"): 4.00}
V2V = {  # (duration, resolution, hdr, exr_export) -> usd
    ("5s", "540p", False, False): 0.72, ("5s", "720p", False, False): 1.08,
    ("5s", "1080p", False, False): 2.16,
    ("10s", "540p", False, False): 1.44, ("10s", "720p", False, False): 2.16,
    ("10s", "1080p", False, False): 4.32,
    ("5s", "720p", True, False): 2.16, ("5s", "1080p", True, False): 4.32,
    ("10s", "720p", True, False): 4.32, ("10s", "1080p", True, False): 8.64,
    ("5s", "720p", True, True): 3.24, ("5s", "1080p", True, True): 6.48,
    ("10s", "720p", True, True): 6.48, ("10s", "1080p", True, True): 12.96,
}


@pytest.mark.parametrize(("duration", "resolution"), list(I2V_SDR))
def test_image_to_video_prices(duration: str, resolution: str) -> None:
    usd = I2V_SDR[(duration, resolution)]
    assert price_of(C.RAY32_IMAGE_TO_VIDEO, {"duration": duration, "resolution": resolution, "hdr": False}) \
        == Price(usd, f"${usd:.2f}")


@pytest.mark.parametrize(("duration", "resolution", "hdr", "exr"), list(V2V))
def test_video_to_video_prices(duration: str, resolution: str, hdr: bool, exr: bool) -> None:
    usd = V2V[(duration, resolution, hdr, exr)]
    price = price_of(C.RAY32_VIDEO_TO_VIDEO, {"duration": duration, "resolution": resolution, "hdr": hdr,
                                              "exr_export": exr})
    assert price == Price(usd, f"${usd:.2f}")


def test_table_holds_exactly_the_published_video_prices() -> None:
    endpoints = price_table()["endpoints"]
    assert len(endpoints[C.RAY32_IMAGE_TO_VIDEO]["prices"]) == len(I2V_SDR)
    assert len(endpoints[C.RAY32_VIDEO_TO_VIDEO]["prices"]) == len(V2V)


def test_defaults_are_fal_defaults() -> None:
    assert price_of(C.RAY32_IMAGE_TO_VIDEO, {}) == Price(0.5, "$0.50")
    assert price_of(C.RAY32_VIDEO_TO_VIDEO, {"resolution": "720p", "hdr": None}) == Price(1.08, "$1.08")


@pytest.mark.parametrize(("duration", "resolution"), list(I2V_SDR))
def test_text_to_video_is_unpublished_with_a_labelled_hint(duration: str, resolution: str) -> None:
    price = price_of(C.RAY32_TEXT_TO_VIDEO, {"duration": duration, "resolution": resolution})
    assert price.usd is None
    assert price.label == ("price not published (image-to-video: "
                           f"${I2V_SDR[(duration, resolution)]:.2f})")


@pytest.mark.parametrize(("endpoint", "params"), [
    (C.RAY32_IMAGE_TO_VIDEO, {"resolution": "720p", "hdr": True}),
    (C.RAY32_IMAGE_TO_VIDEO, {"resolution": "1080p", "hdr": True, "exr_export": True, "duration": "10s"}),
    (C.RAY32_TEXT_TO_VIDEO, {"resolution": "1080p", "hdr": True}),   # hint source has no HDR price either
    (C.RAY32_REFRAME, {"resolution": "720p"}),
    (C.UNI1_MAX_TEXT_TO_IMAGE, {"images": 1}),
    (C.UNI1_MAX_EDIT, {"images": 1, "input_images": 3}),
])
def test_unpublished_prices_say_so(endpoint: str, params: dict) -> None:
    assert price_of(endpoint, params) == Price(None, "price not published")


def test_unknown_endpoint_price_is_unknown() -> None:
    assert price_of("fal-ai/some/other-model", {}) == Price(None, "price unknown (not in the price table)")


def test_uni1_prices() -> None:
    assert price_of(C.UNI1_TEXT_TO_IMAGE, {"images": 1}) == Price(0.042, "$0.042 (1 image)")
    # fal's t2i price is per image only; references are not charged there per the notes.
    assert price_of(C.UNI1_TEXT_TO_IMAGE, {"images": 1, "input_images": 4}) == \
        Price(0.042, "$0.042 (1 image)")
    assert price_of(C.UNI1_EDIT, {"images": 1, "input_images": 1}) == \
        Price(0.045, "$0.045 (1 image + 1 input image)")
    assert price_of(C.UNI1_EDIT, {"images": 1, "input_images": 9}) == \
        Price(0.069, "$0.069 (1 image + 9 input images)")
    assert price_of(C.UNI1_TEXT_TO_IMAGE, {"images": 2}) == Price(0.084, "$0.084 (2 images)")


def test_price_of_request_counts_the_edited_image_and_references() -> None:
    edit = build_request(C.UNI1_EDIT, {"prompt": "p", "image_url": "u", "reference_image_urls": ["r1", "r2"]})
    assert price_of_request(edit) == Price(0.051, "$0.051 (1 image + 3 input images)")
    edit_max = build_request(C.UNI1_EDIT, {"model": "uni-1 max", "prompt": "p", "image_url": "u"})
    assert price_of_request(edit_max).usd is None
    v2v = build_request(C.RAY32_VIDEO_TO_VIDEO, {"prompt": "p", "video_url": "v", "resolution": "1080p",
                                                 "duration": "10s", "hdr": True, "exr_export": True})
    assert price_of_request(v2v) == Price(12.96, "$12.96")
    reframe = build_request(C.RAY32_REFRAME, {"prompt": "p", "video_url": "v", "aspect_ratio": "1:1"})
    assert price_of_request(reframe).label == "price not published"


def test_money_format() -> None:
    assert [money(v) for v in (1, 0.5, 12.96, 0.045, 0.042 + 0.003)] == ["$1.00", "$0.50", "$12.96", "$0.045",
                                                                          "$0.045"]


def test_table_is_plain_json_with_every_endpoint_and_only_valid_keys() -> None:
    table = json.loads(PRICES_PATH.read_text(encoding="utf-8"))
    assert table["format"] == 1 and table["currency"] == "USD"
    assert set(table["endpoints"]) == set(C.ALL_ENDPOINTS)
    values = {"duration": C.RAY_DURATIONS, "resolution": C.RAY_RESOLUTIONS,
              "hdr": ("true", "false"), "exr_export": ("true", "false")}
    for endpoint in table["endpoints"].values():
        assert endpoint["kind"] in ("table", "per_image")
        if endpoint["kind"] == "table":
            allowed = {"|".join(combo) for combo in itertools.product(*(values[k] for k in endpoint["keys"]))}
            assert set(endpoint["prices"]) <= allowed
    assert table["defaults"]["resolution"] == C.RAY_DEFAULT_RESOLUTION
    assert table["defaults"]["duration"] == C.RAY_DEFAULT_DURATION
