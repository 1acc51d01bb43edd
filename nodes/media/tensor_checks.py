"""Is this IMAGE a picture? One check for every IMAGE input, before anything is encoded or sent.

Custom nodes and scripts can hand over tensors ComfyUI's own nodes never make: an empty batch, a
zero-pixel side, NaN or infinite values, five channels, a missing batch axis. Without this check
they surface later as an encoder's internal error (after other uploads may already have happened),
or worse, NaN quietly becomes black. The messages name the problem, not the input: the node glue
prefixes the input's name.
"""

from __future__ import annotations

from typing import Any

MIN_CHANNELS, MAX_CHANNELS = 1, 4  # grey, grey+alpha, RGB, RGBA: what the encoders take


class ImageTensorInvalid(ValueError):
    """An IMAGE tensor the pack cannot encode; the message says what is wrong with it."""


def check_image_batch(images: Any) -> None:
    """Refuse anything but a float IMAGE batch ``[batch, height, width, channels]`` with at least one
    image, sides of at least one pixel, 1-4 channels and only finite values."""
    # Lazy: torch takes seconds to import: only when a tensor is made.
    import torch

    if not isinstance(images, torch.Tensor):
        raise ImageTensorInvalid(f"expects an IMAGE, got {type(images).__name__}")
    shape = list(images.shape)
    if images.ndim != 4:
        raise ImageTensorInvalid(
            f"expects an IMAGE batch [batch, height, width, channels]; got a tensor with {images.ndim} "
            f"dimension{'s' if images.ndim != 1 else ''} {shape}")
    count, height, width, channels = shape
    if count < 1:
        raise ImageTensorInvalid("is an empty IMAGE batch (0 images)")
    if height < 1 or width < 1:
        raise ImageTensorInvalid(f"has images of {width}x{height} pixels; width and height must be at least 1")
    if not MIN_CHANNELS <= channels <= MAX_CHANNELS:
        raise ImageTensorInvalid(
            f"has {channels} channels per pixel; an IMAGE has {MIN_CHANNELS} to {MAX_CHANNELS} "
            "(grey, grey + alpha, RGB or RGBA)")
    if not images.dtype.is_floating_point:
        raise ImageTensorInvalid(f"holds {str(images.dtype).removeprefix('torch.')} values; an IMAGE holds "
                                 "floating-point values from 0 to 1")
    _check_finite(images)


def _check_finite(images: Any) -> None:
    # Lazy: torch takes seconds to import: only when a tensor is made.
    import torch

    # One pass with two scalars of output: NaN propagates into min and max, and +/-inf shows in one of
    # them, so a clean tensor (the usual case, possibly gigabytes of video frames) costs no allocation.
    low, high = torch.aminmax(images)
    if bool(torch.isfinite(low)) and bool(torch.isfinite(high)):
        return
    for index in range(images.shape[0]):  # only for a bad tensor: say which image is bad
        frame_low, frame_high = torch.aminmax(images[index])
        if not (bool(torch.isfinite(frame_low)) and bool(torch.isfinite(frame_high))):
            kind = "NaN" if bool(torch.isnan(frame_low) or torch.isnan(frame_high)) else "infinite"
            where = f"image {index} of the batch" if images.shape[0] > 1 else "the image"
            raise ImageTensorInvalid(f"{where} contains {kind} values; every value must be a finite number "
                                     "(0 to 1)")
