"""Provenance tags in saved results: MP4 by stream-copy remux (video bytes unchanged), PNG text chunks."""

from __future__ import annotations

import hashlib
from pathlib import Path

import av
import numpy as np
from PIL import Image

from nodes.media.metadata import read_mp4_tags, tag_file, tag_mp4, tag_png
from tests.media.conftest import write_clip

TAGS = {"fal_endpoint": "luma/agent/ray/v3.2/text-to-video", "fal_request_id": "req-1234abcd",
        "comment": "fal request req-1234abcd"}


def _video_packets(path: Path) -> list[tuple[int | None, int | None, bool, str]]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return [(p.pts, p.dts, p.is_keyframe, hashlib.sha256(bytes(p)).hexdigest())
                for p in container.demux(stream) if p.dts is not None]


def test_mp4_tags_are_written_without_touching_the_video_stream(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "clip.mp4", 320, 240, 48)
    before = _video_packets(clip)
    with av.open(str(clip)) as container:
        frames_before = container.streams.video[0].frames

    tag_mp4(clip, TAGS)

    tags = read_mp4_tags(clip)
    assert tags["fal_endpoint"] == TAGS["fal_endpoint"] and tags["fal_request_id"] == "req-1234abcd"
    assert tags["comment"] == "fal request req-1234abcd"
    assert _video_packets(clip) == before  # same packets, same bytes, same timestamps: not re-encoded
    with av.open(str(clip)) as container:
        assert container.streams.video[0].frames == frames_before
        assert sum(1 for _ in container.decode(video=0)) == 48
    assert [p.name for p in tmp_path.iterdir()] == ["clip.mp4"]  # no temp file left


def test_png_text_chunks_keep_the_pixels_and_bytes_of_the_image(tmp_path: Path) -> None:
    path = tmp_path / "image.png"
    pixels = (np.arange(64 * 48 * 3) % 251).astype(np.uint8).reshape(48, 64, 3)
    Image.fromarray(pixels).save(path)
    original = path.read_bytes()

    assert tag_file(path, {"fal_endpoint": "luma/agent/uni-1/v1/text-to-image", "fal_request_id": "req-9"})

    tagged = path.read_bytes()
    with Image.open(path) as image:
        image.load()
        assert image.text["fal_request_id"] == "req-9"
        assert image.text["fal_endpoint"] == "luma/agent/uni-1/v1/text-to-image"
        assert np.array_equal(np.asarray(image), pixels)
    assert tagged[: len(original) - 12] == original[:-12] and tagged.endswith(original[-12:])  # only chunks added


def test_other_formats_are_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "image.jpg"
    Image.new("RGB", (8, 8), "red").save(path)
    before = path.read_bytes()
    assert not tag_file(path, TAGS)
    assert path.read_bytes() == before


def test_tag_png_refuses_a_file_that_is_not_png(tmp_path: Path) -> None:
    path = tmp_path / "fake.png"
    path.write_bytes(b"not a png")
    try:
        tag_png(path, TAGS)
    except ValueError as exc:
        assert "fake.png" in str(exc)
    else:
        raise AssertionError("tag_png accepted a non-PNG file")
