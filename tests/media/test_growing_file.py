"""Decoding a video while its file is still being written (media.growing_file): same frames as the finished file."""

from __future__ import annotations

import gc
import os
import threading
import time
import weakref
from pathlib import Path

import numpy as np
import pytest
import torch

from nodes.media.growing_file import (HEAD_BYTES, DownloadBroken, GrowingFile, ReadStopped, ReadTimedOut,
                                      moov_tail_start)
from nodes.media.video_decode import DecodeStopped, decode_frames
from nodes.media.video_info import VideoUnreadable
from nodes.media.video_plan import DecodeOptions
from sandbox.mp4_layout import is_moov_first, moov_first
from tests.media.conftest import write_clip

CHUNK = 16 * 1024


@pytest.fixture(scope="module")
def layouts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """One clip (bigger than the head the reader inspects) as encoders write it and as a faststart file."""
    folder = tmp_path_factory.mktemp("growing")
    last = write_clip(folder / "clip.mp4", 320, 180, 60).read_bytes()
    assert len(last) > 2 * HEAD_BYTES and not is_moov_first(last)
    first = moov_first(last)
    assert is_moov_first(first) and len(first) == len(last)
    return {"moov_last": last, "moov_first": first}


class Writer:
    """Writes ``data`` into ``<dest>.part`` chunk by chunk (flushed, then reported), then renames it, as a
    download does; ``tail``: hands the index over when asked, as a Range request would."""

    def __init__(self, data: bytes, dest: Path, *, tail: bool = True, pause: float = 0.002,
                 stop_at: int | None = None) -> None:
        self.data, self.dest, self.pause, self.stop_at = data, dest, pause, stop_at
        self.part = dest.with_name(dest.name + ".part")
        self.tail_asked: list[int] = []
        self.live = GrowingFile(self.part, tail_wanted=self._tail if tail else self.tail_asked.append)
        self.thread = threading.Thread(target=self._write, daemon=True)

    def _tail(self, start: int) -> None:
        self.tail_asked.append(start)
        self.live.provide_tail(start, self.data[start:])

    def _write(self) -> None:
        with open(self.part, "wb") as out:
            for start in range(0, len(self.data), CHUNK):
                if self.stop_at is not None and start >= self.stop_at:
                    return  # the caller fails it or lets it hang
                out.write(self.data[start:start + CHUNK])
                out.flush()
                self.live.advanced(min(len(self.data), start + CHUNK), len(self.data))
                time.sleep(self.pause)
        os.replace(self.part, self.dest)
        self.live.finished(self.dest)

    def __enter__(self) -> Writer:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.thread.join()


def _decoder_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("luma-fal-video")]


@pytest.mark.parametrize("layout", ["moov_last", "moov_first"])
@pytest.mark.parametrize("options", [DecodeOptions(), DecodeOptions(frame_cap=17), DecodeOptions(every_nth=3),
                                     DecodeOptions(height=90), DecodeOptions(start_frame=5, every_nth=2, frame_cap=9,
                                                                             height=120)],
                         ids=["all", "cap", "stride", "height", "mixed"])
@pytest.mark.parametrize("tail", [True, False], ids=["tail-fetched", "no-range"])
def test_streamed_decode_equals_the_finished_file(layouts: dict[str, bytes], tmp_path: Path, layout: str,
                                                  options: DecodeOptions, tail: bool) -> None:
    writer = Writer(layouts[layout], tmp_path / "clip.mp4", tail=tail)
    with writer:
        streamed = decode_frames(writer.live.reader(), options, whole=True)
    finished = decode_frames(tmp_path / "clip.mp4", options)
    assert streamed.shape == finished.shape and streamed.shape[0] > 0
    assert torch.equal(streamed, finished)  # bit-identical
    # Only an index that comes last is asked for early; a faststart file needs nothing extra.
    assert bool(writer.tail_asked) == (layout == "moov_last")


def test_the_index_is_found_from_the_first_box_headers(layouts: dict[str, bytes]) -> None:
    last = layouts["moov_last"]
    start = moov_tail_start(last[:HEAD_BYTES], len(last))
    assert isinstance(start, int) and not isinstance(start, bool)
    assert last[start + 4:start + 8] == b"moov"
    assert moov_tail_start(layouts["moov_first"][:HEAD_BYTES], len(last)) is False
    assert moov_tail_start(last[:20], len(last)) is None  # not enough bytes yet
    assert moov_tail_start(b"\x00\x00\x00\x10notanmp4", 100) is False


def test_a_failed_download_ends_the_decode_and_frees_its_tensor(layouts: dict[str, bytes], tmp_path: Path) -> None:
    data = layouts["moov_first"]
    writer = Writer(data, tmp_path / "clip.mp4", stop_at=len(data) // 2)
    held: list[weakref.ref] = []

    def prepared(shape: tuple[int, ...]) -> torch.Tensor:
        tensor = torch.from_numpy(np.zeros(shape, dtype=np.float32))
        held.append(weakref.ref(tensor))
        return tensor

    with writer:
        pass  # half the file is written, then the writer stops
    failing = threading.Timer(0.3, writer.live.failed, args=(ConnectionResetError("reset by peer"),))
    failing.start()
    with pytest.raises(DownloadBroken, match="reset by peer"):
        decode_frames(writer.live.reader(), DecodeOptions(), None, None, prepared, whole=True)
    failing.join()
    gc.collect()
    assert held and held[0]() is None  # the half-filled tensor is gone with the error
    assert _decoder_threads() == []


@pytest.mark.parametrize("how", ["cancel", "deadline"])
def test_waiting_for_bytes_honours_cancel_and_the_deadline(layouts: dict[str, bytes], tmp_path: Path,
                                                           how: str) -> None:
    data = layouts["moov_first"]
    writer = Writer(data, tmp_path / "clip.mp4", stop_at=len(data) // 3)
    with writer:
        pass
    flag = threading.Event()
    threading.Timer(0.3, flag.set).start()
    reader = (writer.live.reader(should_stop=flag.is_set) if how == "cancel"
              else writer.live.reader(expired=flag.is_set))
    expected = (ReadStopped, DecodeStopped) if how == "cancel" else (ReadTimedOut,)
    with pytest.raises(expected):
        decode_frames(reader, DecodeOptions(), None, flag.is_set if how == "cancel" else None, whole=True)
    assert _decoder_threads() == []


def test_a_cut_short_file_is_an_error_not_fewer_frames(layouts: dict[str, bytes], tmp_path: Path) -> None:
    """A moov-first file whose media was cut short: all-or-nothing, never a partial tensor."""
    data = layouts["moov_first"]
    short = tmp_path / "short.mp4"
    short.write_bytes(data[:int(len(data) * 0.6)])
    assert decode_frames(short).shape[0] < 60  # the plain decode returns what it could read
    with pytest.raises(VideoUnreadable, match="ended after"):
        decode_frames(short, whole=True)
    writer = Writer(data[:int(len(data) * 0.6)], tmp_path / "clip.mp4")
    with writer:
        with pytest.raises(VideoUnreadable, match="ended after"):
            decode_frames(writer.live.reader(), whole=True)
