"""The stored fal key file: one line holding the key, readable by its owner only.

This is the only place the key may be written to disk. Writes are atomic (temp file + rename) so a
crash never leaves a half-written key behind, and the temp file is created with mode 0600 by mkstemp,
so the key is never readable by others even for a moment.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def read_key_file(path: str | os.PathLike[str]) -> str | None:
    """The key stored at ``path``, or None when the file is missing or empty."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    key = text.strip()
    return key or None


def write_key_file(path: str | os.PathLike[str], key: str) -> None:
    """Store ``key`` at ``path`` atomically with permissions 0600."""
    key = key.strip()
    if not key:
        raise ValueError("the fal key is empty")
    if "\n" in key or "\r" in key:
        raise ValueError("the fal key must be a single line")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".falkey-", dir=target.parent)
    try:
        # mkstemp already creates the file 0600; no window where others could read it.
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(key + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def delete_key_file(path: str | os.PathLike[str]) -> bool:
    """Remove the stored key; True when a file was removed."""
    try:
        Path(path).unlink()
    except FileNotFoundError:
        return False
    return True
