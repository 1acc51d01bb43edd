"""One case per validation rule: the exact field, the code, and words of the rule in the message."""

from __future__ import annotations

from typing import Any

import pytest

from nodes.luma import constants as C
from nodes.luma.catalog import build_request
from nodes.luma.errors import Problem, RequestInvalid

PROMPT = "a red fox running through fresh snow"
IMG_A, IMG_B, IMG_C = "https://cdn.example/a.png", "https://cdn.example/b.png", "https://cdn.example/c.png"
VIDEO = "https://cdn.example/source.mp4"
T2V, I2V, V2V, RF = C.RAY32_TEXT_TO_VIDEO, C.RAY32_IMAGE_TO_VIDEO, C.RAY32_VIDEO_TO_VIDEO, C.RAY32_REFRAME
U_T2I, U_EDIT = C.UNI1_TEXT_TO_IMAGE, C.UNI1_EDIT
U_MAX, U_MAX_EDIT = C.UNI1_MAX_TEXT_TO_IMAGE, C.UNI1_MAX_EDIT

VALID: dict[str, dict[str, Any]] = {
    T2V: {"prompt": PROMPT},
    I2V: {"prompt": PROMPT, "image_url": IMG_A},
    V2V: {"prompt": PROMPT, "video_url": VIDEO},
    RF: {"prompt": PROMPT, "video_url": VIDEO, "aspect_ratio": "9:16"},
    U_T2I: {"prompt": PROMPT},
    U_MAX: {"prompt": PROMPT},
    U_EDIT: {"prompt": PROMPT, "image_url": IMG_A},
    U_MAX_EDIT: {"prompt": PROMPT, "image_url": IMG_A},
}
KF2 = {"image_url": ..., "keyframes": [IMG_A, IMG_B], "keyframe_indexes": [0, 120]}


def base(endpoint_id: str, **changes: Any) -> dict[str, Any]:
    """The endpoint's valid input with ``changes`` applied; a value of ``...`` removes the field."""
    fields = dict(VALID[endpoint_id])
    for name, value in changes.items():
        if value is ...:
            fields.pop(name, None)
        else:
            fields[name] = value
    return fields


def problems(endpoint_id: str, fields: dict[str, Any]) -> list[Problem]:
    with pytest.raises(RequestInvalid) as caught:
        build_request(endpoint_id, fields)
    return caught.value.problems


