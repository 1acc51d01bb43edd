"""In-memory file storage behind the sandbox's CDN paths (uploads and generated outputs)."""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
from dataclasses import dataclass, field

_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class StoredFile:
    path: str  # URL path under which the file is served, e.g. /files/ab12.../clip.mp4
    data: bytes
    content_type: str
    file_name: str

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass
class MultipartUpload:
    path: str
    content_type: str
    file_name: str
    parts: dict[int, bytes] = field(default_factory=dict)


def safe_file_name(name: str | None, default: str = "upload.bin") -> str:
    cleaned = _SAFE_NAME.sub("_", (name or "").strip()).strip("._")
    return cleaned[:120] or default


def etag_of(data: bytes) -> str:
    # Quoted like S3/GCS ETags; fal's client keeps the quotes verbatim.
    return '"' + hashlib.md5(data, usedforsecurity=False).hexdigest() + '"'


class FileStore:
    """Files by URL path. Kept across ``/_sandbox/reset`` so cached outputs stay valid."""

    def __init__(self) -> None:
        self._files: dict[str, StoredFile] = {}
        self._uploads: dict[str, MultipartUpload] = {}
        self._reserved: dict[str, tuple[str, str]] = {}
        self._lock = threading.Lock()

    def new_path(self, file_name: str) -> str:
        return f"/files/{secrets.token_hex(10)}/{safe_file_name(file_name)}"

    def put(self, data: bytes, content_type: str, file_name: str, path: str | None = None) -> StoredFile:
        name = safe_file_name(file_name)
        stored = StoredFile(path or self.new_path(name), data, content_type, name)
        with self._lock:
            self._files[stored.path] = stored
        return stored

    def get(self, path: str) -> StoredFile | None:
        with self._lock:
            return self._files.get(path)

    # Signed-URL uploads (REST "initiate"): the path is promised first, the bytes come later.
    def reserve(self, file_name: str, content_type: str) -> tuple[str, str]:
        """Returns (upload_id, file path)."""
        upload_id = secrets.token_hex(12)
        path = self.new_path(file_name)
        with self._lock:
            self._reserved[upload_id] = (path, content_type)
        return upload_id, path

    def fill_reserved(self, upload_id: str, data: bytes, content_type: str | None) -> StoredFile | None:
        with self._lock:
            reserved = self._reserved.pop(upload_id, None)
        if reserved is None:
            return None
        path, declared = reserved
        return self.put(data, content_type or declared, path.rsplit("/", 1)[-1], path=path)

    # Multipart uploads (CDN v3 and REST initiate-multipart).
    def start_multipart(self, file_name: str, content_type: str, path: str | None = None) -> tuple[str, str]:
        upload_id = secrets.token_hex(12)
        name = safe_file_name(file_name)
        target = path or self.new_path(name)
        with self._lock:
            self._uploads[upload_id] = MultipartUpload(target, content_type, name)
        return upload_id, target

    def add_part(self, upload_id: str, number: int, data: bytes) -> str | None:
        with self._lock:
            upload = self._uploads.get(upload_id)
            if upload is None:
                return None
            upload.parts[number] = data
        return etag_of(data)

    def complete_multipart(self, upload_id: str) -> StoredFile | None:
        with self._lock:
            upload = self._uploads.pop(upload_id, None)
        if upload is None:
            return None
        data = b"".join(upload.parts[n] for n in sorted(upload.parts))
        return self.put(data, upload.content_type, upload.file_name, path=upload.path)
