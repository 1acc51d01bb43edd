"""The request models, one per Luma endpoint on fal (re-exported from ``ray32`` and ``uni1``).

Every model: field names are fal's JSON names; ``endpoint_id`` (property), ``to_payload()`` (fal's JSON body,
unset values left out), ``output_kind`` ("video" | "images"), ``FILE_FIELDS`` (inputs holding file URLs).
File fields are plain strings: an https URL, a data: URI or a placeholder the glue replaces after upload.
"""

from __future__ import annotations

from typing import Union

from .base import LumaModel
from .ray32 import (
    Ray32Controls,
    Ray32ImageToVideoRequest,
    Ray32ReframeRequest,
    Ray32TextToVideoRequest,
    Ray32VideoToVideoRequest,
    SourcePosition,
)
from .uni1 import Uni1EditRequest, Uni1TextToImageRequest

LumaRequest = Union[
    Ray32TextToVideoRequest,
    Ray32ImageToVideoRequest,
    Ray32VideoToVideoRequest,
    Ray32ReframeRequest,
    Uni1TextToImageRequest,
    Uni1EditRequest,
]

__all__ = [
    "LumaModel",
    "LumaRequest",
    "Ray32Controls",
    "Ray32ImageToVideoRequest",
    "Ray32ReframeRequest",
    "Ray32TextToVideoRequest",
    "Ray32VideoToVideoRequest",
    "SourcePosition",
    "Uni1EditRequest",
    "Uni1TextToImageRequest",
]
