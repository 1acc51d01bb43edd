"""Endpoint id -> request model, building a validated request, fal-style 422 details, source-video limits."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from . import constants as C
from .base import LumaModel
from .convert import problems_from_validation_error
from .errors import Problem, RequestInvalid
from .requests import (
    LumaRequest,
    Ray32ImageToVideoRequest,
    Ray32ReframeRequest,
    Ray32TextToVideoRequest,
    Ray32VideoToVideoRequest,
    Uni1EditRequest,
    Uni1TextToImageRequest,
)
from .rules import RULES_ERROR_TYPE
from .uni1 import MAX_MODEL

_MODELS: dict[str, type[LumaModel]] = {
    C.RAY32_TEXT_TO_VIDEO: Ray32TextToVideoRequest,
    C.RAY32_IMAGE_TO_VIDEO: Ray32ImageToVideoRequest,
    C.RAY32_VIDEO_TO_VIDEO: Ray32VideoToVideoRequest,
    C.RAY32_REFRAME: Ray32ReframeRequest,
    C.UNI1_TEXT_TO_IMAGE: Uni1TextToImageRequest,
    C.UNI1_MAX_TEXT_TO_IMAGE: Uni1TextToImageRequest,
    C.UNI1_EDIT: Uni1EditRequest,
    C.UNI1_MAX_EDIT: Uni1EditRequest,
}
_MAX_ENDPOINTS = frozenset({C.UNI1_MAX_TEXT_TO_IMAGE, C.UNI1_MAX_EDIT})
_SOURCE_LIMITS: dict[str, tuple[float, str]] = {
    C.RAY32_REFRAME: (C.REFRAME_MAX_SOURCE_SECONDS, "reframe"),
    C.RAY32_VIDEO_TO_VIDEO: (C.RAY32_V2V_MAX_SOURCE_SECONDS, "video-to-video"),
}


class UnknownEndpoint(LookupError):
    """The endpoint id is not one of Luma's endpoints this catalogue knows."""


def request_model_for(endpoint_id: str) -> type[LumaModel]:
    try:
        return _MODELS[endpoint_id]
    except KeyError:
        raise UnknownEndpoint(f"unknown Luma endpoint: {endpoint_id}") from None


def build_request(endpoint_id: str, fields: Mapping[str, Any]) -> LumaRequest:
    """Validate ``fields`` (fal's field names) for ``endpoint_id``; raises RequestInvalid with every problem.

    The Uni-1 Max endpoint ids imply ``model="uni-1 max"``, so a payload posted to them validates as-is.
    """
    model = request_model_for(endpoint_id)
    data: Any = fields
    early: list[Problem] = []
    if isinstance(fields, Mapping) and endpoint_id in _MAX_ENDPOINTS:
        data = {"model": MAX_MODEL, **fields}
        if data["model"] != MAX_MODEL:
            early.append(Problem("model", f"{data['model']} does not match the Uni-1 Max endpoint "
                                 f"{endpoint_id}; choose {MAX_MODEL}", "model_endpoint_mismatch"))
    try:
        request = model.model_validate(data)
    except ValidationError as exc:
        raise RequestInvalid(early + _every_problem(model, data, exc), endpoint_id) from None
    if early:
        raise RequestInvalid(early, endpoint_id)
    return request  # type: ignore[return-value]


def _every_problem(model: type[LumaModel], data: Any, exc: ValidationError) -> list[Problem]:
    """Field errors stop pydantic before the cross-field rules run; run the rules again on the fields that
    were fine, keeping only findings that do not depend on a field already reported as broken."""
    problems = problems_from_validation_error(exc, model)
    broken = {str(e["loc"][0]) for e in exc.errors() if e["type"] != RULES_ERROR_TYPE and e["loc"]}
    if not broken or not isinstance(data, Mapping):
        return problems
    rest = {k: v for k, v in data.items() if k not in broken}
    try:
        model.model_validate(rest)
    except ValidationError as again:
        for err in again.errors():
            if err["type"] == RULES_ERROR_TYPE:
                problems.extend(p for p in err["ctx"]["problems"] if not p.involves & broken)
    return problems


def fal_detail(exc: RequestInvalid) -> list[dict[str, Any]]:
    """fal's 422 body items: ``{"loc": ["body", field...], "msg": str, "type": str}``."""
    return [{"loc": ["body", *p.loc], "msg": p.fal_msg or p.message, "type": p.fal_type}
            for p in exc.problems]


def check_source_video(endpoint_id: str, duration_seconds: float) -> None:
    """Refuse a source video the endpoint cannot take, before it is uploaded.

    Reframe: at most 10 s (fal's later schema). Video-to-video: at most 18 s (see constants for why 18 and not 20).
    fal documents no rule tying the source length to the requested output duration, so none is checked.
    """
    try:
        limit, title = _SOURCE_LIMITS[endpoint_id]
    except KeyError:
        raise UnknownEndpoint(f"{endpoint_id} takes no source video") from None
    if not math.isfinite(duration_seconds) or duration_seconds <= 0:
        problem = Problem("video_url", f"the source video has no usable length (got {duration_seconds} s)",
                          "source_video_empty")
    elif duration_seconds > limit:
        problem = Problem("video_url", f"the source video is {duration_seconds:.2f} s long; {title} accepts "
                          f"at most {limit:g} s, so trim it first", "source_video_too_long")
    else:
        return
    raise RequestInvalid([problem], endpoint_id)
