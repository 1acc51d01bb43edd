"""A file that is still being downloaded, read by a decoder as its bytes land.

The download writes ``<dest>.part`` (resume, verification, all-or-nothing rename) and
reports, after each flushed chunk, how many bytes from the start are on disk. A
``GrowingReader`` is a plain binary file object (read / seek / tell) over those bytes for PyAV: a read
past what has landed waits for it, so FFmpeg decodes while the rest still arrives. The reader reads
through its own descriptor, which stays valid across the rename to ``dest`` (same inode on POSIX).

Waiting is bounded by the caller's Cancel (``should_stop``) and its deadline (``expired``), and a failed
download wakes every reader with that failure: a decode never waits for bytes that will not come.

MP4s written by encoders usually have their index (``moov``) after the media (``mdat``). FFmpeg needs the
index before the first frame, so a plain reader would wait for the whole file. ``tail_wanted(offset)``
is told where the index starts as soon as the first box headers have landed; whoever downloads can then
fetch those last bytes separately (an HTTP Range request) and hand them over with ``provide_tail``.
Without that (no Range on the server), reads at the end simply wait for the download to get there:
download-then-decode, still correct.
"""

from __future__ import annotations

import io
import os
import struct
import threading
from collections.abc import Callable
from pathlib import Path

POLL_SECONDS = 0.1  # how often a waiting read checks Cancel and the deadline
HEAD_BYTES = 64 * 1024  # enough for ftyp and the next box's header in every MP4 we have seen
MAX_TAIL_BYTES = 32 << 20  # an index bigger than this is not worth a second transfer: wait instead


class ReadStopped(Exception):
    """Cancel was pressed while the decoder waited for bytes."""


class ReadTimedOut(Exception):
    """The deadline passed while the decoder waited for bytes."""


class DownloadBroken(Exception):
    """The download the decoder was reading failed; ``__cause__`` says why."""


def moov_tail_start(head: bytes, total: int | None) -> int | None | bool:
    """Where an MP4's index starts if it comes after the media: an offset, False when no tail is needed
    (``moov`` comes first, or this is no MP4), None when ``head`` is too short to tell yet."""
    offset = 0
    while True:
        if offset + 8 > len(head):
            return None
        size, kind = struct.unpack(">I4s", head[offset:offset + 8])
        if size == 1:
            if offset + 16 > len(head):
                return None
            size = struct.unpack(">Q", head[offset + 8:offset + 16])[0]
        if kind == b"moov":
            return False
        if size == 0 or (offset == 0 and kind != b"ftyp") or size < 8:
            return False  # box runs to the end, or not an MP4 we understand: nothing to fetch early
        end = offset + size
        if end > len(head):
            if kind != b"mdat":
                return None  # a header box not wholly here yet
            # The media reaches past what we have: the index, if any, is after it.
            if total is None or end >= total or total - end > MAX_TAIL_BYTES:
                return False
            return end
        offset = end


class GrowingFile:
    """What a download has put on disk so far; written by the downloading side, read by ``GrowingReader``s.

    ``advanced(done, total)`` after each flushed chunk (``done`` going down means the download started over
    in the same file: a server that ignored Range); ``begin(path)`` before a transfer into a fresh .part
    file; ``finished(path)`` once renamed to ``path``; ``failed(error)`` when it will not complete."""

    def __init__(self, part: Path, tail_wanted: Callable[[int], None] | None = None,
                 expected_size: int | None = None) -> None:
        self._cond = threading.Condition()
        self.part = Path(part)
        self.final: Path | None = None
        self.generation = 0
        self.written = 0
        # The file's size as FFmpeg is told it (it asks at open): fal's file_size when given, which a body
        # cut short with an honest Content-Length cannot shrink; else what the server announced.
        self._expected = expected_size
        self.total: int | None = expected_size
        self.error: BaseException | None = None
        self._tail: tuple[int, bytes] | None = None
        self._tail_wanted = tail_wanted
        self._tail_decided = tail_wanted is None

    # -- the downloading side ----------------------------------------------------------------------

    def begin(self, part: Path) -> None:
        with self._cond:
            self.part, self.generation, self.written = Path(part), self.generation + 1, 0
            self._cond.notify_all()

    def advanced(self, done: int, total: int | None) -> None:
        with self._cond:
            self.written = done
            if total is not None and self._expected is None:
                self.total = total
            self._cond.notify_all()
        if not self._tail_decided and (done >= HEAD_BYTES or (total is not None and done >= total)):
            self._decide_tail()

    def _decide_tail(self) -> None:
        try:
            with open(self.part, "rb") as head_file:
                head = head_file.read(min(self.written, HEAD_BYTES))
        except OSError:
            return
        start = moov_tail_start(head, self.total)
        if start is None and len(head) < HEAD_BYTES:
            return  # not enough yet: asked again on the next chunk
        self._tail_decided = True
        if isinstance(start, int) and not isinstance(start, bool) and start > self.written and self._tail_wanted:
            self._tail_wanted(start)

    def provide_tail(self, offset: int, data: bytes) -> None:
        """The file's bytes from ``offset`` to its end, fetched separately (served to readers before they land)."""
        with self._cond:
            if self.total is None or offset + len(data) == self.total:
                self._tail = (offset, bytes(data))
                self._cond.notify_all()

    def finished(self, path: Path) -> None:
        with self._cond:
            self.final = Path(path)
            self.total = self.written if self.total is None else self.total
            self._cond.notify_all()

    def failed(self, error: BaseException) -> None:
        with self._cond:
            self.error = error
            self._cond.notify_all()

    # -- the reading side --------------------------------------------------------------------------

    def reader(self, should_stop: Callable[[], bool] | None = None,
               expired: Callable[[], bool] | None = None) -> GrowingReader:
        return GrowingReader(self, should_stop, expired)


