"""The validation rules shared by several endpoints, written once.

Each rule appends ``Problem`` s to a ``Check``; a model's after-validator runs its rules and raises them all
together (see ``base.LumaModel``). Messages name the rule in words a ComfyUI user knows; the field is added
in front by ``Problem.__str__``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from pydantic_core import PydanticCustomError

from . import constants as C
from .errors import Problem

RULES_ERROR_TYPE = "luma_rules"


class Check:
    """Collects every rule violation of one request."""

    def __init__(self) -> None:
        self.found: list[Problem] = []

    def fail(self, field: str, message: str, code: str, *involves: str,
             fal_type: str = "value_error", fal_msg: str | None = None) -> None:
        top = field.split(".")[0].split("[")[0]
        self.found.append(Problem(field, message, code, fal_type=fal_type, fal_msg=fal_msg,
                                  involves=frozenset((top, *involves))))

    def raise_if_any(self) -> None:
        # One pydantic error carries the whole list in its context; catalog/convert unpack it again.
        if self.found:
            summary = "; ".join(str(p) for p in self.found)
            raise PydanticCustomError(RULES_ERROR_TYPE, "{summary}",
                                      {"summary": summary, "problems": tuple(self.found)})


def _count(n: int, singular: str, plural: str) -> str:
    return f"{n} {singular if n == 1 else plural}"


def prompt(check: Check, value: str | None) -> None:
    if value is None:
        check.fail("prompt", "is required; describe what you want to see", "prompt_required",
                   fal_type="missing", fal_msg="Field required")
    elif not value.strip():
        check.fail("prompt", "is empty; describe what you want to see", "prompt_empty")
    elif len(value) > C.PROMPT_MAX_CHARS:
        check.fail("prompt", f"is {len(value)} characters long; the limit is {C.PROMPT_MAX_CHARS}",
                   "prompt_too_long", fal_type="string_too_long")


def required_file(check: Check, field: str, value: str | None, what: str) -> None:
    if value is None:
        check.fail(field, f"is required: connect {what}", f"{field}_required",
                   fal_type="missing", fal_msg="Field required")
    else:
        optional_file(check, field, value)


def optional_file(check: Check, field: str, value: str | None) -> None:
    if value is not None and not value.strip():
        check.fail(field, "is an empty file reference (expected a URL or data: URI)", "file_empty")


def hdr(check: Check, hdr_on: bool, resolution: str, exr_export: bool) -> None:
    if hdr_on and resolution not in C.RAY_HDR_RESOLUTIONS:
        check.fail("hdr", f"HDR works only at {' or '.join(C.RAY_HDR_RESOLUTIONS)}, but resolution is "
                   f"{resolution}", "hdr_resolution", "resolution")
    if exr_export and not hdr_on:
        check.fail("exr_export", "EXR export needs hdr turned on", "exr_needs_hdr", "hdr")


def loop(check: Check, loop_on: bool, duration: str, hdr_on: bool,
         end_image: str | None = None, keyframes: Sequence[str] | None = None) -> None:
    if not loop_on:
        return
    if duration != "5s":
        check.fail("loop", f"looping works only for 5s clips, but duration is {duration}",
                   "loop_duration", "duration")
    if hdr_on:
        check.fail("loop", "looping works only in SDR; turn off hdr or loop", "loop_hdr", "hdr")
    if end_image is not None:
        check.fail("loop", "looping cannot be combined with an end image (end_image_url)",
                   "loop_end_frame", "end_image_url")
    if keyframes:
        check.fail("loop", "looping cannot be combined with keyframes", "loop_keyframes", "keyframes")


def keyframes(check: Check, images: Sequence[str] | None, indexes: Sequence[int] | None,
              duration: str) -> None:
    """Keyframe images placed at output-frame positions (24 fps: 0..120 for 5s, 0..240 for 10s)."""
    images = images or []
    indexes = indexes or []
    if not images and not indexes:
        return
    for i, image in enumerate(images):
        if not image.strip():
            check.fail(f"keyframes[{i}]", "is an empty file reference (expected a URL or data: URI)",
                       "file_empty")
    if len(images) > C.RAY_MAX_KEYFRAMES:
        check.fail("keyframes", f"at most {C.RAY_MAX_KEYFRAMES} keyframes are allowed (got {len(images)})",
                   "keyframes_too_many")
    if len(images) != len(indexes):
        check.fail("keyframe_indexes", "needs one frame index per keyframe image (got "
                   f"{_count(len(images), 'keyframe', 'keyframes')}, "
                   f"{_count(len(indexes), 'index', 'indexes')})", "keyframe_indexes_length", "keyframes")
    repeated = sorted(i for i, n in Counter(indexes).items() if n > 1)
    if repeated:
        check.fail("keyframe_indexes", "each frame index may be used only once; repeated: "
                   + ", ".join(map(str, repeated)), "keyframe_indexes_duplicate")
    last = C.RAY_LAST_FRAME_INDEX.get(duration, C.RAY_LAST_FRAME_INDEX["5s"])
    outside = [i for i in indexes if not 0 <= i <= last]
    if outside:
        check.fail("keyframe_indexes", f"frame indexes must be within 0..{last} for a {duration} clip "
                   f"(24 fps); out of range: {', '.join(map(str, outside))}", "keyframe_index_range",
                   "duration")


def references(check: Check, urls: Sequence[str] | None, limit: int, note: str = "") -> None:
    urls = urls or []
    if len(urls) > limit:
        check.fail("reference_image_urls", f"at most {limit} reference images are allowed{note} "
                   f"(got {len(urls)})", "too_many_references")
    for i, url in enumerate(urls):
        if not url.strip():
            check.fail(f"reference_image_urls[{i}]",
                       "is an empty file reference (expected a URL or data: URI)", "file_empty")
