"""Where the journal lives and how long it keeps finished entries (environment settings).

* ``LUMA_FAL_JOURNAL_URL``: ``sqlite:///absolute/path.sqlite3`` (the default is
  ``<ComfyUI user folder>/comfyui-luma-fal/journal.sqlite3``), or ``postgresql://user@host:port/db``: one
  journal shared by a fleet of workers (``postgres.py``; needs the ``psycopg`` driver, the pack's
  ``postgres`` extra). The password comes from the URL, ``PGPASSWORD`` or ``~/.pgpass`` and is never logged.
* ``LUMA_FAL_JOURNAL_DAYS``: finished entries older than this many days are pruned at start (default 30).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlparse

from .postgres import JournalUnavailable, PostgresJournal, redact
from .sqlite import SqliteJournal
from .store import JournalStore

log = logging.getLogger(__name__)

URL_ENV = "LUMA_FAL_JOURNAL_URL"
DAYS_ENV = "LUMA_FAL_JOURNAL_DAYS"
DEFAULT_DAYS = 30.0
FILE_NAME = "journal.sqlite3"


class JournalSettingInvalid(ValueError):
    """LUMA_FAL_JOURNAL_URL or LUMA_FAL_JOURNAL_DAYS cannot be used; the message names the variable."""


def positive_number(name: str, default: float, unit: str, environ: Mapping[str, str] | None = None,
                    error: type[ValueError] = ValueError) -> float:
    """The environment variable ``name`` as a number of ``unit`` above 0 (``default`` when unset); a bad value
    raises ``error`` naming the variable."""
    raw = (environ if environ is not None else os.environ).get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise error(f"{name}={raw!r} is not a number of {unit}") from None
    if value <= 0:
        raise error(f"{name}={raw!r} must be more than 0 {unit}")
    return value


def retention_days(environ: Mapping[str, str] | None = None) -> float:
    return positive_number(DAYS_ENV, DEFAULT_DAYS, "days", environ, JournalSettingInvalid)


def journal_url(default_folder: Path, environ: dict[str, str] | None = None) -> str:
    raw = (environ if environ is not None else os.environ).get(URL_ENV, "").strip()
    return raw or f"sqlite:///{(default_folder / FILE_NAME).resolve()}"


def open_journal(url: str, *, prune_days: float | None = None) -> JournalStore:
    """The store behind ``url``, migrated; finished entries older than ``prune_days`` are removed."""
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        path = url[len("sqlite://"):]
        if not path or path == "/":
            raise JournalSettingInvalid(f"{URL_ENV}={url!r} names no file (write sqlite:////abs/path.sqlite3)")
        store: JournalStore = SqliteJournal(path)
    elif parsed.scheme in ("postgresql", "postgres"):
        store = _postgres(url)
    else:
        raise JournalSettingInvalid(f"{URL_ENV}={url!r}: expected sqlite:///path")
    if prune_days is not None:
        removed = store.prune(prune_days * 86400.0)
        if removed:
            log.info("comfyui-luma-fal: pruned %d finished journal entries older than %g days", removed, prune_days)
    return store


def _postgres(url: str) -> JournalStore:
    try:
        # Lazy: psycopg is the optional postgres extra, looked for only when a PostgreSQL URL asks for it.
        import psycopg  # noqa: F401
    except ImportError:
        raise JournalSettingInvalid(
            f"{URL_ENV}={redact(url)} asks for the shared PostgreSQL journal, but its driver is not installed in "
            "this Python: pip install \"psycopg[binary]\" (or the pack's extra: comfyui-luma-fal[postgres]), "
            "then restart ComfyUI; or unset it to use the SQLite file in the ComfyUI user folder") from None
    try:
        return PostgresJournal(url)
    except JournalUnavailable as exc:
        raise JournalSettingInvalid(f"{URL_ENV}: {exc}") from None
    except Exception as exc:  # a malformed URL, a refused login: named without the password
        text = str(exc).replace(url, redact(url)).strip().splitlines()
        raise JournalSettingInvalid(f"{URL_ENV}={redact(url)}: {text[0] if text else type(exc).__name__}") from None
