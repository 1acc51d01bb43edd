"""Frames decoded while the result downloads from the sandbox over HTTP, with the CDN's faults mid-body.

The download is the transport's (resume, verification, all-or-nothing rename); the decode reads the growing
.part file (media.growing_file) through the save's LiveDownload, which also fetches a trailing MP4 index with
a Range request. Each outcome: the finished file's exact frames, or an error with no partial file, no decoder
thread left and the frame tensor released.
"""

from __future__ import annotations

import asyncio
import gc
import threading
import weakref
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from nodes.comfy.run.stream_frames import LiveDownload
from nodes.fal.deadline import Deadline
from nodes.fal.errors import RequestCancelled, RunTimeout
from nodes.fal.runner import FalRunner
from nodes.media.growing_file import DownloadBroken, ReadStopped, ReadTimedOut
from nodes.media.video_decode import DecodeStopped, decode_frames
from nodes.media.video_plan import DecodeOptions
from tests.fal.support import calls

T2V = "luma/agent/ray/v3.2/text-to-video"


def _video(fal_env: Any, runner: FalRunner, layout: str = "moov_last") -> dict:
    # 4 Mbit/s: a 2.5 MB file, several download chunks (a resume keeps whole chunks), its index past the first.
    fal_env.configure(queue_seconds=0.0, run_seconds=0.05, mp4_layout=layout, video_bitrate=4e6)
    return asyncio.run(runner.run(T2V, {"prompt": "a boat", "resolution": "540p"})).result["video"]


class Outcome:
    def __init__(self) -> None:
        self.frames: torch.Tensor | None = None
        self.download_error: BaseException | None = None
        self.decode_error: BaseException | None = None
        self.tensors: list[weakref.ref] = []


def _streamed(runner: FalRunner, video: dict, dest: Path, *, stop: threading.Event | None = None,
              deadline: Deadline | None = None, options: DecodeOptions = DecodeOptions()) -> Outcome:
    """Download ``video`` to ``dest`` and decode it as it lands, as a one-take node does."""
    outcome = Outcome()
    should_stop = stop.is_set if stop is not None else None
    expired = deadline.expired if deadline is not None else None

    def prepared(shape: tuple[int, ...]) -> torch.Tensor:
        tensor = torch.from_numpy(np.zeros(shape, dtype=np.float32))
        outcome.tensors.append(weakref.ref(tensor))
        return tensor

    async def go() -> None:
        live = LiveDownload(runner, video["url"], dest, deadline, video.get("file_size"))
        reader = live.live.reader(should_stop, expired)
        decode = asyncio.ensure_future(asyncio.to_thread(decode_frames, reader, options, None, should_stop,
                                                         prepared, whole=True))
        try:
            await runner.download(video["url"], dest, expected_size=video.get("file_size"),
                                  on_written=live.on_written, should_stop=should_stop, deadline=deadline)
        except BaseException as exc:
            outcome.download_error = exc
            live.failed(exc)
        else:
            live.finished()
        try:
            outcome.frames = await decode
        except BaseException as exc:
            outcome.decode_error = exc
        finally:
            reader.close()

    asyncio.run(go())
    gc.collect()
    return outcome


def _decoder_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("luma-fal-video")]


def _whole(outcome: Outcome, dest: Path, options: DecodeOptions = DecodeOptions()) -> None:
    assert outcome.download_error is None and outcome.decode_error is None, (outcome.download_error,
                                                                             outcome.decode_error)
    assert outcome.frames is not None and torch.equal(outcome.frames, decode_frames(dest, options))
    assert not dest.with_name(dest.name + ".part").exists()
    assert _decoder_threads() == []


def _failed_cleanly(outcome: Outcome, dest: Path) -> None:
    assert outcome.frames is None and outcome.decode_error is not None
    assert not dest.exists() and not dest.with_name(dest.name + ".part").exists()
    assert _decoder_threads() == []
    assert all(ref() is None for ref in outcome.tensors)  # no half-filled tensor is kept anywhere


