"""The journal in one SQLite file: WAL, a busy timeout, and a damaged file moved aside, never a crash.

WAL with ``synchronous=FULL`` makes every committed write survive the process being killed at any
instant (and a power cut); readers never block the single writer, and two ComfyUI processes sharing
the user folder take turns through the busy timeout.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from pathlib import Path
from typing import Any

from .store import SqlJournal

log = logging.getLogger(__name__)

BUSY_TIMEOUT_S = 30.0
_SIDE_FILES = ("-wal", "-shm", "-journal")


class SqliteJournal(SqlJournal):
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        super().__init__(self._connection, dialect="sqlite")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.moved_aside: Path | None = None
        try:
            self._check_and_migrate()
        except sqlite3.OperationalError:
            raise  # locked, unreadable, disk full: the file may be fine, so it is never moved aside for that
        except sqlite3.DatabaseError as exc:  # not a database, or a damaged one
            self.moved_aside = self._move_aside(exc)
            self._check_and_migrate()
        # Held open, never used: closing the LAST connection of a WAL database checkpoints it and removes the
        # WAL (several fsyncs), which every short per-call connection would otherwise pay.
        self._keeper: sqlite3.Connection | None = self._connection()
        self._keeper.execute("SELECT 1 FROM journal_meta LIMIT 1").fetchall()

    def close(self) -> None:
        if self._keeper is not None:
            self._keeper.close()
            self._keeper = None

    def _connection(self) -> sqlite3.Connection:
        conn = sqlite3.connect(str(self.path), timeout=BUSY_TIMEOUT_S, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        conn.execute("PRAGMA synchronous = FULL")
        return conn

    def _lock_migration(self, cur: Any) -> None:
        # The write lock for the whole migration (SQLite's DDL is transactional): two ComfyUIs sharing the
        # user folder that start together migrate one after the other, the second finding nothing to do.
        cur.execute("BEGIN IMMEDIATE")

    def _check_and_migrate(self) -> None:
        conn = self._connection()
        try:
            verdict = conn.execute("PRAGMA quick_check").fetchone()
            if not verdict or verdict[0] != "ok":
                raise sqlite3.DatabaseError(f"quick_check says {verdict[0] if verdict else 'nothing'}")
            conn.execute("PRAGMA journal_mode = WAL")  # persistent: stored in the file
        finally:
            conn.close()
        self.migrate()

    def _move_aside(self, exc: Exception) -> Path:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        aside = self.path.with_name(f"{self.path.name}.damaged-{stamp}")
        n = 1
        while aside.exists():
            aside = self.path.with_name(f"{self.path.name}.damaged-{stamp}-{n}")
            n += 1
        if self.path.exists():
            self.path.replace(aside)
        for suffix in _SIDE_FILES:
            side = Path(f"{self.path}{suffix}")
            if side.exists():
                side.replace(Path(f"{aside}{suffix}"))
        log.error("comfyui-luma-fal: the request journal %s was damaged (%s); moved it aside to %s and started "
                  "a fresh one. Requests recorded only in the old file are not followed again.",
                  self.path, exc, aside)
        return aside
