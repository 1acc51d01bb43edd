"""fal's current schema applied to payloads the request models accept: removed options refused with
what fal takes now, dropped fields not sent, newly required fields reported; the bundled snapshot is
fal's generation (B)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from nodes.luma import constants as C
from nodes.luma.catalog import build_request
from nodes.luma.fal_schema import (
    SchemaUnreadable,
    bundled_documents,
    bundled_schema,
    check_payload,
    parse_openapi,
)

SIX = ("3:4", "4:3", "1:1", "9:16", "16:9", "21:9")


def _doc(endpoint: str) -> dict[str, Any]:
    return copy.deepcopy(bundled_documents()[endpoint])


def _input(doc: dict[str, Any]) -> dict[str, Any]:
    return next(s for n, s in doc["components"]["schemas"].items() if n.endswith("Input"))


def test_every_endpoint_has_a_bundled_schema() -> None:
    assert set(bundled_documents()) == set(C.ALL_ENDPOINTS)
    for endpoint in C.ALL_ENDPOINTS:
        schema = bundled_schema(endpoint)
        assert schema is not None and "prompt" in schema.fields and "prompt" in schema.required
        assert schema.source == "bundled 2026-10"


@pytest.mark.parametrize("endpoint", [C.RAY32_TEXT_TO_VIDEO, C.RAY32_IMAGE_TO_VIDEO, C.RAY32_REFRAME])
def test_generation_b_takes_six_ray_aspect_ratios(endpoint: str) -> None:
    assert bundled_schema(endpoint).fields["aspect_ratio"].enum == SIX
    assert set(SIX) < set(C.RAY_ASPECT_RATIOS)  # the widget keeps every launch option


def test_generation_b_text_to_video_has_no_references_and_edit_no_aspect_ratio() -> None:
    assert "reference_image_urls" not in bundled_schema(C.RAY32_TEXT_TO_VIDEO).fields
    for endpoint in (C.UNI1_EDIT, C.UNI1_MAX_EDIT):
        fields = bundled_schema(endpoint).fields
        assert "aspect_ratio" not in fields and "enable_web_search" not in fields
    assert bundled_schema(C.RAY32_REFRAME).required == {"prompt", "video_url", "aspect_ratio"}


@pytest.mark.parametrize("ratio", sorted(set(C.RAY_ASPECT_RATIOS) - set(SIX)))
def test_removed_aspect_ratio_is_refused_with_what_fal_accepts(ratio: str) -> None:
    payload = build_request(C.RAY32_TEXT_TO_VIDEO, {"prompt": "p", "aspect_ratio": ratio}).to_payload()
    verdict = check_payload(payload, bundled_schema(C.RAY32_TEXT_TO_VIDEO))
    [problem] = verdict.problems
    assert problem.field == "aspect_ratio" and problem.code == "fal_option_removed"
    assert "fal changed this option" in problem.message and ratio in problem.message
    assert "accepts 3:4, 4:3, 1:1, 9:16, 16:9, 21:9" in problem.message and "bundled 2026-10" in problem.message


def test_dropped_field_is_not_sent() -> None:
    payload = build_request(C.RAY32_TEXT_TO_VIDEO, {"prompt": "p", "reference_image_urls": ["u"]}).to_payload()
    verdict = check_payload(payload, bundled_schema(C.RAY32_TEXT_TO_VIDEO))
    assert verdict.problems == [] and verdict.dropped == ["reference_image_urls"]
    assert "reference_image_urls" not in verdict.payload and verdict.payload["prompt"] == "p"


def test_live_drift_enum_shrinks_field_goes_and_new_field_required() -> None:
    doc = _doc(C.RAY32_VIDEO_TO_VIDEO)
    schema = _input(doc)
    schema["properties"]["resolution"]["enum"] = ["720p", "1080p"]
    del schema["properties"]["exr_export"]
    schema["properties"]["motion"] = {"type": "string"}
    schema["required"] = [*schema["required"], "motion"]
    live = parse_openapi(C.RAY32_VIDEO_TO_VIDEO, doc, "live")
    payload = build_request(C.RAY32_VIDEO_TO_VIDEO, {"prompt": "p", "video_url": "v", "exr_export": False}).to_payload()
    verdict = check_payload(payload, live)
    assert {(p.field, p.code) for p in verdict.problems} == {("resolution", "fal_option_removed"),
                                                             ("motion", "fal_field_required")}
    assert "accepts 720p, 1080p" in next(p.message for p in verdict.problems if p.field == "resolution")
    assert "(live)" in verdict.problems[0].message
    assert verdict.dropped == ["exr_export"]


def test_enums_behind_refs_anyof_and_allof_are_read() -> None:
    doc = _doc(C.UNI1_TEXT_TO_IMAGE)
    schema = _input(doc)
    doc["components"]["schemas"]["StyleEnum"] = {"type": "string", "enum": ["auto"]}
    schema["properties"]["style"] = {"allOf": [{"$ref": "#/components/schemas/StyleEnum"}], "default": "auto"}
    schema["properties"]["output_format"] = {"anyOf": [{"enum": ["png"], "type": "string"}, {"type": "null"}]}
    schema["properties"]["aspect_ratio"] = {"anyOf": [{"enum": ["1:1"], "type": "string"}, {"type": "string"}]}
    parsed = parse_openapi(C.UNI1_TEXT_TO_IMAGE, doc)
    assert parsed.fields["style"].enum == ("auto",) and parsed.fields["output_format"].enum == ("png",)
    assert parsed.fields["aspect_ratio"].enum is None  # an open alternative: any string


def test_input_schema_found_without_a_matching_path() -> None:
    doc = _doc(C.UNI1_EDIT)
    doc["paths"] = {}
    assert "image_url" in parse_openapi(C.UNI1_EDIT, doc).fields


@pytest.mark.parametrize("doc", [None, [], {"paths": {}}, {"components": {"schemas": {}}}])
def test_unreadable_documents_raise(doc: Any) -> None:
    with pytest.raises(SchemaUnreadable):
        parse_openapi(C.UNI1_EDIT, doc)


@pytest.mark.parametrize("endpoint", C.ALL_ENDPOINTS)
def test_bundled_schema_accepts_what_the_example_nodes_send(endpoint: str) -> None:
    fields: dict[str, Any] = {"prompt": "p"}
    if endpoint in (C.RAY32_VIDEO_TO_VIDEO, C.RAY32_REFRAME):
        fields["video_url"] = "v"
    if endpoint == C.RAY32_REFRAME:
        fields["aspect_ratio"] = "9:16"
    if endpoint == C.RAY32_IMAGE_TO_VIDEO:
        fields["image_url"] = "i"
    if endpoint in (C.UNI1_EDIT, C.UNI1_MAX_EDIT):
        fields["image_url"] = "i"
    payload = build_request(endpoint, fields).to_payload()
    verdict = check_payload(payload, bundled_schema(endpoint))
    assert verdict.problems == [] and verdict.dropped == []
