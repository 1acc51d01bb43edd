"""decode_frames / plan_decode / probe_video on real H.264 files written by the fixtures."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from nodes.media.video_decode import DecodeStopped, decode_frames
from nodes.media.video_plan import DecodeOptions, MemoryBudgetError, plan_decode
from nodes.media.video_info import VideoUnreadable, probe_video


def test_probe_reads_stream_metadata(clip_160x90: Path) -> None:
    info = probe_video(clip_160x90)
    assert (info.width, info.height, info.frame_count, info.codec) == (160, 90, 48, "h264")
    assert info.fps == pytest.approx(24.0)
    assert info.duration == pytest.approx(2.0, abs=0.05)


def test_probe_counts_frames_when_container_has_no_count(clip_dir: Path, make_clip) -> None:
    raw = make_clip(clip_dir / "raw_probe.h264", 64, 48, 37, container_format="h264")
    info = probe_video(raw)
    assert info.frame_count == 37
    assert info.fps == pytest.approx(24.0)


def test_full_decode_is_exactly_the_reference_decode(clip_160x90: Path, reference) -> None:
    frames = decode_frames(clip_160x90)
    assert frames.dtype == torch.float32
    assert frames.shape == (48, 90, 160, 3)
    assert frames.is_contiguous()
    np.testing.assert_array_equal(frames.numpy(), reference(clip_160x90))


def test_start_stride_and_cap_select_the_right_frames(clip_160x90: Path, reference) -> None:
    reference = reference(clip_160x90)
    options = DecodeOptions(start_frame=5, every_nth=3, frame_cap=7)
    frames = decode_frames(clip_160x90, options)
    np.testing.assert_array_equal(frames.numpy(), reference[5::3][:7])
    assert plan_decode(clip_160x90, options).frame_count == 7


def test_stride_without_cap_reaches_the_last_frame(clip_160x90: Path, reference) -> None:
    frames = decode_frames(clip_160x90, DecodeOptions(every_nth=5))
    np.testing.assert_array_equal(frames.numpy(), reference(clip_160x90)[::5])  # 0,5,..,45: 10 frames


def test_start_past_the_end_is_refused(clip_160x90: Path) -> None:
    with pytest.raises(VideoUnreadable, match="no frames selected"):
        decode_frames(clip_160x90, DecodeOptions(start_frame=48))


def test_resize_with_height_only_keeps_aspect_and_matches_pil(clip_320x180: Path, reference) -> None:
    options = DecodeOptions(height=90, frame_cap=6)
    plan = plan_decode(clip_320x180, options)
    assert (plan.width, plan.height, plan.frame_count) == (160, 90, 6)
    frames = decode_frames(clip_320x180, options)
    assert frames.shape == (6, 90, 160, 3)
    for ours, full in zip(frames.numpy(), reference(clip_320x180)[:6]):
        pil = Image.fromarray((full * 255).round().astype(np.uint8)).resize((160, 90), Image.Resampling.BOX)
        expected = np.asarray(pil, dtype=np.float32) / 255.0
        error = np.abs(ours - expected)
        # libswscale's area filter and PIL's box filter place sharp edges up to half a pixel apart.
        assert error.mean() < 0.01, error.mean()
        assert np.percentile(error, 99) < 0.06, np.percentile(error, 99)


def test_resize_with_both_sides_and_width_only(clip_320x180: Path) -> None:
    assert decode_frames(clip_320x180, DecodeOptions(width=100, height=50, frame_cap=2)).shape == (2, 50, 100, 3)
    assert decode_frames(clip_320x180, DecodeOptions(width=64, frame_cap=2)).shape == (2, 36, 64, 3)


def test_upscale_shape(clip_160x90: Path) -> None:
    frames = decode_frames(clip_160x90, DecodeOptions(width=320, frame_cap=3))
    assert frames.shape == (3, 180, 320, 3)
    assert 0.0 <= float(frames.min()) and float(frames.max()) <= 1.0


def test_matroska_without_frame_count_grows_past_a_low_estimate(clip_dir: Path, make_clip, reference) -> None:
    # Matroska stores no frame count, so the plan estimates duration x fps. The first 24 frames come
    # 4x faster than the nominal 24 fps, so that estimate is low and the buffer has to grow.
    clip = make_clip(
        clip_dir / "vfr.mkv", 96, 64, 48, container_format="matroska",
        pts_of=lambda i: i if i < 24 else 24 + (i - 24) * 4,
    )
    plan = plan_decode(clip)
    assert not plan.count_exact
    assert plan.frame_count < 48
    frames = decode_frames(clip)
    assert frames.shape[0] == 48
    np.testing.assert_array_equal(frames.numpy(), reference(clip))


def test_raw_h264_without_count_or_duration_decodes_every_frame(clip_dir: Path, make_clip, reference) -> None:
    clip = make_clip(clip_dir / "raw.h264", 64, 48, 29, container_format="h264")
    assert plan_decode(clip).frame_count == 29
    np.testing.assert_array_equal(decode_frames(clip).numpy(), reference(clip))


def test_memory_guard_refuses_with_fitting_options(clip_160x90: Path) -> None:
    frame_bytes = 160 * 90 * 3 * 4
    limit = frame_bytes * 20 + 100  # room for 20 of the 48 frames
    options = DecodeOptions(memory_limit_bytes=limit)
    assert plan_decode(clip_160x90, options).bytes_needed == 48 * frame_bytes
    with pytest.raises(MemoryBudgetError) as caught:
        decode_frames(clip_160x90, options)
    message = str(caught.value)
    assert "48 frames at 160x90" in message
    assert "memory_limit_bytes" in message
    assert "frame_cap=20" in message
    assert "every_nth=3" in message  # ceil(48 / 3) = 16 frames fit; every_nth=2 (24 frames) does not
    suggested = re.search(r"height=(\d+)", message)
    assert suggested is not None
    # Each suggestion really fits.
    for fitting in (DecodeOptions(frame_cap=20, memory_limit_bytes=limit),
                    DecodeOptions(every_nth=3, memory_limit_bytes=limit),
                    DecodeOptions(height=int(suggested.group(1)), memory_limit_bytes=limit)):
        assert decode_frames(clip_160x90, fitting).numel() * 4 <= limit


def test_memory_guard_refuses_before_allocating(clip_dir: Path, make_clip) -> None:
    # 3 frames upscaled to 1,000,000 x 562,500 would be ~18 PB: had torch.empty run first, it would
    # have raised its own RuntimeError, not MemoryBudgetError.
    clip = make_clip(clip_dir / "three_frames.mp4", 64, 36, 3)
    options = DecodeOptions(width=1_000_000)
    with pytest.raises(MemoryBudgetError, match="free RAM less a .* safety margin") as caught:
        decode_frames(clip, options)
    assert "3 frames at 1000000x562500" in str(caught.value)
    assert re.search(r"To fit, set width=\d+, height=\d+\.$", str(caught.value))


def test_progress_reports_every_few_frames_and_ends_at_total(clip_160x90: Path) -> None:
    calls: list[tuple[int, int]] = []
    decode_frames(clip_160x90, on_progress=lambda done, total: calls.append((done, total)))
    assert calls[-1] == (48, 48)
    assert 3 <= len(calls) <= 12
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)


def test_should_stop_stops_and_leaves_no_decoder_thread(clip_160x90: Path) -> None:
    converted: list[int] = []
    before = {t.name for t in threading.enumerate()}

    def stop_after_five() -> bool:
        converted.append(1)
        return len(converted) > 5

    with pytest.raises(DecodeStopped, match="after 5 frames"):
        decode_frames(clip_160x90, should_stop=stop_after_five)
    leftover = {t.name for t in threading.enumerate()} - before
    assert not leftover & {"luma-fal-video-decode", "luma-fal-video-pager"}, leftover


def test_decoder_errors_reach_the_caller(tmp_path: Path) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64)
    with pytest.raises(VideoUnreadable):
        decode_frames(broken)
    with pytest.raises(VideoUnreadable, match="not found"):
        decode_frames(tmp_path / "missing.mp4")


@pytest.mark.parametrize(
    ("field", "value"), [("start_frame", -1), ("frame_cap", -2), ("every_nth", 0), ("height", -5)]
)
def test_options_refuse_bad_values_by_name(field: str, value: int) -> None:
    with pytest.raises(ValueError, match=field):
        DecodeOptions(**{field: value})
