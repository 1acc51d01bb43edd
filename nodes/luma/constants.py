"""Enumerations and fixed numbers of Luma's models on fal.

Plain Python with no imports beyond the standard library: node definitions read these at ComfyUI
start-up, so this module must stay cheap to import (pydantic models live in ``requests``).
"""

from __future__ import annotations

from typing import Final

# Endpoint ids on fal. Status, result and cancel URLs use only the owner/app ("luma/agent").
RAY32_TEXT_TO_VIDEO: Final = "luma/agent/ray/v3.2/text-to-video"
RAY32_IMAGE_TO_VIDEO: Final = "luma/agent/ray/v3.2/image-to-video"
RAY32_VIDEO_TO_VIDEO: Final = "luma/agent/ray/v3.2/video-to-video"
RAY32_REFRAME: Final = "luma/agent/ray/v3.2/reframe"
UNI1_TEXT_TO_IMAGE: Final = "luma/agent/uni-1/v1/text-to-image"
UNI1_MAX_TEXT_TO_IMAGE: Final = "luma/agent/uni-1/v1/max"
UNI1_EDIT: Final = "luma/agent/uni-1/v1/edit"
UNI1_MAX_EDIT: Final = "luma/agent/uni-1/v1/max/edit"

RAY32_ENDPOINTS: Final = (RAY32_TEXT_TO_VIDEO, RAY32_IMAGE_TO_VIDEO, RAY32_VIDEO_TO_VIDEO, RAY32_REFRAME)
UNI1_ENDPOINTS: Final = (UNI1_TEXT_TO_IMAGE, UNI1_MAX_TEXT_TO_IMAGE, UNI1_EDIT, UNI1_MAX_EDIT)
ALL_ENDPOINTS: Final = RAY32_ENDPOINTS + UNI1_ENDPOINTS

# Ray 3.2: fal's launch pages listed twelve aspect ratios; its later schema takes six (3:4, 4:3, 1:1, 9:16,
# 16:9, 21:9). The widgets keep all twelve (saved workflows name them); fal's current schema (fal_schema)
# refuses the ones it no longer takes, before anything is uploaded.
RAY_ASPECT_RATIOS: Final = ("16:9", "9:16", "1:1", "4:3", "3:4", "21:9", "3:2", "2:3", "2:1", "1:2", "3:1", "1:3")
RAY_RESOLUTIONS: Final = ("540p", "720p", "1080p")
RAY_HDR_RESOLUTIONS: Final = ("720p", "1080p")
RAY_DURATIONS: Final = ("5s", "10s")
RAY_DEFAULT_ASPECT_RATIO: Final = "16:9"
RAY_DEFAULT_RESOLUTION: Final = "540p"
RAY_DEFAULT_DURATION: Final = "5s"

# Output timeline: 24 fps, frame positions 0..120 for 5 s and 0..240 for 10 s (so 121 / 241 frames).
RAY_FPS: Final = 24
RAY_FRAME_COUNT: Final = {"5s": 121, "10s": 241}
RAY_LAST_FRAME_INDEX: Final = {"5s": 120, "10s": 240}
RAY_MAX_KEYFRAMES: Final = 64

RAY_EDIT_STRENGTHS: Final = (
    "adhere_1", "adhere_2", "adhere_3",
    "flex_1", "flex_2", "flex_3",
    "reimagine_1", "reimagine_2", "reimagine_3",
)
RAY_CONTROLS: Final = ("pose", "depth", "normals", "trajectory", "face")
# fal's later schema (notes fal-drift-money-recovery §1 (B)): reframe takes sources of at most 10 s.
REFRAME_MAX_SOURCE_SECONDS: Final = 10.0

PROMPT_MIN_CHARS: Final = 1
PROMPT_MAX_CHARS: Final = 6000

# Uni-1 (images).
UNI1_MODELS: Final = ("uni-1", "uni-1 max")
UNI1_ASPECT_RATIOS: Final = ("1:1", "16:9", "9:16", "3:2", "2:3", "2:1", "1:2", "3:1", "1:3")
UNI1_STYLES: Final = ("auto", "manga")
UNI1_OUTPUT_FORMATS: Final = ("png", "jpeg")
UNI1_MAX_REFERENCES_TEXT_TO_IMAGE: Final = 9
UNI1_MAX_REFERENCES_EDIT: Final = 8


def ray_video_size(aspect_ratio: str, resolution: str) -> tuple[int, int]:
    """Width and height of a Ray 3.2 video: the short side is the resolution's line count.

    fal does not document output sizes; this is the convention the pack and its sandbox share
    (16:9 at 1080p is 1920x1080). Both sides are even, as H.264 with 4:2:0 chroma needs.
    """
    short = int(resolution.rstrip("p"))
    a, b = (int(x) for x in aspect_ratio.split(":"))
    long_side = round(short * max(a, b) / min(a, b) / 2) * 2
    return (long_side, short) if a >= b else (short, long_side)


# Source-video limits checked before upload (see catalog.check_source_video).
# Video-to-video: fal's schema states no limit. ComfyUI core's Luma "Video Edit" node refuses sources over
# 18 s, Luma's marketing says "up to 20 s". We use the stricter 18 s: it is the figure a shipping client
# enforces against Luma's API, and refusing a 19 s clip locally costs the user a trim, whereas accepting
# it may cost an upload plus a failed (possibly billed) run.
RAY32_V2V_MAX_SOURCE_SECONDS: Final = 18.0

# Uni-1 returns exactly one image per request.
UNI1_IMAGES_PER_REQUEST: Final = 1
UNI1_DEFAULT_MODEL: Final = "uni-1"
