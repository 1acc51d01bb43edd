"""The pack's version: ``[project] version`` of its pyproject.toml (what the Registry publishes), read once.

Everything that reports the pack's version uses ``PACK_VERSION``: the JSON receipts, the User-Agent sent to
fal, the fleet's worker heartbeats and the line ComfyUI logs when it loads the nodes. It is read at import
(one small file); a pack without its pyproject.toml says ``unknown``. ``tomllib`` is in the standard
library from Python 3.11; on 3.10 the ``[project]`` table's ``version = "..."`` line is read directly, so
the pack needs no TOML package. This module imports nothing of the pack: every layer may use it.
"""

from __future__ import annotations

import re
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = None  # type: ignore[assignment]

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"
UNKNOWN = "unknown"

_TABLE = re.compile(r"^\s*\[\s*([^\[\]]+?)\s*\]\s*(?:#.*)?$")
_VERSION = re.compile(r"""^\s*version\s*=\s*(?:"([^"]*)"|'([^']*)')\s*(?:#.*)?$""")


def project_version_from_lines(text: str) -> str:
    """``[project] version`` read line by line (Python 3.10, no tomllib): the first ``version = "..."``
    inside the ``[project]`` table; ``unknown`` when there is none."""
    table = ""
    for line in text.splitlines():
        header = _TABLE.match(line)
        if header:
            table = header.group(1)
            continue
        match = _VERSION.match(line) if table == "project" else None
        if match:
            return match.group(1) if match.group(1) is not None else match.group(2)
    return UNKNOWN


def project_version(text: str) -> str:
    """``[project] version`` of a pyproject.toml's text; ``unknown`` when it is missing or unreadable."""
    if tomllib is None:
        return project_version_from_lines(text) or UNKNOWN
    try:
        version = tomllib.loads(text).get("project", {}).get("version")
    except tomllib.TOMLDecodeError:
        return UNKNOWN
    return version if isinstance(version, str) and version else UNKNOWN


def _read_pack_version(path: Path = PYPROJECT) -> str:
    try:
        return project_version(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return UNKNOWN


PACK_VERSION: str = _read_pack_version()
