"""Frame tensors put in memory ahead of their decode, while there is nothing else to do (fal generating).

Touching fresh memory is not free: the kernel has to fault every page in, and on virtual machines that
hand freed memory back to their host (this project's CI VM, many cloud hosts) that costs about 2-3 s per
GB, more than decoding the frames. A node waiting for fal has seconds to minutes idle, so it can fault the
tensors its decodes will fill in then. Buffers are handed out by exact shape; a video of another shape
drops them all and decodes into a fresh tensor.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import torch

_PAGE_FLOATS = 1024  # float32 values per 4 KiB page: writing one faults the page in
_CHUNK_FLOATS = 16 << 20  # 64 MiB between checks of the stop flag


class PreparedFrames:
    """``count`` float32 buffers of ``shape`` (frames, height, width, 3), faulted in by a background thread.

    ``take(shape)`` hands out the next buffer once it is fully in memory (None if all were taken or ``close``
    came first); callers then own it. A shape that differs drops every buffer (the guess was wrong) and gets
    None. ``close`` stops the thread and drops what is left.
    """

    def __init__(self, shape: tuple[int, ...], count: int) -> None:
        self.shape = tuple(shape)
        self.count = count
        self._buffers: list[np.ndarray | None] = [None] * count
        self._ready = [threading.Event() for _ in range(count)]
        self._next = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._fault_in, name="luma-fal-prepare-frames", daemon=True)
        self._thread.start()

    def _fault_in(self) -> None:
        # Lazy: numpy is loaded with torch, only when a tensor is made.
        import numpy as np

        try:
            for index in range(self.count):
                buffer = np.empty(self.shape, dtype=np.float32)
                flat = buffer.reshape(-1)
                for start in range(0, flat.size, _CHUNK_FLOATS):
                    if self._stop.is_set():
                        return
                    flat[start:start + _CHUNK_FLOATS:_PAGE_FLOATS] = 0.0
                with self._lock:
                    if self._stop.is_set():
                        return
                    self._buffers[index] = buffer
                self._ready[index].set()
        finally:
            for event in self._ready:  # wake any taker: its buffer will not come
                event.set()

    def take(self, shape: tuple[int, ...]) -> torch.Tensor | None:
        # Lazy: torch takes seconds to import: only when a tensor is made.
        import torch

        if tuple(shape) != self.shape:
            # The guess was wrong, so it is wrong for every buffer here: give their memory back before the
            # caller allocates the right shape, never holding both.
            self.close()
            return None
        with self._lock:
            if self._next >= self.count or self._stop.is_set():
                return None
            index = self._next
            self._next += 1
        self._ready[index].wait()
        with self._lock:
            buffer, self._buffers[index] = self._buffers[index], None
        return None if buffer is None else torch.from_numpy(buffer)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        with self._lock:
            self._buffers = [None] * self.count
