"""What fal's live schema drops (nodes/comfy/rules/schema_drops.py), against fal's schemas as the pack bundles
them: a connected input fal has no field for is a refusal naming it, why and what to use instead; a widget
value is a notice."""

from __future__ import annotations

import copy

from nodes.comfy.rules.schema_drops import node_drops, split_drops
from nodes.luma import constants as C
from nodes.luma.fal_schema import bundled_documents, parse_openapi
from nodes.luma.ray32 import Ray32TextToVideoRequest


def _bundled(endpoint_id: str):  # type: ignore[no-untyped-def]
    return parse_openapi(endpoint_id, bundled_documents()[endpoint_id], "bundled 2026-10")


def test_references_on_text_to_video_are_refused_by_fals_current_schema() -> None:
    drops = node_drops(_bundled)
    why = drops["LumaFalRay32TextToVideo"]["reference_images"]
    assert "has no reference_image_urls" in why and "(bundled 2026-10)" in why
    assert "disconnect reference_images" in why and "Image to Video (fal)" in why
    # Uni-1 still takes its references: nothing to say there
    assert "LumaFalUni1TextToImage" not in drops and "LumaFalUni1ImageEdit" not in drops


def test_a_schema_that_takes_references_again_refuses_nothing() -> None:
    doc = copy.deepcopy(bundled_documents()[C.RAY32_TEXT_TO_VIDEO])
    doc["components"]["schemas"]["Ray32TextToVideoInput"]["properties"]["reference_image_urls"] = {"type": "array"}
    schema = parse_openapi(C.RAY32_TEXT_TO_VIDEO, doc, "live")
    assert "LumaFalRay32TextToVideo" not in node_drops(lambda e: schema if e == C.RAY32_TEXT_TO_VIDEO else None)


def test_connected_inputs_are_refusals_and_widget_values_notices() -> None:
    refusals, notices = split_drops(["reference_image_urls", "loop"], Ray32TextToVideoRequest.FILE_FIELDS,
                                    {"loop": True, "reference_image_urls": ["u"]},
                                    {"reference_image_urls": "reference_images"}, C.RAY32_TEXT_TO_VIDEO, "live")
    assert [r.split(":")[0] for r in refusals] == ["reference_images"]
    assert notices == [f"loop=true is not sent: fal's current schema for {C.RAY32_TEXT_TO_VIDEO} (live) has no loop"]
