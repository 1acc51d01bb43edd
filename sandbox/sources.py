"""Fetching model input files: the sandbox has no network, so only data: URIs and its own files work."""

from __future__ import annotations

import base64
import binascii
from urllib.parse import unquote, urlsplit

from .store import FileStore

# fal's CDN host names; URLs on these (or on any name the sandbox was called by) are looked up locally.
FAL_CDN_HOSTS = frozenset({"v3.fal.media", "v3b.fal.media", "fal.media", "v2.fal.media"})


class SourceUnavailable(Exception):
    """A model input file that cannot be read; ``field`` names the input."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class SourceFetcher:
    def __init__(self, store: FileStore, own_hosts: set[str]) -> None:
        self._store = store
        self._own_hosts = own_hosts  # grows as requests arrive under new Host names

    def fetch(self, field: str, url: object) -> bytes:
        if not isinstance(url, str) or not url:
            raise SourceUnavailable(field, f"{field}: expected a file URL or data: URI")
        if url.startswith("data:"):
            return _decode_data_uri(field, url)
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise SourceUnavailable(field, f"{field}: unsupported URL scheme {parts.scheme!r}")
        if parts.netloc not in self._own_hosts and (parts.hostname or "") not in FAL_CDN_HOSTS:
            raise SourceUnavailable(
                field, f"{field}: the sandbox has no network access and cannot fetch {parts.netloc}; "
                       "upload the file to the sandbox's storage or pass a data: URI")
        stored = self._store.get(unquote(parts.path))
        if stored is None:
            raise SourceUnavailable(field, f"{field}: no such file in the sandbox's storage: {parts.path}")
        return stored.data


def _decode_data_uri(field: str, uri: str) -> bytes:
    header, sep, payload = uri.partition(",")
    if not sep:
        raise SourceUnavailable(field, f"{field}: malformed data: URI (no comma)")
    try:
        if header.endswith(";base64"):
            return base64.b64decode(payload, validate=True)
        return unquote(payload).encode("latin-1")
    except (binascii.Error, ValueError, UnicodeEncodeError) as exc:
        raise SourceUnavailable(field, f"{field}: data: URI does not decode ({exc})") from exc
