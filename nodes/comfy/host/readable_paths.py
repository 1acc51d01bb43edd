"""Files a node may open from a path typed into a widget: only those inside ComfyUI's own folders.

A shared ComfyUI must not become a file reader for whoever can queue a prompt. A path is resolved
(symlinks followed, ``..`` collapsed) and accepted only when it lands on a regular, readable file
inside ComfyUI's input, output or temp folder, or a folder an administrator lists in
``LUMA_FAL_EXTRA_READ_DIRS``. Every refusal has the same text, so the answer never tells whether a
file exists outside, is unreadable, or is a directory.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from .. import host

EXTRA_READ_DIRS_ENV = "LUMA_FAL_EXTRA_READ_DIRS"


class PathRefused(ValueError):
    """A path that does not name a readable file inside the allowed folders (whatever the reason)."""


def readable_roots() -> list[Path]:
    """The folders files may be read from, resolved; the setting is read on every call. Only absolute
    entries count: a relative one would depend on the folder ComfyUI happened to start in."""
    entries = (entry.strip() for entry in os.environ.get(EXTRA_READ_DIRS_ENV, "").split(os.pathsep))
    extra = [entry for entry in entries if os.path.isabs(entry)]
    return [Path(os.path.realpath(folder)) for folder in [*host.file_folders(), *extra]]


def readable_file(input_name: str, text: str) -> Path:
    """The resolved file ``text`` names, or ``PathRefused`` with one message for every failure."""
    try:
        resolved = Path(os.path.realpath(host.annotated_path(text)))
        if not any(resolved.is_relative_to(root) for root in readable_roots()):
            raise PathRefused
        # stat, not open, first: opening a FIFO or a device could block or have effects.
        if not stat.S_ISREG(os.stat(resolved).st_mode):
            raise PathRefused
        with open(resolved, "rb") as probe:
            probe.read(1)
    except (OSError, ValueError):  # ValueError: e.g. an embedded NUL; PathRefused is one too
        raise PathRefused(
            f"{input_name}: {text!r} is not a readable file in ComfyUI's input, output or temp folder. "
            f"Give a path inside them, or a name like 'clip.mp4 [input]' or 'luma-fal/clip.mp4 [output]' "
            f"(an administrator can allow more folders with {EXTRA_READ_DIRS_ENV})."
        ) from None
    return resolved