# (id, endpoint, input, field, code, words the message must contain)
CASES: list[tuple[str, str, dict[str, Any], str, str, tuple[str, ...]]] = [
    ("prompt-required-t2v", T2V, base(T2V, prompt=...), "prompt", "prompt_required", ("required",)),
    ("prompt-required-reframe", RF, base(RF, prompt=...), "prompt", "prompt_required", ("required",)),
    ("prompt-required-uni", U_EDIT, base(U_EDIT, prompt=...), "prompt", "prompt_required", ("required",)),
    ("prompt-empty", I2V, base(I2V, prompt=""), "prompt", "prompt_empty", ("empty",)),
    ("prompt-whitespace", U_T2I, base(U_T2I, prompt=" \n\t "), "prompt", "prompt_empty", ("empty",)),
    ("prompt-too-long", V2V, base(V2V, prompt="x" * 6001), "prompt", "prompt_too_long", ("6001", "6000")),
    ("enum-resolution", T2V, base(T2V, resolution="4k"), "resolution", "literal_error",
     ("must be one of 540p, 720p, 1080p (got 4k)",)),
    ("enum-aspect", I2V, base(I2V, aspect_ratio="5:4"), "aspect_ratio", "literal_error", ("16:9", "got 5:4")),
    ("enum-duration", T2V, base(T2V, duration="7s"), "duration", "literal_error", ("5s, 10s", "got 7s")),
    ("enum-edit-strength", V2V, base(V2V, edit_strength="wild"), "edit_strength", "literal_error",
     ("adhere_1", "reimagine_3")),
    ("enum-uni-aspect", U_T2I, base(U_T2I, aspect_ratio="4:3"), "aspect_ratio", "literal_error",
     ("3:1", "1:3", "got 4:3")),
    ("enum-uni-style", U_EDIT, base(U_EDIT, style="anime"), "style", "literal_error", ("auto, manga",)),
    ("enum-uni-format", U_T2I, base(U_T2I, output_format="webp"), "output_format", "literal_error",
     ("png, jpeg",)),
    ("enum-uni-model", U_T2I, base(U_T2I, model="uni-2"), "model", "literal_error", ("uni-1, uni-1 max",)),
    ("loop-10s", T2V, base(T2V, loop=True, duration="10s"), "loop", "loop_duration", ("5s", "10s")),
    ("loop-hdr", T2V, base(T2V, loop=True, hdr=True, resolution="720p"), "loop", "loop_hdr", ("SDR",)),
    ("loop-end-frame", I2V, base(I2V, loop=True, end_image_url=IMG_B), "loop", "loop_end_frame",
     ("end image",)),
    ("loop-keyframes", I2V, base(I2V, loop=True, **KF2), "loop", "loop_keyframes", ("keyframes",)),
    ("i2v-10s-start-image", I2V, base(I2V, duration="10s"), "duration", "duration_needs_keyframes",
     ("10s needs text-to-video or two or more keyframes; with a single start/end image use 5s",)),
    ("i2v-10s-end-image", I2V, base(I2V, image_url=..., end_image_url=IMG_B, duration="10s"), "duration",
     "duration_needs_keyframes", ("single start/end image",)),
    ("i2v-10s-start-and-end", I2V, base(I2V, end_image_url=IMG_B, duration="10s"), "duration",
     "duration_needs_keyframes", ("keyframes", "5s")),
    ("i2v-10s-one-keyframe", I2V, base(I2V, image_url=..., keyframes=[IMG_A], keyframe_indexes=[0],
                                       duration="10s"), "duration", "duration_needs_keyframes",
     ("two or more keyframes",)),
    ("t2v-hdr-10s", T2V, base(T2V, hdr=True, resolution="1080p", duration="10s"), "hdr", "hdr_duration",
     ("5s", "10s")),
    ("hdr-540p-t2v", T2V, base(T2V, hdr=True), "hdr", "hdr_resolution", ("720p or 1080p", "540p")),
    ("hdr-540p-i2v", I2V, base(I2V, hdr=True, resolution="540p"), "hdr", "hdr_resolution", ("720p",)),
    ("hdr-540p-v2v", V2V, base(V2V, hdr=True), "hdr", "hdr_resolution", ("720p",)),
    ("exr-without-hdr-t2v", T2V, base(T2V, exr_export=True), "exr_export", "exr_needs_hdr", ("hdr",)),
    ("exr-without-hdr-v2v", V2V, base(V2V, exr_export=True, resolution="720p"), "exr_export",
     "exr_needs_hdr", ("hdr",)),
    ("keyframes-too-many", I2V, base(I2V, image_url=..., keyframes=[IMG_A] * 65,
                                     keyframe_indexes=list(range(65))), "keyframes", "keyframes_too_many",
     ("64", "65")),
    ("keyframes-length", I2V, base(I2V, image_url=..., keyframes=[IMG_A, IMG_B], keyframe_indexes=[0]),
     "keyframe_indexes", "keyframe_indexes_length", ("2 keyframes", "1 index")),
    ("keyframes-no-indexes", V2V, base(V2V, keyframes=[IMG_A]), "keyframe_indexes", "keyframe_indexes_length",
     ("one frame index per keyframe",)),
    ("keyframes-duplicate", I2V, base(I2V, image_url=..., keyframes=[IMG_A, IMG_B],
                                      keyframe_indexes=[60, 60]),
     "keyframe_indexes", "keyframe_indexes_duplicate", ("once", "60")),
    ("keyframe-range-5s", I2V, base(I2V, image_url=..., keyframes=[IMG_A, IMG_B], keyframe_indexes=[0, 121]),
     "keyframe_indexes", "keyframe_index_range", ("0..120", "121")),
    ("keyframe-range-10s", I2V, base(I2V, image_url=..., keyframes=[IMG_A, IMG_B], keyframe_indexes=[0, 241],
                                     duration="10s"), "keyframe_indexes", "keyframe_index_range",
     ("0..240", "241")),
    ("keyframe-negative", V2V, base(V2V, keyframes=[IMG_A], keyframe_indexes=[-1]), "keyframe_indexes",
     "keyframe_index_range", ("-1",)),
    ("keyframe-empty-url", I2V, base(I2V, image_url=..., keyframes=[IMG_A, " "], keyframe_indexes=[0, 9]),
     "keyframes[1]", "file_empty", ("empty",)),
    ("i2v-needs-image", I2V, base(I2V, image_url=...), "image_url", "i2v_needs_image",
     ("image_url", "end_image_url", "keyframes")),
    ("i2v-images-with-keyframes", I2V, base(I2V, keyframes=[IMG_B, IMG_C], keyframe_indexes=[0, 120]),
     "keyframes", "keyframes_with_images", ("image_url",)),
    ("uni-t2i-references", U_T2I, base(U_T2I, reference_image_urls=[IMG_A] * 10), "reference_image_urls",
     "too_many_references", ("9", "10")),
    ("uni-edit-references", U_MAX_EDIT, base(U_MAX_EDIT, reference_image_urls=[IMG_A] * 9),
     "reference_image_urls", "too_many_references", ("8", "9", "besides the image being edited")),
    ("uni-edit-needs-image", U_EDIT, base(U_EDIT, image_url=...), "image_url", "image_url_required",
     ("image to edit",)),
    ("uni-model-endpoint-mismatch", U_MAX, base(U_MAX, model="uni-1"), "model", "model_endpoint_mismatch",
     ("uni-1 max",)),
    ("v2v-needs-video", V2V, base(V2V, video_url=...), "video_url", "video_url_required", ("source video",)),
    ("reframe-needs-video", RF, base(RF, video_url=...), "video_url", "video_url_required",
     ("source video",)),
    ("empty-file-url", I2V, base(I2V, image_url=""), "image_url", "file_empty", ("empty",)),
    ("v2v-controls-exclusive", V2V, base(V2V, auto_controls=True, controls={"pose": True}), "controls",
     "controls_exclusive", ("auto_controls",)),
    ("v2v-unknown-control", V2V, base(V2V, controls=["pose", "nose"]), "controls.nose", "extra_forbidden",
     ("pose, depth, normals, trajectory, face",)),
    ("reframe-aspect-required", RF, base(RF, aspect_ratio=...), "aspect_ratio", "aspect_ratio_required",
     ("required",)),
    ("reframe-box-range", RF, base(RF, source_position={"x_norm": 1.2, "y_norm": 0, "w_norm": 0.5,
                                                         "h_norm": 0.5}),
     "source_position.x_norm", "source_position_range", ("between 0 and 1", "1.2")),
    ("reframe-box-empty", RF, base(RF, source_position={"x_norm": 0, "y_norm": 0, "w_norm": 0, "h_norm": 1}),
     "source_position.w_norm", "source_position_empty", ("greater than 0",)),
    ("reframe-box-outside", RF, base(RF, source_position={"x_norm": 0.5, "y_norm": 0, "w_norm": 0.6,
                                                            "h_norm": 1}),
     "source_position", "source_position_outside", ("inside the frame", "x_norm + w_norm")),
    ("reframe-box-field-missing", RF, base(RF, source_position={"x_norm": 0, "y_norm": 0, "w_norm": 1}),
     "source_position.h_norm", "missing", ("required",)),
    ("unknown-field", T2V, base(T2V, seed=4), "seed", "extra_forbidden", ("Ray 3.2 text-to-video",)),
    ("reframe-has-no-hdr", RF, base(RF, hdr=True), "hdr", "extra_forbidden", ("Ray 3.2 reframe",)),
    ("type-bool", T2V, base(T2V, loop="often"), "loop", "bool_parsing", ("true or false", "got often")),
    ("type-text", T2V, base(T2V, prompt=5), "prompt", "string_type", ("must be text (got 5)",)),
    ("type-index", V2V, base(V2V, keyframes=[IMG_A], keyframe_indexes=["first"]), "keyframe_indexes[0]",
     "int_parsing", ("whole number", "first")),
]


