"""IMAGE tensor <-> image file bytes: references going up to fal, images coming back from it."""

from __future__ import annotations

import hashlib
import io
import logging
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import numpy as np
    import torch
    from PIL import Image

logger = logging.getLogger(__name__)

Encoding = Literal["jpeg", "png"]

JPEG_QUALITY = 95
PNG_COMPRESS_LEVEL = 1  # level 6 (Pillow's default) costs ~5x the time for ~7 % smaller files
# Share of horizontally neighbouring pixels that are exactly equal. Camera images and renders have noise
# and gradients, so almost no neighbours match (< 5 %); logos, screenshots, diagrams and flat art are
# mostly uniform areas (> 50 %), where PNG is lossless AND usually smaller than JPEG.
FLAT_SHARE_FOR_PNG = 0.5
# Below this many pixels both encodings take a millisecond or two: encode both, keep the smaller.
TRY_BOTH_MAX_PIXELS = 256 * 256
FLATNESS_SAMPLE_ROWS = 256

_FORMATS: dict[Encoding, tuple[str, str]] = {"jpeg": ("image/jpeg", "jpg"), "png": ("image/png", "png")}


@dataclass(frozen=True)
class EncodedImage:
    data: bytes = field(repr=False)
    content_type: str
    extension: str
    width: int
    height: int
    sha256: str


def encode_reference(
    image: torch.Tensor,
    *,
    max_side: int = 4096,
    max_pixels: int = 16_777_216,
    prefer: Encoding | None = None,
) -> EncodedImage:
    """Encode one IMAGE frame [H, W, C] (float 0..1, C = 1 to 4) as JPEG or PNG for upload.

    The image is scaled down (keeping its aspect ratio) when a side exceeds max_side or the area
    exceeds max_pixels. ``prefer`` forces an encoding; otherwise the choice is: flat graphics -> PNG,
    small images -> whichever is smaller, everything else -> JPEG q95 with full-resolution chroma
    (4:4:4), which is visually lossless and 4x smaller than PNG for photographic content.
    """
    # Lazy: Pillow only when an image is read or written.
    from PIL import Image

    if image.ndim != 3 or image.shape[-1] not in (1, 2, 3, 4):
        raise ValueError(f"image must be one frame [H, W, 1-4], got {list(image.shape)}")
    if prefer is not None and prefer not in _FORMATS:
        raise ValueError(f"prefer must be 'jpeg', 'png' or None, got {prefer!r}")
    if max_side < 1 or max_pixels < 1:
        raise ValueError("max_side and max_pixels must be positive")
    rgb = _to_rgb_uint8(image)
    picture = Image.fromarray(rgb, mode="RGB")
    size = fit_within(picture.width, picture.height, max_side, max_pixels)
    if size != picture.size:
        picture = picture.resize(size, Image.Resampling.LANCZOS)
        rgb = None  # the flatness check must look at the resized pixels
    encoding = prefer or _choose_encoding(picture, rgb)
    if encoding is None:  # small image: both are cheap, keep the smaller
        jpeg, png = _encode(picture, "jpeg"), _encode(picture, "png")
        encoding, data = ("png", png) if len(png) <= len(jpeg) else ("jpeg", jpeg)
    else:
        data = _encode(picture, encoding)
    content_type, extension = _FORMATS[encoding]
    return EncodedImage(
        data=data,
        content_type=content_type,
        extension=extension,
        width=picture.width,
        height=picture.height,
        sha256=hashlib.sha256(data).hexdigest(),
    )


def fit_within(width: int, height: int, max_side: int, max_pixels: int) -> tuple[int, int]:
    """Largest size with the same aspect ratio that respects both limits (never scales up)."""
    scale = min(1.0, max_side / max(width, height), math.sqrt(max_pixels / (width * height)))
    if scale >= 1.0:
        return width, height
    new_w, new_h = max(1, math.floor(width * scale)), max(1, math.floor(height * scale))
    while new_w * new_h > max_pixels and new_w > 1:  # float error in sqrt can land one step over
        new_w -= 1
        new_h = max(1, math.floor(height * new_w / width))
    return new_w, new_h


