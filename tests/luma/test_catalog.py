"""Valid requests become fal's exact JSON bodies; endpoints route right; fal-style 422 details."""

from __future__ import annotations

import json

import pytest

from nodes.luma import constants as C
from nodes.luma.catalog import (
    UnknownEndpoint,
    build_request,
    check_source_video,
    fal_detail,
    request_model_for,
)
from nodes.luma.errors import RequestInvalid
from nodes.luma.requests import (
    Ray32ImageToVideoRequest,
    Ray32ReframeRequest,
    Ray32TextToVideoRequest,
    Ray32VideoToVideoRequest,
    Uni1EditRequest,
    Uni1TextToImageRequest,
)

P = "a lighthouse in a storm, waves crashing"
A, B = "https://cdn.example/a.png", "data:image/png;base64,iVBORw0KGgo="
V = "https://cdn.example/source.mp4"


def payload_json(endpoint_id: str, fields: dict) -> str:
    return json.dumps(build_request(endpoint_id, fields).to_payload(), sort_keys=True)


def test_text_to_video_payload_sends_every_setting() -> None:
    fields = {"prompt": P, "duration": "10s", "resolution": "1080p"}
    body = build_request(C.RAY32_TEXT_TO_VIDEO, fields).to_payload()
    assert body == {"prompt": P, "aspect_ratio": "16:9", "resolution": "1080p", "duration": "10s",
                    "loop": False, "hdr": False, "exr_export": False}


def test_image_to_video_payload_drops_unset_fields() -> None:
    fields = {"prompt": P, "keyframes": [A, B], "keyframe_indexes": [0, 240], "duration": "10s",
              "resolution": "720p", "hdr": True, "exr_export": True, "aspect_ratio": "21:9"}
    assert payload_json(C.RAY32_IMAGE_TO_VIDEO, fields) == json.dumps(
        {"prompt": P, "keyframes": [A, B], "keyframe_indexes": [0, 240], "aspect_ratio": "21:9",
         "resolution": "720p", "duration": "10s", "loop": False, "hdr": True, "exr_export": True},
        sort_keys=True)


def test_image_to_video_start_image_payload() -> None:
    body = build_request(C.RAY32_IMAGE_TO_VIDEO, {"prompt": P, "image_url": A, "loop": True}).to_payload()
    assert body == {"prompt": P, "image_url": A, "resolution": "540p", "duration": "5s", "loop": True,
                    "hdr": False, "exr_export": False}


def test_video_to_video_controls_from_names_and_unset_flags_left_out() -> None:
    fields = {"prompt": P, "video_url": V, "start_image_url": A, "edit_strength": "flex_2",
              "controls": ["pose", "depth"], "keyframes": [B], "keyframe_indexes": [60]}
    assert build_request(C.RAY32_VIDEO_TO_VIDEO, fields).to_payload() == {
        "prompt": P, "video_url": V, "start_image_url": A, "edit_strength": "flex_2",
        "controls": {"pose": True, "depth": True}, "keyframes": [B], "keyframe_indexes": [60],
        "duration": "5s", "resolution": "540p", "hdr": False, "exr_export": False}


def test_video_to_video_auto_controls_payload() -> None:
    fields = {"prompt": P, "video_url": V, "auto_controls": True}
    body = build_request(C.RAY32_VIDEO_TO_VIDEO, fields).to_payload()
    assert body["auto_controls"] is True and "controls" not in body


def test_reframe_payload() -> None:
    fields = {"prompt": P, "video_url": V, "aspect_ratio": "9:16", "resolution": "720p",
              "source_position": {"x_norm": 0.25, "y_norm": 0, "w_norm": 0.5, "h_norm": 1}}
    assert build_request(C.RAY32_REFRAME, fields).to_payload() == {
        "prompt": P, "video_url": V, "aspect_ratio": "9:16", "resolution": "720p",
        "source_position": {"x_norm": 0.25, "y_norm": 0.0, "w_norm": 0.5, "h_norm": 1.0}}


@pytest.mark.parametrize(("model", "endpoint"), [("uni-1", C.UNI1_TEXT_TO_IMAGE),
                                                  ("uni-1 max", C.UNI1_MAX_TEXT_TO_IMAGE)])
