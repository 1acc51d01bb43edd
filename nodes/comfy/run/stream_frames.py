"""Frames decoded while the video is still downloading: done -> frames costs the slower of the two, not their sum.

The save (run/saving.py) downloads into ``<dest>.part`` with resume, verification, the all-or-nothing rename
and the receipt; here it gains a watcher of the flushed bytes (media.growing_file.GrowingFile) when the node
that started the request wants its frames. That node (outputs.take_frames.FramesAsTakesLand, one take) then
decodes from a reader over the growing file, into the same plan, memory guard and prepared buffer.

How the two sides find each other: the node's hooks travel down with its request (``RunSpec.hooks``) into the
follower's ``FollowerRun.frames_to``. A request followed on someone else's behalf (start-up recovery, another
worker's request) has none and is decoded after its download.

``LUMA_FAL_STREAM_DECODE=0`` turns this off (download, then decode).
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

from ...fal.deadline import Deadline
from ...fal.download import part_path
from ...fal.runner import FalRunner
from ...media.growing_file import MAX_TAIL_BYTES, GrowingFile
from .fetching import FollowerRun

log = logging.getLogger(__name__)

STREAM_ENV = "LUMA_FAL_STREAM_DECODE"


def streaming_enabled() -> bool:
    """On unless ``LUMA_FAL_STREAM_DECODE`` is 0/false/no/off."""
    return os.environ.get(STREAM_ENV, "1").strip().lower() not in ("0", "false", "no", "off")


class LiveDownload:
    """The downloading side: keeps a GrowingFile current, and fetches an MP4's index early when it comes last.

    Why the tail: FFmpeg cannot decode a frame before it has read ``moov``, which encoders usually write after
    the media. Waiting for it means waiting for the whole file, so as soon as the first box headers say where
    ``moov`` starts, its bytes are asked for with a Range request beside the main download. A server that does
    not honour Range (200 with the whole body) is closed unread and the decoder waits for the main download to
    reach the index: download-then-decode, which is correct, only not overlapped."""

    def __init__(self, runner: FalRunner, url: str, dest: Path, deadline: Deadline | None,
                 expected_size: int | None = None) -> None:
        self.runner, self.url, self.dest, self.deadline = runner, url, dest, deadline
        self.live = GrowingFile(part_path(dest), tail_wanted=self._tail_wanted, expected_size=expected_size)
        self._tail_task: asyncio.Task[None] | None = None

    def begin(self, url: str) -> None:
        self.url = url
        self.live.begin(part_path(self.dest))

    def on_written(self, done: int, total: int | None) -> None:
        self.live.advanced(done, total)

    def _tail_wanted(self, start: int) -> None:
        if self._tail_task is None:
            self._tail_task = asyncio.get_running_loop().create_task(self._fetch_tail(start))

    async def _fetch_tail(self, start: int) -> None:
        try:
            tail = await self.runner.fetch_tail(self.url, start, self.live.total, limit=MAX_TAIL_BYTES,
                                                deadline=self.deadline)
        except Exception:  # only an early start is lost: the decoder waits for the main download instead
            log.debug("luma-fal: tail of %s not fetched", self.dest.name, exc_info=True)
            return
        if tail is None:
            log.info("luma-fal: the server did not honour a Range request for %s's index; its frames are decoded "
                     "as the download reaches it", self.dest.name)
            return
        self.live.provide_tail(start, tail)

    def finished(self) -> None:
        self._stop_tail()
        self.live.finished(self.dest)

    def failed(self, error: BaseException) -> None:
        self._stop_tail()
        self.live.failed(error)

    def _stop_tail(self) -> None:
        if self._tail_task is not None and not self._tail_task.done():
            self._tail_task.cancel()


def live_download(run: FollowerRun, name: str, request_id: str, url: str, dest: Path,
                  expected_size: int | None = None) -> LiveDownload | None:
    """For saving.py: a LiveDownload of ``dest`` when the node that runs this request decodes it as it lands."""
    consumer = run.frames_to
    if name != "video" or consumer is None or not streaming_enabled():
        return None
    live = LiveDownload(run.runner, url, dest, run.deadline, expected_size)
    return live if consumer.stream_started(request_id, dest, live.live, run.deadline) else None