def decode_image(data: bytes) -> torch.Tensor:
    """Image file bytes (PNG, JPEG, WebP, ...) -> float32 [1, H, W, 3] RGB in 0..1.

    EXIF orientation is applied. 16-bit and 32-bit greyscale keep their precision. Transparency is
    composited over white, the same as encode_reference does, so a round trip changes nothing.
    """
    # Lazy: heavy modules (torch, PIL, numpy): loaded on first use, not when ComfyUI loads the pack.
    import numpy as np
    import torch
    from PIL import Image, ImageOps

    with Image.open(io.BytesIO(data)) as opened:
        picture = ImageOps.exif_transpose(opened)
        picture.load()
    if picture.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        grey = np.asarray(picture).astype(np.float32) / 65535.0
        rgb = np.repeat(np.clip(grey, 0.0, 1.0)[..., None], 3, axis=-1)
        return torch.from_numpy(np.ascontiguousarray(rgb)).unsqueeze(0)
    if picture.mode == "F":
        grey = np.clip(np.asarray(picture, dtype=np.float32), 0.0, 1.0)
        return torch.from_numpy(np.repeat(grey[..., None], 3, axis=-1)).unsqueeze(0)
    if picture.mode != "RGB":
        picture = _flatten_alpha(picture) if _has_alpha(picture) else picture.convert("RGB")
    array = np.asarray(picture, dtype=np.uint8)
    tensor = torch.from_numpy(array.copy()).float().div_(255.0)
    return tensor.unsqueeze(0)


# --------------------------------------------------------------------------------------------- helpers


def _to_rgb_uint8(image: torch.Tensor) -> np.ndarray:
    # Lazy: torch takes seconds to import: only when a tensor is made.
    import torch

    pixels = image.detach().to("cpu", torch.float32).clamp(0.0, 1.0)
    channels = pixels.shape[-1]
    if channels in (1, 2):  # grey, or grey + alpha: the colour part becomes RGB, alpha is kept
        pixels = torch.cat([pixels[..., :1].expand(-1, -1, 3), pixels[..., 1:]], dim=-1)
        channels += 2
    if channels == 4:
        alpha = pixels[..., 3:4]
        if bool((alpha < 1.0).any()):
            # Composite over white rather than dropping alpha: transparent pixels often hold black or
            # leftover colour that was never meant to be seen, and the models read RGB only. White is
            # what viewers and the fal playground show behind a transparent reference.
            pixels = pixels[..., :3] * alpha + (1.0 - alpha)
        else:
            pixels = pixels[..., :3]
    return pixels.mul(255.0).round_().to(torch.uint8).contiguous().numpy()


def _choose_encoding(picture: Image.Image, rgb: np.ndarray | None) -> Encoding | None:
    # Lazy: numpy is loaded with torch, only when a tensor is made.
    import numpy as np

    if rgb is None:
        rgb = np.asarray(picture)
    if flat_share(rgb) >= FLAT_SHARE_FOR_PNG:
        return "png"
    if picture.width * picture.height <= TRY_BOTH_MAX_PIXELS:
        return None
    return "jpeg"


def flat_share(rgb: np.ndarray) -> float:
    """Share of horizontal neighbour pairs with identical colour, on evenly spaced sample rows."""
    if rgb.shape[1] < 2:
        return 1.0
    step = max(1, rgb.shape[0] // FLATNESS_SAMPLE_ROWS)
    rows = rgb[::step]
    same = (rows[:, 1:] == rows[:, :-1]).all(axis=-1)
    return float(same.mean())


def _encode(picture: Image.Image, encoding: Encoding) -> bytes:
    buffer = io.BytesIO()
    if encoding == "jpeg":
        # subsampling=0 is 4:4:4: keeps coloured edges and text crisp, costs ~2 % in size.
        picture.save(buffer, format="JPEG", quality=JPEG_QUALITY, subsampling=0, optimize=False)
    else:
        picture.save(buffer, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    return buffer.getvalue()


def _has_alpha(picture: Image.Image) -> bool:
    return picture.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in picture.info


def _flatten_alpha(picture: Image.Image) -> Image.Image:
    # Lazy: Pillow only when an image is read or written.
    from PIL import Image

    rgba = picture.convert("RGBA")
    background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(background, rgba).convert("RGB")
