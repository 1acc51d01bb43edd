"""Fake Uni-1 outputs: ~1 megapixel PNG/JPEG images of the requested aspect ratio, prompt drawn in."""

from __future__ import annotations

import io
import math

import numpy as np
from PIL import Image, ImageDraw, ImageOps

from .drawing import caption, cover, moving_strip

_TARGET_PIXELS = 1024 * 1024


def uni1_size(aspect_ratio: str) -> tuple[int, int]:
    """About one megapixel with both sides multiples of 16 (1:1 -> 1024x1024, 16:9 -> 1360x768)."""
    a, b = (int(x) for x in aspect_ratio.split(":"))
    width = round(math.sqrt(_TARGET_PIXELS * a / b) / 16) * 16
    height = round(width * b / a / 16) * 16
    return width, height


def _finish(frame: np.ndarray, prompt: str) -> Image.Image:
    height, width = frame.shape[:2]
    text = caption(prompt, width, height, max_lines=4)
    text.paste(frame, (width - text.width) // 2, height - text.height - height // 24)
    return Image.fromarray(frame)


def text_to_image(prompt: str, aspect_ratio: str, style: str = "auto") -> Image.Image:
    width, height = uni1_size(aspect_ratio)
    frame = np.ascontiguousarray(moving_strip(width, height)[:, width // 3: width // 3 + width])
    image = Image.fromarray(frame)
    draw = ImageDraw.Draw(image)
    r = min(width, height) // 5
    draw.ellipse((width // 2 - r, height // 3 - r, width // 2 + r, height // 3 + r), fill=(250, 245, 230))
    if style == "manga":
        image = ImageOps.autocontrast(ImageOps.grayscale(image)).convert("RGB")
    return _finish(np.array(image), prompt)


def edit_image(source: Image.Image, prompt: str, aspect_ratio: str | None) -> Image.Image:
    """The source, cropped to the target shape, cool-tinted and framed: visibly derived from it."""
    if aspect_ratio:
        width, height = uni1_size(aspect_ratio)
    else:
        scale = math.sqrt(_TARGET_PIXELS / (source.width * source.height))
        width = max(16, round(source.width * scale / 16) * 16)
        height = max(16, round(source.height * scale / 16) * 16)
    frame = np.array(cover(source, width, height), dtype=np.uint16)
    frame = ((frame * np.array([170, 210, 256], dtype=np.uint16)) >> 8).astype(np.uint8)
    border = max(4, min(width, height) // 64)
    frame[:border], frame[-border:], frame[:, :border], frame[:, -border:] = 255, 255, 255, 255
    return _finish(frame, prompt)


def encode_image(image: Image.Image, output_format: str) -> tuple[bytes, str, str]:
    """(bytes, content type, file extension)."""
    buffer = io.BytesIO()
    if output_format == "jpeg":
        image.convert("RGB").save(buffer, format="JPEG", quality=90)
        return buffer.getvalue(), "image/jpeg", "jpg"
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue(), "image/png", "png"
