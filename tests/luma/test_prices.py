"""Every price fal publishes (notes fal-drift-money-recovery §2, generation (B)) comes out of price_of,
from the bundled table and from a live pricing document; unpublished prices say so; every price says
where it came from."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from nodes.luma import constants as C
from nodes.luma.catalog import build_request
from nodes.luma.prices import (
    PRICES_PATH,
    Price,
    clear_price_document,
    effective_price_table,
    money,
    parse_pricing,
    price_of,
    price_of_request,
    set_price_document,
)

BUNDLED = "bundled 2026-10"

# Written out from the notes, not read from the table, so a typo in prices.json fails here.
T2V = {(d, r): usd * (2 if d == "10s" else 1)
       for d in C.RAY_DURATIONS for r, usd in (("540p", 0.50), ("720p", 1.00), ("1080p", 2.00))}
I2V = {  # (duration, resolution, hdr, exr) -> usd; 10 s = 2x ("10s costs 2x")
    ("5s", "540p", False, False): 0.15, ("5s", "720p", False, False): 0.30, ("5s", "1080p", False, False): 1.20,
    ("5s", "720p", True, False): 0.60, ("5s", "1080p", True, False): 2.40,
    ("5s", "720p", True, True): 0.90, ("5s", "1080p", True, True): 3.60,
    ("10s", "540p", False, False): 0.30, ("10s", "1080p", False, False): 2.40,
}
V2V = {
    ("5s", "540p", False, False): 0.72, ("5s", "720p", False, False): 1.08, ("5s", "1080p", False, False): 2.16,
    ("10s", "540p", False, False): 1.44, ("10s", "720p", False, False): 2.16, ("10s", "1080p", False, False): 4.32,
    ("5s", "720p", True, False): 2.16, ("5s", "1080p", True, False): 4.32,
    ("10s", "720p", True, False): 4.32, ("10s", "1080p", True, False): 8.64,
    ("5s", "720p", True, True): 3.24, ("5s", "1080p", True, True): 6.48,
    ("10s", "720p", True, True): 6.48, ("10s", "1080p", True, True): 12.96,
}
REFRAME_PER_SECOND = {"540p": 0.06, "720p": 0.12, "1080p": 0.36}
UNI = {C.UNI1_TEXT_TO_IMAGE: (0.042, 0.0), C.UNI1_MAX_TEXT_TO_IMAGE: (0.102, 0.0),
       C.UNI1_EDIT: (0.042, 0.003), C.UNI1_MAX_EDIT: (0.102, 0.003)}


@pytest.fixture(autouse=True)
def _no_live_document() -> Iterator[None]:
    clear_price_document()
    yield
    clear_price_document()


def _ray(endpoint: str, d: str, r: str, hdr: bool = False, exr: bool = False) -> Price:
    return price_of(endpoint, {"duration": d, "resolution": r, "hdr": hdr, "exr_export": exr})


@pytest.mark.parametrize(("duration", "resolution"), list(T2V))
def test_text_to_video_prices(duration: str, resolution: str) -> None:
    usd = T2V[(duration, resolution)]
    assert _ray(C.RAY32_TEXT_TO_VIDEO, duration, resolution) == Price(usd, money(usd), BUNDLED)


@pytest.mark.parametrize("key", list(I2V))
def test_image_to_video_prices(key: tuple) -> None:
    assert _ray(C.RAY32_IMAGE_TO_VIDEO, *key) == Price(I2V[key], money(I2V[key]), BUNDLED)


@pytest.mark.parametrize("key", list(V2V))
def test_video_to_video_prices(key: tuple) -> None:
    assert _ray(C.RAY32_VIDEO_TO_VIDEO, *key) == Price(V2V[key], money(V2V[key]), BUNDLED)


@pytest.mark.parametrize(("resolution", "seconds", "started"), [
    (r, s, n) for r in REFRAME_PER_SECOND for s, n in ((10.0, 10), (7.2, 8), (0.4, 1), (5.0, 5))])
def test_reframe_is_per_started_source_second(resolution: str, seconds: float, started: int) -> None:
    usd = round(REFRAME_PER_SECOND[resolution] * started, 6)
    price = price_of(C.RAY32_REFRAME, {"resolution": resolution, "source_seconds": seconds})
    assert price == Price(usd, f"{money(usd)} ({started} s of source)", BUNDLED)


def test_reframe_without_a_known_source_length_gives_the_rate() -> None:
    price = price_of(C.RAY32_REFRAME, {"resolution": "720p"})
    assert price.usd is None and price.per_source_second == 0.12
    assert price.text == "$0.12 per started source second · bundled 2026-10"


@pytest.mark.parametrize(("endpoint", "inputs"), [(e, n) for e in UNI for n in (0, 1, 3, 9)])
def test_uni1_prices(endpoint: str, inputs: int) -> None:
    per_image, per_input = UNI[endpoint]
    usd = round(per_image + per_input * inputs, 6)
    label = money(usd) + " (1 image" + (f" + {inputs} input image{'s' if inputs != 1 else ''}"
                                       if per_input and inputs else "") + ")"
    assert price_of(endpoint, {"images": 1, "input_images": inputs}) == Price(usd, label, BUNDLED)


@pytest.mark.parametrize(("endpoint", "params"), [
    (C.RAY32_TEXT_TO_VIDEO, {"resolution": "1080p", "hdr": True}),   # fal publishes no t2v HDR price
    (C.RAY32_IMAGE_TO_VIDEO, {"resolution": "4k"}),                  # not a resolution fal prices
])
def test_unpublished_prices_say_so(endpoint: str, params: dict) -> None:
    assert price_of(endpoint, params) == Price(None, "price not published", BUNDLED)


def test_unknown_endpoint_price_is_unknown() -> None:
    assert price_of("fal-ai/some/other-model", {}) == Price(None, "price unknown (not in the price table)")


def _live(*items: dict) -> dict:
    return {"prices": [dict({"currency": "USD"}, **item) for item in items], "next_cursor": None, "has_more": False}


@pytest.mark.parametrize(("quote", "params", "usd"), [
    # Same unit as bundled: the unit price replaces the base, the documented multipliers apply.
    ({"endpoint_id": C.RAY32_TEXT_TO_VIDEO, "unit_price": 0.60, "unit": "video"},
     {"resolution": "1080p", "duration": "10s"}, 4.80),
    # Per second: 5 s make the base clip.
    ({"endpoint_id": C.RAY32_IMAGE_TO_VIDEO, "unit_price": 0.04, "unit": "video_second"},
     {"resolution": "720p", "hdr": True, "exr_export": True}, 1.20),
    ({"endpoint_id": C.RAY32_VIDEO_TO_VIDEO, "unit_price": 1.00, "unit": "video"},
     {"resolution": "1080p", "duration": "10s", "hdr": True, "exr_export": True}, 18.00),
    ({"endpoint_id": C.RAY32_REFRAME, "unit_price": 0.05, "unit": "second"},
     {"resolution": "1080p", "source_seconds": 9.5}, 3.00),
    ({"endpoint_id": C.UNI1_MAX_EDIT, "unit_price": 0.2, "unit": "image"},
     {"images": 1, "input_images": 2}, 0.206),
])
def test_live_unit_price_with_documented_multipliers(quote: dict, params: dict, usd: float) -> None:
    set_price_document(_live(quote), "live", 1_700_000_000.0)
    price = price_of(quote["endpoint_id"], params)
    assert (price.usd, price.source) == (usd, "live")
    # Endpoints the document does not list keep the bundled price, and say so.
    assert price_of(C.UNI1_TEXT_TO_IMAGE, {"images": 1}).source == BUNDLED


def test_cached_price_says_its_date() -> None:
    fetched = 1_795_000_000.0
    set_price_document(_live({"endpoint_id": C.UNI1_EDIT, "unit_price": 0.05, "unit": "image"}), "cached", fetched)
    import time

    day = time.strftime("%Y-%m-%d", time.localtime(fetched))
    assert price_of(C.UNI1_EDIT, {"input_images": 1}).text == f"$0.053 (1 image + 1 input image) · cached {day}"


@pytest.mark.parametrize("item", [
    {"endpoint_id": C.RAY32_TEXT_TO_VIDEO, "unit_price": 9.0, "unit": "gpu_second"},   # a unit we cannot convert
    {"endpoint_id": C.RAY32_TEXT_TO_VIDEO, "unit_price": 9.0, "unit": "video", "currency": "EUR"},
    {"endpoint_id": C.RAY32_TEXT_TO_VIDEO, "unit_price": -1, "unit": "video"},
    {"endpoint_id": C.RAY32_TEXT_TO_VIDEO, "unit_price": "cheap", "unit": "video"},
])
def test_live_quotes_the_pack_cannot_use_fall_back_to_bundled(item: dict) -> None:
    set_price_document({"prices": [{"currency": "USD", **item}]}, "live", 1_700_000_000.0)
    assert price_of(C.RAY32_TEXT_TO_VIDEO, {}) == Price(0.5, "$0.50", BUNDLED)


def test_parse_pricing_ignores_junk() -> None:
    assert parse_pricing(None) == {} and parse_pricing({"prices": "x"}) == {}
    assert parse_pricing({"prices": [1, {"endpoint_id": "a", "unit_price": True}]}) == {}


def test_effective_table_names_each_endpoint_source() -> None:
    set_price_document(_live({"endpoint_id": C.RAY32_REFRAME, "unit_price": 0.07, "unit": "video_second"}),
                       "live", 1_700_000_000.0)
    table = effective_price_table()
    assert table["endpoints"][C.RAY32_REFRAME]["source"]["kind"] == "live"
    assert table["endpoints"][C.RAY32_REFRAME]["unit_price"] == 0.07
    assert {e["source"]["kind"] for k, e in table["endpoints"].items() if k != C.RAY32_REFRAME} == {"bundled"}
    # The bundled file itself is untouched by a live document.
    assert json.loads(PRICES_PATH.read_text())["endpoints"][C.RAY32_REFRAME]["unit_price"] == 0.06


def test_price_of_request_counts_the_edited_image_and_references_and_source_seconds() -> None:
    edit = build_request(C.UNI1_EDIT, {"prompt": "p", "image_url": "u", "reference_image_urls": ["r1", "r2"]})
    assert price_of_request(edit) == Price(0.051, "$0.051 (1 image + 3 input images)", BUNDLED)
    edit_max = build_request(C.UNI1_EDIT, {"model": "uni-1 max", "prompt": "p", "image_url": "u"})
    assert price_of_request(edit_max).usd == 0.105
    v2v = build_request(C.RAY32_VIDEO_TO_VIDEO, {"prompt": "p", "video_url": "v", "resolution": "1080p",
                                                 "duration": "10s", "hdr": True, "exr_export": True})
    assert price_of_request(v2v) == Price(12.96, "$12.96", BUNDLED)
    reframe = build_request(C.RAY32_REFRAME, {"prompt": "p", "video_url": "v", "aspect_ratio": "1:1"})
    assert price_of_request(reframe, source_seconds=4.01).usd == 0.30


def test_money_format() -> None:
    assert [money(v) for v in (1, 0.5, 12.96, 0.045, 0.042 + 0.003)] == ["$1.00", "$0.50", "$12.96", "$0.045",
                                                                          "$0.045"]


def test_table_is_plain_json_with_every_endpoint_and_only_valid_factor_values() -> None:
    table = json.loads(PRICES_PATH.read_text(encoding="utf-8"))
    assert table["format"] == 2 and table["currency"] == "USD"
    assert set(table["endpoints"]) == set(C.ALL_ENDPOINTS)
    values = {"duration": set(C.RAY_DURATIONS), "resolution": set(C.RAY_RESOLUTIONS),
              "hdr": {"true", "false"}, "exr_export": {"true", "false"}}
    for endpoint in table["endpoints"].values():
        assert endpoint["units_per_base"][endpoint["unit"]] == 1
        for name, factors in endpoint.get("factors", {}).items():
            assert set(factors) <= values[name]
    assert table["defaults"]["resolution"] == C.RAY_DEFAULT_RESOLUTION
    assert table["defaults"]["duration"] == C.RAY_DEFAULT_DURATION