class GrowingReader(io.RawIOBase):
    """A seekable binary file over a ``GrowingFile``: reads wait for bytes that have not landed yet."""

    def __init__(self, source: GrowingFile, should_stop: Callable[[], bool] | None,
                 expired: Callable[[], bool] | None) -> None:
        super().__init__()
        self._src = source
        self._should_stop = should_stop
        self._expired = expired
        self._pos = 0
        self._fd: int | None = None
        self._fd_generation = -1
        self.name = source.part.name[:-len(".part")] if source.part.name.endswith(".part") else source.part.name

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            self._pos = offset
        elif whence == io.SEEK_CUR:
            self._pos += offset
        elif whence == io.SEEK_END:
            self._pos = self._wait(lambda s: s.total is not None or s.final is not None)[1] + offset
        else:
            raise OSError(f"unsupported whence {whence}")
        return self._pos

    def read(self, size: int = -1) -> bytes:
        src = self._src
        if size is None or size < 0:
            size = 1 << 30
        with src._cond:
            tail = src._tail
        if tail is not None and tail[0] <= self._pos < tail[0] + len(tail[1]) and src.written <= self._pos:
            chunk = tail[1][self._pos - tail[0]:self._pos - tail[0] + size]
            self._pos += len(chunk)
            return chunk
        # Wait until the byte at pos has landed, or the download is complete (then a read past the end is EOF).
        written, total = self._wait(lambda s: s.written > self._pos or s.final is not None
                                    or (s._tail is not None and s._tail[0] <= self._pos < s._tail[0] + len(s._tail[1])))
        with src._cond:
            tail = src._tail
        if written <= self._pos and tail is not None and tail[0] <= self._pos < tail[0] + len(tail[1]):
            return self.read(size)
        available = max(0, written - self._pos)
        if available == 0:
            return b""
        data = os.pread(self._descriptor(), min(size, available), self._pos)
        self._pos += len(data)
        return data

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def, override]
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def _wait(self, ready: Callable[[GrowingFile], bool]) -> tuple[int, int]:
        src = self._src
        with src._cond:
            while True:
                if src.error is not None:
                    raise DownloadBroken(f"the download failed: {src.error}") from src.error
                if ready(src):
                    written = src.written
                    total = src.total if src.total is not None else written
                    return written, total
                if self._should_stop is not None and self._should_stop():
                    raise ReadStopped("stopped while waiting for the video's bytes")
                if self._expired is not None and self._expired():
                    raise ReadTimedOut("the time limit passed while waiting for the video's bytes")
                src._cond.wait(POLL_SECONDS)

    def _descriptor(self) -> int:
        src = self._src
        with src._cond:
            generation, part, final = src.generation, src.part, src.final
        if self._fd is None or generation != self._fd_generation:
            self._close_fd()
            try:
                self._fd = os.open(part, os.O_RDONLY)
            except FileNotFoundError:
                if final is None:
                    raise
                self._fd = os.open(final, os.O_RDONLY)  # renamed before we first opened it
            self._fd_generation = generation
        return self._fd

    def _close_fd(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def close(self) -> None:
        self._close_fd()
        super().close()
