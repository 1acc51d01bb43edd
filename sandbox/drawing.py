"""Drawing helpers shared by the fake models: a prompt caption rendered once, composited per frame."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont


@dataclass(frozen=True)
class Overlay:
    """A pre-multiplied RGBA patch; ``paste`` blends it with integer maths (cheap per frame)."""

    premultiplied: np.ndarray  # uint16 [h, w, 3] = colour * alpha
    inverse_alpha: np.ndarray  # uint16 [h, w, 1] = 255 - alpha

    @property
    def height(self) -> int:
        return self.premultiplied.shape[0]

    @property
    def width(self) -> int:
        return self.premultiplied.shape[1]

    def paste(self, frame: np.ndarray, x: int, y: int) -> None:
        h = min(self.height, frame.shape[0] - y)
        w = min(self.width, frame.shape[1] - x)
        if h <= 0 or w <= 0:
            return
        region = frame[y:y + h, x:x + w]
        blended = (region.astype(np.uint16) * self.inverse_alpha[:h, :w] + self.premultiplied[:h, :w]) // 255
        region[...] = blended.astype(np.uint8)


@lru_cache(maxsize=16)
def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def caption(text: str, frame_width: int, frame_height: int, max_lines: int = 3) -> Overlay:
    """The prompt as white text on a translucent dark band, sized for the frame."""
    size = max(12, frame_height // 22)
    chars_per_line = max(10, int(frame_width * 0.9 / (size * 0.55)))
    lines = textwrap.wrap(" ".join(text.split()) or "(empty prompt)", chars_per_line)
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = lines[-1][: max(0, chars_per_line - 1)] + "…"
    pad = size // 2
    band_h = len(lines) * int(size * 1.25) + 2 * pad
    band_w = int(frame_width * 0.94)
    image = Image.new("RGBA", (band_w, band_h), (0, 0, 0, 150))
    draw = ImageDraw.Draw(image)
    for index, line in enumerate(lines):
        draw.text((pad, pad + index * int(size * 1.25)), line, font=font(size), fill=(255, 255, 255, 255))
    rgba = np.asarray(image, dtype=np.uint16)
    alpha = rgba[..., 3:4]
    return Overlay(premultiplied=rgba[..., :3] * alpha, inverse_alpha=255 - alpha)


def moving_strip(width: int, height: int) -> np.ndarray:
    """A colour gradient twice the frame width that repeats every ``width`` pixels; slicing it at a
    growing offset gives a horizontally scrolling background for free."""
    x = np.arange(2 * width, dtype=np.float32) * (2 * np.pi / width)
    y = np.linspace(0.55, 1.0, height, dtype=np.float32)[:, None]
    channels = [127 + 110 * np.sin(x + phase) for phase in (0.0, 2.1, 4.2)]
    strip = np.stack([np.outer(y, c) for c in channels], axis=-1)
    return np.clip(strip, 0, 255).astype(np.uint8)


def cover(image: Image.Image, width: int, height: int) -> Image.Image:
    """Scale and centre-crop ``image`` to fill width x height."""
    image = image.convert("RGB")
    scale = max(width / image.width, height / image.height)
    resized = image.resize((max(width, round(image.width * scale)), max(height, round(image.height * scale))),
                           Image.Resampling.BILINEAR)
    left = (resized.width - width) // 2
    top = (resized.height - height) // 2
    return resized.crop((left, top, left + width, top + height))
