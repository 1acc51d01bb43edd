"""Ray 3.2 video requests on fal (protocol notes §11.1-11.2). Field names are fal's."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, field_validator

from . import constants as C
from . import rules
from .base import LumaModel
from .rules import Check

RayAspectRatio = Literal[C.RAY_ASPECT_RATIOS]  # type: ignore[valid-type]
RayResolution = Literal[C.RAY_RESOLUTIONS]  # type: ignore[valid-type]
RayDuration = Literal[C.RAY_DURATIONS]  # type: ignore[valid-type]
EditStrength = Literal[C.RAY_EDIT_STRENGTHS]  # type: ignore[valid-type]

_BOX_SLACK = 1e-6  # float sums such as 0.1 + 0.9 must still count as "inside the frame"


class _Ray32Base(LumaModel):
    output_kind: ClassVar[Literal["video"]] = "video"

    def expected_video(self) -> tuple[int, int, int] | None:
        """(frames, width, height) this request's video will have, when its fields alone say so (None when
        it follows a source: an input image's shape, a source video's length). A guess that lets callers
        prepare memory while fal works; never a promise (see constants.ray_video_size)."""
        aspect = getattr(self, "aspect_ratio", None)
        duration = getattr(self, "duration", None)
        if aspect is None or duration is None:
            return None
        width, height = C.ray_video_size(aspect, self.resolution)
        return C.RAY_LAST_FRAME_INDEX[duration] + 1, width, height


class Ray32TextToVideoRequest(_Ray32Base):
    ENDPOINT: ClassVar[str] = C.RAY32_TEXT_TO_VIDEO
    TITLE: ClassVar[str] = "Ray 3.2 text-to-video"
    FILE_FIELDS: ClassVar[tuple[str, ...]] = ("reference_image_urls",)

    prompt: str | None = None
    # fal's page for this endpoint mentions reference images but its published schema has no field for
    # them (protocol notes §11.1); the name mirrors Uni-1's. Dropped from the payload when empty.
    reference_image_urls: list[str] | None = None
    aspect_ratio: RayAspectRatio = C.RAY_DEFAULT_ASPECT_RATIO
    resolution: RayResolution = C.RAY_DEFAULT_RESOLUTION
    duration: RayDuration = C.RAY_DEFAULT_DURATION
    loop: bool = False
    hdr: bool = False
    exr_export: bool = False

    def check_rules(self, check: Check) -> None:
        rules.prompt(check, self.prompt)
        rules.hdr(check, self.hdr, self.resolution, self.exr_export)
        if self.hdr and self.duration != "5s":
            check.fail("hdr", f"HDR text-to-video works only for 5s clips, but duration is {self.duration}",
                       "hdr_duration", "duration")
        rules.loop(check, self.loop, self.duration, self.hdr)


class Ray32ImageToVideoRequest(_Ray32Base):
    """Anchored by a start and/or end image, or by keyframes (images at output-frame positions)."""

    ENDPOINT: ClassVar[str] = C.RAY32_IMAGE_TO_VIDEO
    TITLE: ClassVar[str] = "Ray 3.2 image-to-video"
    FILE_FIELDS: ClassVar[tuple[str, ...]] = ("image_url", "end_image_url", "keyframes")

    prompt: str | None = None
    image_url: str | None = None
    end_image_url: str | None = None
    keyframes: list[str] | None = None
    keyframe_indexes: list[int] | None = None
    aspect_ratio: RayAspectRatio | None = None
    resolution: RayResolution = C.RAY_DEFAULT_RESOLUTION
    duration: RayDuration = C.RAY_DEFAULT_DURATION
    loop: bool = False
    hdr: bool = False
    exr_export: bool = False

    def check_rules(self, check: Check) -> None:
        rules.prompt(check, self.prompt)
        rules.optional_file(check, "image_url", self.image_url)
        rules.optional_file(check, "end_image_url", self.end_image_url)
        ends = [u for u in (self.image_url, self.end_image_url) if u is not None]
        frames = self.keyframes or []
        if not ends and not frames and not self.keyframe_indexes:
            check.fail("image_url", "image-to-video needs a start image (image_url), an end image "
                       "(end_image_url) or keyframes", "i2v_needs_image", "end_image_url", "keyframes",
                       "keyframe_indexes")
        if ends and frames:
            check.fail("keyframes", "cannot be combined with image_url or end_image_url; put the start "
                       "and end images into keyframes instead", "keyframes_with_images",
                       "image_url", "end_image_url")
        rules.keyframes(check, self.keyframes, self.keyframe_indexes, self.duration)
        if self.duration == "10s":
            self._check_ten_seconds(check, ends, frames)
        rules.hdr(check, self.hdr, self.resolution, self.exr_export)
        rules.loop(check, self.loop, self.duration, self.hdr, self.end_image_url, self.keyframes)

    def _check_ten_seconds(self, check: Check, ends: list[str], frames: list[str]) -> None:
        # fal: 10s is for text-to-video or multi-keyframe runs, never a single start/end image.
        if len(ends) == 1:
            check.fail("duration", "10s needs text-to-video or two or more keyframes; with a single "
                       "start/end image use 5s", "duration_needs_keyframes", "image_url", "end_image_url")
        elif len(ends) == 2:
            check.fail("duration", "10s needs text-to-video or two or more keyframes; start and end images "
                       "(image_url + end_image_url) work only with 5s; for 10s pass them as keyframes at "
                       f"frames 0 and {C.RAY_LAST_FRAME_INDEX['10s']}", "duration_needs_keyframes",
                       "image_url", "end_image_url")
        elif len(frames) == 1:
            check.fail("duration", "10s needs two or more keyframes (got 1); add keyframes or use 5s",
                       "duration_needs_keyframes", "keyframes")


class Ray32Controls(BaseModel):
    """Which structure of the source video to keep. Each flag is optional; unset flags are not sent.

    The node may also pass a list of names (``["pose", "depth"]``), read as those flags set to true.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    pose: bool | None = None
    depth: bool | None = None
    normals: bool | None = None
    trajectory: bool | None = None
    face: bool | None = None

    def any_on(self) -> bool:
        return any(getattr(self, name) for name in C.RAY_CONTROLS)


