"""encode_reference picks a sensible format and size; decode_image turns any image file into RGB."""

from __future__ import annotations

import hashlib
import io

import numpy as np
import pytest
import torch
from PIL import Image

from nodes.media.images import decode_image, encode_reference, fit_within


def _photo(height: int, width: int, seed: int = 0) -> torch.Tensor:
    """Smooth shading plus sensor-like noise: what camera pictures and renders look like to an encoder."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    rgb = np.stack([0.5 + 0.4 * np.sin(x / 37), 0.5 + 0.4 * np.cos(y / 23), (x + y) / (width + height)], -1)
    rgb += np.random.default_rng(seed).normal(0, 0.02, rgb.shape).astype(np.float32)
    return torch.from_numpy(np.clip(rgb, 0, 1).astype(np.float32))


def _flat_graphic(height: int, width: int) -> torch.Tensor:
    image = torch.ones(height, width, 3)
    image[height // 8 : height // 2, width // 8 : width // 2] = torch.tensor([0.9, 0.1, 0.1])
    image[height // 2 :, width // 2 :] = torch.tensor([0.1, 0.3, 0.8])
    image[:, width // 3 : width // 3 + 4] = 0.0
    return image


def _pixels(encoded) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(encoded.data)).convert("RGB"), dtype=np.float32) / 255.0


def test_photo_becomes_a_jpeg_close_to_the_source() -> None:
    image = _photo(720, 1280)
    encoded = encode_reference(image)
    assert (encoded.content_type, encoded.extension) == ("image/jpeg", "jpg")
    assert (encoded.width, encoded.height) == (1280, 720)
    assert encoded.sha256 == hashlib.sha256(encoded.data).hexdigest()
    with Image.open(io.BytesIO(encoded.data)) as picture:
        assert picture.format == "JPEG"
        assert picture.layer == [(1, 1, 1, 0), (2, 1, 1, 1), (3, 1, 1, 1)]  # 4:4:4, no chroma halving
    assert np.abs(_pixels(encoded) - image.numpy()).mean() < 0.02  # about the noise amplitude itself
    png = encode_reference(image, prefer="png")
    assert len(encoded.data) * 2 < len(png.data)


def test_flat_graphic_becomes_a_lossless_png() -> None:
    image = _flat_graphic(720, 1280)
    encoded = encode_reference(image)
    assert (encoded.content_type, encoded.extension) == ("image/png", "png")
    np.testing.assert_array_equal(_pixels(encoded), (image * 255).round().numpy() / 255.0)
    assert len(encoded.data) < len(encode_reference(image, prefer="jpeg").data)


def test_small_image_takes_the_smaller_encoding() -> None:
    image = _photo(64, 64)
    encoded = encode_reference(image)
    sizes = {e.content_type: len(e.data) for e in (encode_reference(image, prefer=p) for p in ("jpeg", "png"))}
    assert len(encoded.data) == min(sizes.values())


def test_transparent_pixels_are_composited_over_white() -> None:
    image = torch.zeros(32, 48, 4)
    image[..., 0] = 1.0  # red where opaque; transparent pixels store black
    image[:, 24:, 3] = 1.0
    encoded = encode_reference(image, prefer="png")
    pixels = _pixels(encoded)
    np.testing.assert_array_equal(pixels[:, :24], 1.0)  # fully transparent -> white, not the stored black
    np.testing.assert_array_equal(pixels[:, 24:], np.broadcast_to([1.0, 0.0, 0.0], (32, 24, 3)))


def test_opaque_alpha_is_simply_dropped() -> None:
    rgba = torch.cat([_photo(40, 40), torch.ones(40, 40, 1)], dim=-1)
    assert encode_reference(rgba, prefer="png").data == encode_reference(rgba[..., :3], prefer="png").data


def test_greyscale_single_channel_is_accepted() -> None:
    encoded = encode_reference(torch.full((10, 12, 1), 0.25), prefer="png")
    np.testing.assert_allclose(_pixels(encoded), 64 / 255, atol=1 / 255)


@pytest.mark.parametrize(
    ("size", "max_side", "max_pixels", "expected"),
    [
        ((8000, 2000), 4096, 16_777_216, (4096, 1024)),  # side limit
        ((5000, 5000), 8192, 16_777_216, (4096, 4096)),  # area limit
        ((1000, 500), 4096, 16_777_216, (1000, 500)),  # inside both: untouched, never upscaled
        ((3001, 1999), 1000, 100_000, (387, 258)),  # area wins; rounding down keeps it under
    ],
)
def test_fit_within_respects_limits_and_aspect(size, max_side, max_pixels, expected) -> None:
    width, height = fit_within(*size, max_side, max_pixels)
    assert (width, height) == expected
    assert max(width, height) <= max_side and width * height <= max_pixels
    assert abs(width / height - size[0] / size[1]) < 0.01


def test_large_reference_is_scaled_down_keeping_aspect() -> None:
    encoded = encode_reference(_photo(300, 900), max_side=450)
    assert (encoded.width, encoded.height) == (450, 150)
    with Image.open(io.BytesIO(encoded.data)) as picture:
        assert picture.size == (450, 150)


def test_bad_reference_input_is_refused() -> None:
    with pytest.raises(ValueError, match=r"\[H, W, 1-4\]"):
        encode_reference(torch.zeros(1, 8, 8, 3))
    with pytest.raises(ValueError, match="prefer"):
        encode_reference(torch.zeros(8, 8, 3), prefer="webp")  # type: ignore[arg-type]


def _file(picture: Image.Image, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, format=fmt)
    return buffer.getvalue()


def test_decode_rgb_png_exactly() -> None:
    array = (np.random.default_rng(1).random((20, 30, 3)) * 255).astype(np.uint8)
    decoded = decode_image(_file(Image.fromarray(array)))
    assert decoded.shape == (1, 20, 30, 3) and decoded.dtype == torch.float32
    np.testing.assert_array_equal(decoded[0].numpy(), array / np.float32(255.0))


def test_decode_rgba_composites_over_white() -> None:
    array = np.zeros((4, 4, 4), np.uint8)
    array[..., 2] = 255  # blue
    array[:2, :, 3] = 255  # top half opaque, bottom half transparent
    decoded = decode_image(_file(Image.fromarray(array, "RGBA")))[0]
    np.testing.assert_array_equal(decoded[:2].numpy(), np.broadcast_to([0.0, 0.0, 1.0], (2, 4, 3)))
    np.testing.assert_array_equal(decoded[2:].numpy(), 1.0)


def test_decode_greyscale_and_palette_give_rgb() -> None:
    grey = decode_image(_file(Image.fromarray(np.full((5, 6), 128, np.uint8), "L")))
    assert grey.shape == (1, 5, 6, 3)
    np.testing.assert_allclose(grey.numpy(), 128 / 255)
    palette = Image.fromarray(np.array([[0, 1], [1, 0]], np.uint8), "P")
    palette.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    decoded = decode_image(_file(palette))[0]
    np.testing.assert_array_equal(decoded[0, 0].numpy(), [1.0, 0.0, 0.0])
    np.testing.assert_array_equal(decoded[0, 1].numpy(), [0.0, 1.0, 0.0])


def test_decode_sixteen_bit_greyscale_keeps_precision() -> None:
    values = np.array([[0, 1000], [40000, 65535]], np.uint16)
    decoded = decode_image(_file(Image.fromarray(values)))[0]
    assert decoded.shape == (2, 2, 3)
    np.testing.assert_allclose(decoded[..., 0].numpy(), values / 65535.0, atol=1e-6)
    np.testing.assert_array_equal(decoded[..., 0].numpy(), decoded[..., 2].numpy())


def test_decode_jpeg_and_exif_rotation() -> None:
    array = np.zeros((10, 20, 3), np.uint8)
    array[:, :10] = 255
    picture = Image.fromarray(array)
    exif = picture.getexif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", exif=exif, quality=95)
    decoded = decode_image(buffer.getvalue())
    assert decoded.shape == (1, 20, 10, 3)  # width and height swapped by the orientation tag


def test_decode_rejects_non_images() -> None:
    with pytest.raises(OSError):
        decode_image(b"definitely not an image")
