"""Record of the calls the sandbox received, for ``GET /_sandbox/log``.

Entries never contain the key: only whether an Authorization header was present and valid.
"""

from __future__ import annotations

import threading
import time
from typing import Any


class CallLog:
    def __init__(self, limit: int = 5000) -> None:
        self._entries: list[dict[str, Any]] = []
        self._limit = limit
        self._seq = 0
        self._lock = threading.Lock()

    def open(self, method: str, path: str, query: str, point: str | None) -> dict[str, Any]:
        """A new entry; handlers add fields to the returned dict while they work."""
        with self._lock:
            self._seq += 1
            entry: dict[str, Any] = {"seq": self._seq, "time": time.time(), "method": method,
                                     "path": path, "query": query, "point": point}
            self._entries.append(entry)
            if len(self._entries) > self._limit:
                del self._entries[0]
        return entry

    def entries(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(e) for e in self._entries]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
