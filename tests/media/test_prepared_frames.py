"""PreparedFrames (frame memory faulted in while fal works) and decode_frames filling a prepared tensor."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from nodes.media.memory import budget_bytes, parse_size
from nodes.media.prepared import PreparedFrames
from nodes.media.video_decode import decode_frames
from nodes.media.video_plan import DecodeOptions, MemoryBudgetError, plan_decode


def _prepared_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "luma-fal-prepare-frames"]


def test_buffers_are_handed_out_by_exact_shape_once_each() -> None:
    shape = (3, 40, 64, 3)
    pool = PreparedFrames(shape, 2)
    try:
        first, second = pool.take(shape), pool.take(shape)
        assert first is not None and second is not None
        assert tuple(first.shape) == shape and str(first.dtype) == "torch.float32"
        assert first.data_ptr() != second.data_ptr()
        assert pool.take(shape) is None  # all taken
    finally:
        pool.close()
    assert not _prepared_threads()


def test_close_stops_the_thread_and_drops_what_was_not_taken() -> None:
    shape = (64, 256, 256, 3)  # 48 MiB each: close() lands while buffers are still being faulted in
    pool = PreparedFrames(shape, 16)
    pool.close()
    assert not _prepared_threads()
    assert pool.take(shape) is None


def test_decode_fills_a_prepared_tensor_with_the_same_frames(clip_160x90: Path, reference) -> None:
    options = DecodeOptions(every_nth=2)
    shape = (24, 90, 160, 3)
    pool = PreparedFrames(shape, 1)
    asked: list[tuple[int, ...]] = []
    handed: list[int] = []

    def prepared(wanted: tuple[int, ...]):
        asked.append(wanted)
        buffer = pool.take(wanted)
        handed.append(buffer.data_ptr())
        return buffer

    try:
        frames = decode_frames(clip_160x90, options, prepared=prepared)
    finally:
        pool.close()
    assert asked == [shape]
    assert handed == [frames.data_ptr()]  # the decode filled the prepared memory, allocating none
    np.testing.assert_array_equal(frames.numpy(), reference(clip_160x90)[::2])


def test_a_video_of_another_shape_drops_every_prepared_tensor_before_allocating(clip_160x90: Path,
                                                                                 reference) -> None:
    guessed = (48, 90, 162, 3)
    pool = PreparedFrames(guessed, 3)
    try:
        frames = decode_frames(clip_160x90, prepared=pool.take)
        assert not _prepared_threads()
        assert pool.take(guessed) is None  # the wrong guess's memory is gone, not held beside the frames
    finally:
        pool.close()
    np.testing.assert_array_equal(frames.numpy(), reference(clip_160x90))


def test_a_prepared_tensor_is_filled_even_when_the_budget_says_no(clip_160x90: Path, reference) -> None:
    # The memory is already held: refusing would not give any back.
    options = DecodeOptions(memory_limit_bytes=1000)
    shape = (plan_decode(clip_160x90).frame_count, 90, 160, 3)
    with pytest.raises(MemoryBudgetError):
        decode_frames(clip_160x90, options)
    pool = PreparedFrames(shape, 1)
    try:
        frames = decode_frames(clip_160x90, options, prepared=pool.take)
    finally:
        pool.close()
    np.testing.assert_array_equal(frames.numpy(), reference(clip_160x90))


@pytest.mark.parametrize(("text", "expected"), [
    ("800MiB", 800 << 20), ("1.5 GiB", 3 << 29), ("2G", 2 << 30), ("2GB", 2_000_000_000),
    ("12345", 12345), (" 64 kib ", 64 << 10),
])
def test_sizes_parse(text: str, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "lots", "1.5 parsecs", "-3GiB", "GiB"])
def test_bad_sizes_are_refused_by_value(text: str) -> None:
    with pytest.raises(ValueError, match="not a size"):
        parse_size(text)


def test_a_cap_lowers_the_budget_but_never_raises_it() -> None:
    free, source = budget_bytes(None)
    assert free is not None and "free RAM" in source
    assert budget_bytes(None, 1 << 20, "LUMA_FAL_FRAMES_MEMORY_LIMIT") == (1 << 20, "LUMA_FAL_FRAMES_MEMORY_LIMIT")
    capped, capped_source = budget_bytes(None, 1 << 60, "LUMA_FAL_FRAMES_MEMORY_LIMIT")
    assert capped_source.startswith("free RAM") and capped <= 1 << 60


def test_a_capped_decode_names_the_cap(clip_160x90: Path) -> None:
    options = DecodeOptions(memory_cap_bytes=1000, memory_cap_name="LUMA_FAL_FRAMES_MEMORY_LIMIT")
    with pytest.raises(MemoryBudgetError, match="LUMA_FAL_FRAMES_MEMORY_LIMIT"):
        decode_frames(clip_160x90, options)