@pytest.mark.parametrize("layout", ["moov_last", "moov_first"])
def test_streamed_frames_equal_the_saved_file(fal_env: Any, runner: FalRunner, tmp_path: Path, layout: str) -> None:
    video = _video(fal_env, runner, layout)
    dest = tmp_path / "clip.mp4"
    options = DecodeOptions(every_nth=2, frame_cap=40, height=270)
    _whole(_streamed(runner, video, dest, options=options), dest, options)
    ranges = [c for c in calls(fal_env, "download") if c.get("status") == 206]
    # An index at the end is fetched with one Range request beside the download; a faststart file needs none.
    assert len(ranges) == (1 if layout == "moov_last" else 0)


@pytest.mark.parametrize("fault", [
    {"point": "download", "kind": "drop", "fraction": 0.6},
    {"point": "download", "kind": "truncated", "mode": "drop", "fraction": 0.6},
    {"point": "download", "kind": "truncated", "mode": "short", "fraction": 0.5},
], ids=["reset-mid-body", "truncated-then-dropped", "truncated-honest-length"])
def test_a_body_cut_mid_stream_is_resumed_and_decoded_whole(fal_env: Any, runner: FalRunner, tmp_path: Path,
                                                            fault: dict) -> None:
    video = _video(fal_env, runner)
    fal_env.inject({**fault, "path_contains": video["url"].rsplit("/", 2)[-2]})
    dest = tmp_path / "clip.mp4"
    _whole(_streamed(runner, video, dest), dest)
    downloads = calls(fal_env, "download")
    assert any(c.get("fault") for c in downloads)
    assert any(c.get("status") == 206 for c in downloads[1:])  # resumed with Range


def test_a_server_ignoring_range_still_gives_the_whole_video(fal_env: Any, runner: FalRunner, tmp_path: Path) -> None:
    """The early index request gets 200 (closed unread), and a reset mid-body must start over from byte 0:
    the decoder reads what the download rewrites, and the frames are still the saved file's."""
    video = _video(fal_env, runner)
    fal_env.inject({"point": "download", "kind": "drop", "fraction": 0.6},
                   {"point": "download", "kind": "ignore_range", "times": 5})
    dest = tmp_path / "clip.mp4"
    _whole(_streamed(runner, video, dest), dest)
    downloads = calls(fal_env, "download")
    assert [c.get("fault") for c in downloads].count("ignore_range") >= 2  # the tail and the resume
    assert not any(c.get("status") == 206 for c in downloads)


def test_cancel_mid_stream_leaves_nothing(fal_env: Any, runner: FalRunner, tmp_path: Path) -> None:
    video = _video(fal_env, runner, "moov_first")
    fal_env.configure(download_bytes_per_second=video["file_size"] / 4)  # about 4 s for the whole file
    stop = threading.Event()
    threading.Timer(1.0, stop.set).start()
    dest = tmp_path / "clip.mp4"
    outcome = _streamed(runner, video, dest, stop=stop)
    assert isinstance(outcome.download_error, RequestCancelled)
    assert isinstance(outcome.decode_error, (ReadStopped, DecodeStopped, DownloadBroken))
    _failed_cleanly(outcome, dest)


def test_the_deadline_mid_stream_leaves_nothing(fal_env: Any, runner: FalRunner, tmp_path: Path) -> None:
    video = _video(fal_env, runner, "moov_first")
    fal_env.configure(download_bytes_per_second=video["file_size"] / 4)
    dest = tmp_path / "clip.mp4"
    outcome = _streamed(runner, video, dest, deadline=Deadline(1.0))
    assert isinstance(outcome.download_error, RunTimeout)
    assert isinstance(outcome.decode_error, (ReadTimedOut, DownloadBroken))
    _failed_cleanly(outcome, dest)