class Ray32VideoToVideoRequest(_Ray32Base):
    ENDPOINT: ClassVar[str] = C.RAY32_VIDEO_TO_VIDEO
    TITLE: ClassVar[str] = "Ray 3.2 video-to-video"
    FILE_FIELDS: ClassVar[tuple[str, ...]] = ("video_url", "start_image_url", "keyframes")

    prompt: str | None = None
    video_url: str | None = None
    start_image_url: str | None = None
    edit_strength: EditStrength | None = None
    auto_controls: bool | None = None
    controls: Ray32Controls | None = None
    keyframes: list[str] | None = None
    keyframe_indexes: list[int] | None = None
    duration: RayDuration = C.RAY_DEFAULT_DURATION
    resolution: RayResolution = C.RAY_DEFAULT_RESOLUTION
    hdr: bool = False
    exr_export: bool = False

    @field_validator("controls", mode="before")
    @classmethod
    def _controls_from_names(cls, value: Any) -> Any:
        if isinstance(value, (list, tuple)):
            return {name: True for name in value}
        return value

    def check_rules(self, check: Check) -> None:
        rules.prompt(check, self.prompt)
        rules.required_file(check, "video_url", self.video_url, "the source video")
        rules.optional_file(check, "start_image_url", self.start_image_url)
        if self.auto_controls and self.controls is not None and self.controls.any_on():
            check.fail("controls", "choose either auto_controls or explicit controls, not both",
                       "controls_exclusive", "auto_controls")
        rules.keyframes(check, self.keyframes, self.keyframe_indexes, self.duration)
        rules.hdr(check, self.hdr, self.resolution, self.exr_export)


class SourcePosition(BaseModel):
    """Where the source video sits in the reframed output, as fractions (0..1) of the output frame."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    x_norm: float
    y_norm: float
    w_norm: float
    h_norm: float


class Ray32ReframeRequest(_Ray32Base):
    ENDPOINT: ClassVar[str] = C.RAY32_REFRAME
    TITLE: ClassVar[str] = "Ray 3.2 reframe"
    FILE_FIELDS: ClassVar[tuple[str, ...]] = ("video_url",)

    prompt: str | None = None
    video_url: str | None = None
    aspect_ratio: RayAspectRatio | None = None   # required by fal; checked as a rule for a clear message
    resolution: RayResolution = C.RAY_DEFAULT_RESOLUTION
    source_position: SourcePosition | None = None

    def check_rules(self, check: Check) -> None:
        rules.prompt(check, self.prompt)
        rules.required_file(check, "video_url", self.video_url, "the source video")
        if self.aspect_ratio is None:
            check.fail("aspect_ratio", "is required for reframe: choose the output aspect ratio",
                       "aspect_ratio_required", fal_type="missing", fal_msg="Field required")
        if self.source_position is not None:
            _check_box(check, self.source_position)


def _check_box(check: Check, box: SourcePosition) -> None:
    in_range = True
    for name in ("x_norm", "y_norm", "w_norm", "h_norm"):
        value = getattr(box, name)
        if not 0.0 <= value <= 1.0:  # also catches NaN
            in_range = False
            check.fail(f"source_position.{name}", f"must be between 0 and 1 (got {value:g})",
                       "source_position_range")
        elif name in ("w_norm", "h_norm") and value == 0.0:
            in_range = False
            check.fail(f"source_position.{name}", "must be greater than 0 (the source needs a size)",
                       "source_position_empty")
    if not in_range:
        return
    for start, size, axis in (("x_norm", "w_norm", "right"), ("y_norm", "h_norm", "bottom")):
        end = getattr(box, start) + getattr(box, size)
        if end > 1.0 + _BOX_SLACK:
            check.fail("source_position", f"the box must lie inside the frame, but {start} + {size} = "
                       f"{end:g} passes the {axis} edge (max 1)", "source_position_outside")
