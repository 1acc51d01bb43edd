"""check_image_batch: every degenerate IMAGE is refused with a message that says what is wrong."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from nodes.media.images import encode_reference
from nodes.media.tensor_checks import ImageTensorInvalid, check_image_batch
from nodes.media.video_encode import encode_mp4


def _with(value: float, at: tuple[int, ...], shape: tuple[int, ...] = (3, 8, 8, 3)) -> torch.Tensor:
    images = torch.full(shape, 0.5)
    images[at] = value
    return images


REFUSED = [
    # (id, tensor, words the message must contain)
    ("zero-width", torch.zeros(1, 16, 0, 3), ["0x16", "at least 1"]),
    ("zero-height", torch.zeros(1, 0, 16, 3), ["16x0", "at least 1"]),
    ("empty-batch", torch.zeros(0, 16, 16, 3), ["empty", "0 images"]),
    ("nan", _with(float("nan"), (1, 2, 3, 0)), ["image 1 of the batch", "NaN"]),
    ("inf", _with(float("inf"), (2, 0, 0, 2)), ["image 2 of the batch", "infinite"]),
    ("minus-inf", _with(float("-inf"), (0, 7, 7, 1), (1, 8, 8, 3)), ["the image", "infinite"]),
    ("nan-in-half", _with(float("nan"), (0, 1, 1, 0)).half(), ["NaN"]),
    ("five-channels", torch.zeros(1, 8, 8, 5), ["5 channels", "1 to 4"]),
    ("zero-channels", torch.zeros(1, 8, 8, 0), ["0 channels", "1 to 4"]),
    ("no-batch-axis", torch.zeros(8, 8, 3), ["3 dimensions", "[8, 8, 3]"]),
    ("five-dims", torch.zeros(1, 1, 8, 8, 3), ["5 dimensions"]),
    ("scalar", torch.tensor(0.5), ["0 dimensions"]),
    ("integers", torch.zeros(1, 8, 8, 3, dtype=torch.uint8), ["uint8", "floating-point"]),
    ("not-a-tensor", np.zeros((1, 8, 8, 3), dtype=np.float32), ["ndarray"]),
]


@pytest.mark.parametrize(("images", "words"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
def test_degenerate_image_is_refused_with_what_is_wrong(images, words) -> None:
    with pytest.raises(ImageTensorInvalid) as caught:
        check_image_batch(images)
    for word in words:
        assert word in str(caught.value), f"{word!r} not in: {caught.value}"


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_images_with_one_to_four_channels_pass_and_encode(channels: int, tmp_path) -> None:
    images = torch.rand(2, 6, 10, channels)
    if channels in (2, 4):
        images[..., -1] = 1.0  # opaque
    check_image_batch(images)
    encoded = encode_reference(images[0])
    picture = Image.open(io.BytesIO(encoded.data))
    assert picture.size == (10, 6)
    out = encode_mp4(images, 24, tmp_path / "clip.mp4")
    assert out.stat().st_size > 0


def test_grey_alpha_composites_over_white() -> None:
    image = torch.zeros(4, 4, 2)  # black, fully transparent
    encoded = encode_reference(image, prefer="png")
    pixels = np.asarray(Image.open(io.BytesIO(encoded.data)).convert("RGB"))
    assert (pixels == 255).all()


def test_a_non_contiguous_view_and_values_outside_0_1_pass() -> None:
    # Out-of-range but finite values are clamped by the encoders; only non-finite values are refused.
    images = (torch.rand(2, 8, 16, 3) * 3 - 1)[:, :, ::2]
    check_image_batch(images)
