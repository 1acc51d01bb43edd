"""encode_mp4 writes real H.264 files that decode back to the frames that went in."""

from __future__ import annotations

import threading
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from nodes.media import video_encode
from nodes.media.video_decode import decode_frames
from nodes.media.video_encode import (
    FASTEST_AT_SAME_QUALITY,
    FEWEST_BYTES,
    encode_mp4,
    exact_rate,
    settings_for_uplink,
)
from nodes.media.video_info import probe_video


def _moving_frames(count: int, height: int, width: int) -> torch.Tensor:
    y = torch.linspace(0, 1, height).view(height, 1, 1)
    x = torch.linspace(0, 1, width).view(1, width, 1)
    frames = []
    for index in range(count):
        shift = index / count
        red = 0.5 + 0.4 * torch.sin(2 * torch.pi * (x + shift))  # smooth: no edge for 4:2:0 to blur
        frames.append(torch.cat([red * torch.ones_like(y), y * torch.ones_like(x),
                                 torch.full((height, width, 1), 0.5)], dim=-1))
    return torch.stack(frames).float()


def test_round_trip_keeps_count_rate_size_and_content(tmp_path: Path) -> None:
    frames = _moving_frames(24, 64, 96)
    path = encode_mp4(frames, 24, tmp_path / "out.mp4")
    info = probe_video(path)
    assert (info.width, info.height, info.frame_count, info.codec) == (96, 64, 24, "h264")
    assert info.fps == pytest.approx(24.0)
    assert info.duration == pytest.approx(1.0, abs=0.01)
    with av.open(str(path)) as container:
        assert container.streams.video[0].codec_context.pix_fmt == "yuv420p"
    decoded = decode_frames(path)
    # 4:2:0 chroma and crf 17 are lossy; smooth gradients come back within a few levels.
    assert float((decoded - frames).abs().mean()) < 0.01
    assert float((decoded - frames).abs().max()) < 0.08


def test_odd_size_is_padded_to_even_with_the_edge_repeated(tmp_path: Path) -> None:
    frames = torch.zeros(3, 35, 51, 3)
    frames[..., 0] = 1.0  # pure red; a black pad would show as a dark last row/column
    path = encode_mp4(frames, 12, tmp_path / "odd.mp4")
    info = probe_video(path)
    assert (info.width, info.height) == (52, 36)
    decoded = decode_frames(path)
    assert float(decoded[:, -1, :, 0].min()) > 0.9
    assert float(decoded[:, :, -1, 0].min()) > 0.9


def test_alpha_channel_is_dropped(tmp_path: Path) -> None:
    frames = torch.full((2, 16, 16, 4), 0.5)
    frames[..., 3] = 0.0
    decoded = decode_frames(encode_mp4(frames, 24, tmp_path / "alpha.mp4"))
    assert decoded.shape == (2, 16, 16, 3)
    assert float((decoded - 0.5).abs().max()) < 0.02


def test_ntsc_rate_is_exact(tmp_path: Path) -> None:
    assert exact_rate(23.976) == Fraction(24000, 1001)
    assert exact_rate(29.97) == Fraction(30000, 1001)
    assert exact_rate(12.5) == Fraction(25, 2)
    path = encode_mp4(_moving_frames(10, 16, 16), 23.976, tmp_path / "ntsc.mp4")
    with av.open(str(path)) as container:
        assert container.streams.video[0].average_rate == Fraction(24000, 1001)


@pytest.mark.parametrize(
    ("frames", "fps", "message"),
    [
        (torch.zeros(0, 8, 8, 3), 24, "empty"),
        (torch.zeros(8, 8, 3), 24, r"\[N, H, W, C\]"),
        (torch.zeros(1, 8, 8, 3), 0, "fps"),
    ],
)
def test_bad_input_is_refused(tmp_path: Path, frames: torch.Tensor, fps: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        encode_mp4(frames, fps, tmp_path / "bad.mp4")
    assert not (tmp_path / "bad.mp4").exists()


def test_non_contiguous_frames_encode(tmp_path: Path) -> None:
    # A strided view (every other frame of a batch) is encoded as it is, frame by frame.
    frames = _moving_frames(8, 64, 64)[::2]
    assert not frames.is_contiguous()
    decoded = decode_frames(encode_mp4(frames, 24, tmp_path / "strided.mp4"))
    assert decoded.shape[0] == 4
    assert np.abs(decoded.numpy() - frames.numpy()).mean() < 0.02


def test_the_encoder_for_the_link_keeps_the_quality(tmp_path: Path) -> None:
    """A slow uplink gets the fewest bytes, a fast or unmeasured one the faster encode; both come back as close
    to the frames given (same CRF scale tuned to the same PSNR), every frame, in order."""
    assert settings_for_uplink(250_000) == FEWEST_BYTES  # 2 Mbit/s
    assert settings_for_uplink(None) == settings_for_uplink(2_500_000) == FASTEST_AT_SAME_QUALITY  # 20 Mbit/s
    frames = _moving_frames(24, 64, 96)
    errors = {}
    for settings in (FEWEST_BYTES, FASTEST_AT_SAME_QUALITY):
        path = encode_mp4(frames, 24, tmp_path / f"{settings.preset}.mp4", preset=settings.preset, crf=settings.crf)
        decoded = decode_frames(path)
        assert decoded.shape == frames.shape
        errors[settings.preset] = float((decoded - frames).abs().mean())
    assert errors[FASTEST_AT_SAME_QUALITY.preset] <= errors[FEWEST_BYTES.preset] * 1.1, errors


def test_an_unknown_preset_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="preset"):
        encode_mp4(_moving_frames(2, 16, 16), 24, tmp_path / "x.mp4", preset="warp")


def _encode_converting_in_line(frames: torch.Tensor, path: Path) -> bytes:
    """The encode as written before frames were made ready in a thread: each rgb24 frame handed to the
    encoder, which converts it to yuv420p itself."""
    height, width = int(frames.shape[1]), int(frames.shape[2])
    with av.open(str(path), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.time_base = Fraction(1, 24)
        stream.options = {"crf": "17", "preset": "medium"}
        for index in range(int(frames.shape[0])):
            rgb = frames[index].clamp(0, 1).mul(255).round_().to(torch.uint8).numpy()
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
            frame.pts, frame.time_base = index, stream.codec_context.time_base
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path.read_bytes()


def test_frames_made_ready_in_a_thread_give_the_same_bytes_as_converting_in_line(tmp_path: Path) -> None:
    frames = torch.rand(30, 72, 128, 3)  # noise: any difference in the conversion would change the bytes
    written = encode_mp4(frames, 24, tmp_path / "ahead.mp4").read_bytes()
    assert written == _encode_converting_in_line(frames, tmp_path / "in_line.mp4")


def test_a_failing_frame_stops_the_encode_and_leaves_no_thread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[int] = []
    real = video_encode._yuv420p_frame

    def fail_at_the_fifth(frame: torch.Tensor, even_w: int, even_h: int) -> av.VideoFrame:
        made.append(1)
        if len(made) == 5:
            raise MemoryError("no memory for frame 5")
        return real(frame, even_w, even_h)

    monkeypatch.setattr(video_encode, "_yuv420p_frame", fail_at_the_fifth)
    with pytest.raises(MemoryError, match="frame 5"):
        encode_mp4(_moving_frames(40, 32, 32), 24, tmp_path / "broken.mp4")
    assert len(made) <= 5 + video_encode.FRAMES_READY_AHEAD  # nothing made after the failure but what was queued
    assert not [t for t in threading.enumerate() if t.name.startswith("luma-fal-frames")]
