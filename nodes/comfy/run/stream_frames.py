"""Frames decoded while the video is still downloading: done -> frames costs the slower of the two, not their sum.

The save (run/saving.py) still downloads into ``<dest>.part`` with resume, verification, the all-or-nothing rename
and the receipt as before; here it only gains a watcher of the flushed bytes (media.growing_file.GrowingFile)
when the node that started the request wants its frames. That node (outputs.take_frames.FramesAsTakesLand, one take)
then decodes from a reader over the growing file, into the same plan, memory guard and prepared buffer.

How the two sides find each other: the node sets ``_WANTS`` around its run; the follower task that downloads
is created inside that run, so it inherits the value (asyncio copies the context into new tasks). A request
followed by someone else (start-up recovery, another node with the same inputs) has no such value and is
decoded after its download, as before.

``LUMA_FAL_STREAM_DECODE=0`` turns this off (download, then decode: the path before issue 20).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

log = logging.getLogger(__name__)

STREAM_ENV = "LUMA_FAL_STREAM_DECODE"


def streaming_enabled() -> bool:
    """On unless ``LUMA_FAL_STREAM_DECODE`` is 0/false/no/off."""
    return os.environ.get(STREAM_ENV, "1").strip().lower() not in ("0", "false", "no", "off")


class StreamConsumer(Protocol):
    def stream_started(self, request_id: str, dest: Path, live: Any, deadline: Any) -> bool:
        """A video of ``request_id`` started downloading to ``dest``; ``live`` is its GrowingFile.
        True when the consumer decodes from it (the downloader then keeps ``live`` informed)."""


_WANTS: contextvars.ContextVar[StreamConsumer | None] = contextvars.ContextVar("luma_fal_stream_frames",
                                                                               default=None)


@contextmanager
def frames_stream_to(consumer: StreamConsumer | None) -> Iterator[None]:
    """Around a node's run: videos its own requests download are offered to ``consumer`` as they arrive."""
    token = _WANTS.set(consumer if streaming_enabled() else None)
    try:
        yield
    finally:
        _WANTS.reset(token)


class LiveDownload:
    """The downloading side: keeps a GrowingFile current, and fetches an MP4's index early when it comes last.

    Why the tail: FFmpeg cannot decode a frame before it has read ``moov``, which encoders usually write after
    the media. Waiting for it means waiting for the whole file, so as soon as the first box headers say where
    ``moov`` starts, its bytes are asked for with a Range request beside the main download. A server that does
    not honour Range (200 with the whole body) is closed unread and the decoder waits for the main download to
    reach the index: download-then-decode, which is correct, only not overlapped."""

    def __init__(self, runner: Any, url: str, dest: Path, deadline: Any, expected_size: int | None = None) -> None:
        from ...fal.download import part_path
        from ...media.growing_file import GrowingFile

        self.runner, self.url, self.dest, self.deadline = runner, url, dest, deadline
        self.live = GrowingFile(part_path(dest), tail_wanted=self._tail_wanted, expected_size=expected_size)
        self._tail_task: asyncio.Task[None] | None = None

    def begin(self, url: str) -> None:
        from ...fal.download import part_path

        self.url = url
        self.live.begin(part_path(self.dest))

    def on_written(self, done: int, total: int | None) -> None:
        self.live.advanced(done, total)

    def _tail_wanted(self, start: int) -> None:
        if self._tail_task is None:
            self._tail_task = asyncio.get_running_loop().create_task(self._fetch_tail(start))

    async def _fetch_tail(self, start: int) -> None:
        from ...media.growing_file import MAX_TAIL_BYTES

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


def live_download(name: str, request_id: str, runner: Any, url: str, dest: Path, deadline: Any,
                  expected_size: int | None = None) -> LiveDownload | None:
    """For saving.py: a LiveDownload of ``dest`` when the node that runs this request decodes it as it lands."""
    consumer = _WANTS.get()
    if name != "video" or consumer is None or not streaming_enabled():
        return None
    live = LiveDownload(runner, url, dest, deadline, expected_size)
    return live if consumer.stream_started(request_id, dest, live.live, deadline) else None