@pytest.mark.parametrize(("endpoint_id", "fields", "field", "code", "words"),
                         [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_rule(endpoint_id: str, fields: dict[str, Any], field: str, code: str,
              words: tuple[str, ...]) -> None:
    found = problems(endpoint_id, fields)
    assert [(p.field, p.code) for p in found] == [(field, code)], [str(p) for p in found]
    for word in words:
        assert word in found[0].message


VALID_EDGES: list[tuple[str, str, dict[str, Any]]] = [
    ("prompt-6000-chars", T2V, base(T2V, prompt="y" * 6000)),
    ("t2v-10s", T2V, base(T2V, duration="10s", resolution="1080p")),
    ("t2v-hdr-exr-5s", T2V, base(T2V, hdr=True, exr_export=True, resolution="720p")),
    ("t2v-loop-5s", T2V, base(T2V, loop=True)),
    ("i2v-end-image-only", I2V, base(I2V, image_url=..., end_image_url=IMG_B)),
    ("i2v-start-and-end-5s", I2V, base(I2V, end_image_url=IMG_B)),
    ("i2v-10s-two-keyframes", I2V, base(I2V, duration="10s", **{**KF2, "keyframe_indexes": [0, 240]})),
    ("i2v-64-keyframes", I2V, base(I2V, image_url=..., keyframes=[IMG_A] * 64,
                                   keyframe_indexes=list(range(64)))),
    ("i2v-single-keyframe-5s", I2V, base(I2V, image_url=..., keyframes=[IMG_A], keyframe_indexes=[120])),
    ("v2v-controls-without-auto", V2V, base(V2V, auto_controls=False, controls=["pose", "face"])),
    ("v2v-auto-with-all-off-controls", V2V, base(V2V, auto_controls=True, controls={"pose": False})),
    ("v2v-hdr-exr-10s", V2V, base(V2V, hdr=True, exr_export=True, resolution="1080p", duration="10s")),
    ("reframe-full-box", RF, base(RF, source_position={"x_norm": 0.1, "y_norm": 0.2, "w_norm": 0.9,
                                                         "h_norm": 0.8})),
    ("uni-t2i-9-references", U_T2I, base(U_T2I, reference_image_urls=[IMG_A] * 9)),
    ("uni-edit-8-references", U_EDIT, base(U_EDIT, reference_image_urls=[IMG_A] * 8)),
    ("uni-edit-aspect", U_EDIT, base(U_EDIT, aspect_ratio="3:1", style="manga", output_format="jpeg")),
]


@pytest.mark.parametrize(("endpoint_id", "fields"), [c[1:] for c in VALID_EDGES],
                         ids=[c[0] for c in VALID_EDGES])
def test_valid_edge(endpoint_id: str, fields: dict[str, Any]) -> None:
    assert build_request(endpoint_id, fields).endpoint_id in C.ALL_ENDPOINTS


def test_every_problem_is_reported_not_just_the_first() -> None:
    fields = base(I2V, prompt="   ", duration="10s", loop=True, hdr=True, exr_export=False, resolution="540p")
    found = {(p.field, p.code) for p in problems(I2V, fields)}
    assert found == {("prompt", "prompt_empty"), ("duration", "duration_needs_keyframes"),
                     ("hdr", "hdr_resolution"), ("loop", "loop_duration"), ("loop", "loop_hdr")}


def test_field_errors_and_rules_are_reported_together_without_knock_on_findings() -> None:
    # resolution is broken, so "HDR needs 720p/1080p" cannot be judged and must not appear;
    # the loop rule does not depend on resolution and must still be reported.
    fields = base(T2V, resolution="4k", hdr=True, loop=True, duration="10s", extra=1)
    found = [(p.field, p.code) for p in problems(T2V, fields)]
    assert sorted(found) == sorted([("resolution", "literal_error"), ("extra", "extra_forbidden"),
                                    ("hdr", "hdr_duration"), ("loop", "loop_duration"), ("loop", "loop_hdr")])


def test_str_lists_one_problem_per_line() -> None:
    with pytest.raises(RequestInvalid) as caught:
        build_request(T2V, base(T2V, loop=True, duration="10s", exr_export=True))
    assert str(caught.value) == ("exr_export: EXR export needs hdr turned on\n"
                                 "loop: looping works only for 5s clips, but duration is 10s")
    assert isinstance(caught.value, ValueError)


def test_rules_live_in_the_models_themselves() -> None:
    from pydantic import ValidationError

    from nodes.luma.requests import Ray32TextToVideoRequest

    with pytest.raises(ValidationError, match="looping works only for 5s clips"):
        Ray32TextToVideoRequest(prompt=PROMPT, loop=True, duration="10s")


def test_input_that_is_not_an_object() -> None:
    found = problems(T2V, ["not", "a", "dict"])  # type: ignore[arg-type]
    assert [(p.field, p.code) for p in found] == [("", "model_type")]
    assert "object" in found[0].message