def test_uni1_text_to_image_routes_by_model_and_never_sends_it(model: str, endpoint: str) -> None:
    fields = {"model": model, "prompt": P, "aspect_ratio": "3:2", "style": "manga", "output_format": "jpeg",
              "reference_image_urls": [A, B], "enable_web_search": True}
    request = build_request(C.UNI1_TEXT_TO_IMAGE, fields)
    assert request.endpoint_id == endpoint
    assert request.to_payload() == {"prompt": P, "aspect_ratio": "3:2", "style": "manga",
                                    "output_format": "jpeg", "reference_image_urls": [A, B],
                                    "enable_web_search": True}


@pytest.mark.parametrize(("model", "endpoint"), [("uni-1", C.UNI1_EDIT), ("uni-1 max", C.UNI1_MAX_EDIT)])
def test_uni1_edit_routes_by_model(model: str, endpoint: str) -> None:
    fields = {"model": model, "prompt": P, "image_url": A, "reference_image_urls": []}
    request = build_request(C.UNI1_EDIT, fields)
    assert request.endpoint_id == endpoint
    assert request.to_payload() == {"prompt": P, "image_url": A}  # empty list and unset options left out


@pytest.mark.parametrize("endpoint", [C.UNI1_MAX_TEXT_TO_IMAGE, C.UNI1_MAX_EDIT])
def test_payload_posted_to_a_max_endpoint_validates_as_max(endpoint: str) -> None:
    fields = {"prompt": P, "image_url": A} if endpoint == C.UNI1_MAX_EDIT else {"prompt": P}
    request = build_request(endpoint, fields)
    assert request.model == "uni-1 max" and request.endpoint_id == endpoint
    assert request.to_payload() == fields


def test_uni1_edit_refuses_web_search_which_is_text_to_image_only() -> None:
    with pytest.raises(RequestInvalid) as caught:
        build_request(C.UNI1_EDIT, {"prompt": P, "image_url": A, "enable_web_search": True})
    assert caught.value.fields() == ["enable_web_search"]


@pytest.mark.parametrize(("endpoint", "model", "kind"), [
    (C.RAY32_TEXT_TO_VIDEO, Ray32TextToVideoRequest, "video"),
    (C.RAY32_IMAGE_TO_VIDEO, Ray32ImageToVideoRequest, "video"),
    (C.RAY32_VIDEO_TO_VIDEO, Ray32VideoToVideoRequest, "video"),
    (C.RAY32_REFRAME, Ray32ReframeRequest, "video"),
    (C.UNI1_TEXT_TO_IMAGE, Uni1TextToImageRequest, "images"),
    (C.UNI1_MAX_TEXT_TO_IMAGE, Uni1TextToImageRequest, "images"),
    (C.UNI1_EDIT, Uni1EditRequest, "images"),
    (C.UNI1_MAX_EDIT, Uni1EditRequest, "images"),
])
def test_request_model_for_every_endpoint(endpoint: str, model: type, kind: str) -> None:
    assert request_model_for(endpoint) is model
    assert model.output_kind == kind


def test_catalogue_covers_all_endpoints_and_refuses_others() -> None:
    assert {e for e in C.ALL_ENDPOINTS if request_model_for(e)} == set(C.ALL_ENDPOINTS)
    with pytest.raises(UnknownEndpoint):
        request_model_for("luma/agent/ray/v9/text-to-video")
    with pytest.raises(UnknownEndpoint):
        build_request("fal-ai/flux/dev", {"prompt": P})


def test_fal_detail_has_fals_422_shape() -> None:
    with pytest.raises(RequestInvalid) as caught:
        build_request(C.RAY32_IMAGE_TO_VIDEO, {"image_url": A, "resolution": "4k",
                                               "keyframe_indexes": [0, "x"], "loop": True, "duration": "10s"})
    detail = fal_detail(caught.value)
    json.dumps(detail)  # the sandbox sends it as-is
    assert all(set(item) == {"loc", "msg", "type"} and item["loc"][0] == "body" for item in detail)
    by_loc = {tuple(item["loc"]): item for item in detail}
    assert by_loc[("body", "resolution")]["type"] == "literal_error"
    assert by_loc[("body", "keyframe_indexes", 1)]["type"] == "int_parsing"
    assert by_loc[("body", "prompt")] == {"loc": ["body", "prompt"], "msg": "Field required",
                                          "type": "missing"}
    assert by_loc[("body", "loop")]["type"] == "value_error"
    assert "5s" in by_loc[("body", "loop")]["msg"]


