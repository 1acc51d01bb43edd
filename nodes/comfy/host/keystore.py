"""The fal key the user stores from ComfyUI's settings dialog: where it lives and which key source wins.

The key file sits in ComfyUI's *user* directory (next to the user's settings, outside the pack's
folder, so updating or deleting the pack never loses or ships it). Environment variables win over
the file, matching the transport's rule, so an admin-set key cannot be shadowed from a browser.
Nothing here returns the key to a caller other than the transport; routes only learn its source.
"""

from __future__ import annotations

import re
from pathlib import Path

from ...fal import config as fal_config
from ...fal.keyfile import delete_key_file, write_key_file
from . import user_directory

KeySource = fal_config.KeySource

PACK_USER_FOLDER = "comfyui-luma-fal"
KEY_FILE_NAME = "fal_key"

# fal keys are "<key id>:<secret>" (a UUID and 32 hex digits, 69 characters); the bounds are loose
# so a future key format still fits, but tight enough to refuse a pasted paragraph or an empty field.
KEY_MIN_CHARS = 16
KEY_MAX_CHARS = 512
_KEY_CHARS = re.compile(r"[\x21-\x7e]+")  # printable ASCII without the space


class KeyShapeError(ValueError):
    """The text given as a fal key cannot be one; the message never repeats the text."""


def key_file_path() -> Path:
    return user_directory() / PACK_USER_FOLDER / KEY_FILE_NAME


def key_source() -> KeySource | None:
    """"env" (FAL_KEY, or FAL_KEY_ID with FAL_KEY_SECRET), else "file" (a stored key), else None."""
    return fal_config.key_source(key_file_path())


def check_key_shape(key: object) -> str:
    """The key, stripped of surrounding whitespace, or ``KeyShapeError`` naming the broken rule."""
    if not isinstance(key, str):
        raise KeyShapeError("key: must be text")
    key = key.strip()
    if not key:
        raise KeyShapeError("key: is empty")
    if any(ch.isspace() for ch in key):
        raise KeyShapeError("key: must not contain spaces or line breaks (paste only the key)")
    if not _KEY_CHARS.fullmatch(key):
        raise KeyShapeError("key: contains characters a fal key never has")
    if not KEY_MIN_CHARS <= len(key) <= KEY_MAX_CHARS:
        raise KeyShapeError(
            f"key: must be {KEY_MIN_CHARS} to {KEY_MAX_CHARS} characters long, got {len(key)} "
            "(a fal key looks like <key id>:<secret>)"
        )
    return key


def store_key(key: object) -> None:
    """Validate and write the key file (atomically, mode 0600)."""
    write_key_file(key_file_path(), check_key_shape(key))


def remove_key() -> None:
    delete_key_file(key_file_path())
