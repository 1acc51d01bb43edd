"""Which bytes are already on fal's storage: a content-hash → URL map on disk, valid until the URL expires.

Uploads ask fal to keep the file for ``UPLOAD_LIFETIME_S`` (the lifecycle header fal's clients send),
so the pack knows how long a URL lives and stops reusing it with a margin to spare. Entries are keyed
by storage host too, so a URL from a test server is never offered to the real fal or the reverse.
Standard library only.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from pathlib import Path

log = logging.getLogger(__name__)

UPLOAD_LIFETIME_S = 24 * 3600
# Stop reusing a URL this long before fal deletes it: a queued request may wait before the model reads it.
REUSE_MARGIN_S = 3 * 3600
_MAX_ENTRIES = 5000


class UploadCache:
    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._entries: dict[str, dict[str, float | str]] | None = None

    def _key(self, storage_base: str, sha256: str) -> str:
        return f"{storage_base.rstrip('/')}|{sha256}"

    def _load(self) -> dict[str, dict[str, float | str]]:
        if self._entries is None:
            try:
                raw = json.loads(self.path.read_text())
                self._entries = raw if isinstance(raw, dict) else {}
            except FileNotFoundError:
                self._entries = {}
            except (OSError, ValueError):
                log.warning("upload cache %s is unreadable; starting a new one", self.path)
                self._entries = {}
        return self._entries

    def get(self, storage_base: str, sha256: str, now: float | None = None) -> str | None:
        entry = self._load().get(self._key(storage_base, sha256))
        now = time.time() if now is None else now
        if not entry or float(entry.get("reuse_until", 0)) <= now:
            return None
        return str(entry["url"])

    def put(self, storage_base: str, sha256: str, url: str, now: float | None = None) -> None:
        now = time.time() if now is None else now
        entries = self._load()
        entries[self._key(storage_base, sha256)] = {
            "url": url,
            "uploaded": now,
            "reuse_until": now + UPLOAD_LIFETIME_S - REUSE_MARGIN_S,
        }
        self._prune(now)
        self._save()

    def _prune(self, now: float) -> None:
        entries = self._load()
        for key in [k for k, v in entries.items() if float(v.get("reuse_until", 0)) <= now]:
            del entries[key]
        if len(entries) > _MAX_ENTRIES:
            oldest = sorted(entries, key=lambda k: float(entries[k].get("uploaded", 0)))
            for key in oldest[: len(entries) - _MAX_ENTRIES]:
                del entries[key]

    def _save(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".upload-cache-")
            with os.fdopen(fd, "w") as fh:
                json.dump(self._entries, fh)
            os.replace(tmp, self.path)
        except OSError:  # a cache that cannot be written only costs a re-upload next time
            log.warning("could not write upload cache %s", self.path, exc_info=True)