def test_fal_detail_for_nested_field() -> None:
    with pytest.raises(RequestInvalid) as caught:
        box = {"x_norm": 0, "y_norm": 0, "w_norm": 1, "h_norm": -2}
        build_request(C.RAY32_REFRAME,
                      {"prompt": P, "video_url": V, "aspect_ratio": "1:1", "source_position": box})
    assert fal_detail(caught.value) == [{"loc": ["body", "source_position", "h_norm"],
                                         "msg": "must be between 0 and 1 (got -2)", "type": "value_error"}]


@pytest.mark.parametrize(("endpoint", "seconds"), [(C.RAY32_REFRAME, 10.0), (C.RAY32_REFRAME, 0.5),
                                                   (C.RAY32_VIDEO_TO_VIDEO, 18.0)])
def test_source_video_within_limit(endpoint: str, seconds: float) -> None:
    assert check_source_video(endpoint, seconds) is None


@pytest.mark.parametrize(("endpoint", "seconds", "code", "words"), [
    (C.RAY32_REFRAME, 10.5, "source_video_too_long", ("10.50 s", "at most 10 s", "reframe")),
    (C.RAY32_VIDEO_TO_VIDEO, 18.2, "source_video_too_long", ("18.20 s", "at most 18 s", "video-to-video")),
    (C.RAY32_VIDEO_TO_VIDEO, 0.0, "source_video_empty", ("no usable length",)),
    (C.RAY32_REFRAME, float("nan"), "source_video_empty", ("no usable length",)),
])
def test_source_video_refused(endpoint: str, seconds: float, code: str, words: tuple[str, ...]) -> None:
    with pytest.raises(RequestInvalid) as caught:
        check_source_video(endpoint, seconds)
    [problem] = caught.value.problems
    assert (problem.field, problem.code) == ("video_url", code)
    assert all(w in problem.message for w in words), problem.message


def test_source_video_check_needs_an_endpoint_with_a_source() -> None:
    with pytest.raises(UnknownEndpoint):
        check_source_video(C.RAY32_TEXT_TO_VIDEO, 5.0)


def test_v2v_source_limit_is_the_documented_18_seconds() -> None:
    assert C.RAY32_V2V_MAX_SOURCE_SECONDS == 18.0 and C.REFRAME_MAX_SOURCE_SECONDS == 10.0


def test_importing_constants_does_not_load_pydantic() -> None:
    # Node definitions read constants at ComfyUI start-up; the package __init__ must stay import-free.
    import subprocess
    import sys
    from pathlib import Path

    code = "import sys; import nodes.luma.constants; print('pydantic' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60,
                         cwd=Path(__file__).resolve().parents[2])
    assert out.stdout.strip() == "False"


def test_expected_video_size_comes_from_the_fields_when_they_say_it() -> None:
    # The size the pack prepares frame memory for while fal works (a guess, checked against the real file).
    assert Ray32TextToVideoRequest(prompt=P).expected_video() == (121, 960, 540)
    assert Ray32TextToVideoRequest(prompt=P, aspect_ratio="9:16", resolution="1080p",
                                   duration="10s").expected_video() == (241, 1080, 1920)
    assert Ray32ImageToVideoRequest(prompt=P, image_url=A, aspect_ratio="1:1").expected_video() == (121, 540, 540)
    # The shape follows a source: the input image, the source video's length.
    assert Ray32ImageToVideoRequest(prompt=P, image_url=A).expected_video() is None
    assert Ray32VideoToVideoRequest(prompt=P, video_url=V).expected_video() is None
    assert Ray32ReframeRequest(video_url=V, aspect_ratio="1:1", prompt=P).expected_video() is None
