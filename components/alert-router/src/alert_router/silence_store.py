"""The router's silences on disk: their own SQLite file, `alert-router-silences.sqlite`, under {work:path}.

One row per silence, written when it is created and deleted when it is expired or pruned; the
`SilenceBook` (silences.py) calls `save`/`delete`, `wiring.silence_book` loads them at start.
Silences are rare and small, so every write is one transaction on its own.

Faults, and what the store does about them:
- A corrupt file is moved aside at open (`QueueFile`: `*.corrupt-<ts>`) and a fresh one used; one
  found corrupt later is handled the same way. The silences in force still apply in memory; the
  ones lost with the file are not kept across the next restart.
- A write the disk refuses is counted and logged: the silence applies until the router restarts.
- Versions before this file kept silences in the outbox file's `silences` table: at the first open
  they are moved here, once (`legacy`).
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from edgewatch_shared.sqlite_queue import QueueFile, retry_after_corruption, write_transaction

logger = logging.getLogger(__name__)

T = TypeVar("T")

SILENCES_FILE = "alert-router-silences.sqlite"
SCHEMA = "CREATE TABLE IF NOT EXISTS silences (id TEXT PRIMARY KEY, doc TEXT NOT NULL, ends_at REAL NOT NULL);"
REOPEN_SECONDS = 30.0


@dataclass
class SilenceStoreStats:
    write_errors: int = 0
    corruption_recoveries: int = 0
    migrated: int = 0  # silences moved over from the outbox file of an older version


class SilenceStore:
    """Thread-safe (the router loop writes, start-up reads)."""

    def __init__(self, path: Path, *, legacy: Path | None = None, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self.stats = SilenceStoreStats()
        self.quarantined_to: Path | None = None
        self._lock = threading.Lock()
        self._file = QueueFile(path, SCHEMA, synchronous="NORMAL", retry_seconds=REOPEN_SECONDS, clock=clock,
                               now=clock)  # fmt: skip
        self._db: sqlite3.Connection | None = None
        with self._lock:
            self._connect()
            if legacy is not None and self._db is not None:
                self._migrate_from(legacy)

    def _connect(self) -> None:
        opening = self._file.open()
        if opening is None:
            if self._file.error:
                logger.error("silence store %s cannot be opened (%s); silences apply until a restart",
                             self.path, self._file.error)  # fmt: skip
            return
        self._db = opening.db
        with contextlib.suppress(OSError):  # authors and comments are nobody else's business
            self.path.chmod(0o600)
        if opening.quarantined_to is not None:
            self._quarantined(opening.quarantined_to, opening.reason)

    def _quarantined(self, moved: Path, reason: str) -> None:
        self.quarantined_to = moved
        self.stats.corruption_recoveries += 1
        logger.error("silence store %s was corrupt (%s); kept as %s, continuing with an empty store", self.path,
                     reason, moved)  # fmt: skip

    def _migrate_from(self, legacy: Path) -> None:
        """Move the silences an older version kept in the outbox file (`legacy`) into this store."""
        if not legacy.exists():
            return
        assert self._db is not None
        try:
            old = sqlite3.connect(f"file:{legacy}?mode=rw", uri=True, isolation_level=None, timeout=5.0)
        except sqlite3.Error:
            return  # unreadable: the outbox quarantines it when it opens it
        try:
            if not old.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'silences'").fetchone():
                return
            rows = old.execute("SELECT id, doc, ends_at FROM silences").fetchall()
            if not rows:
                return
            with write_transaction(self._db) as db:
                db.executemany("INSERT OR IGNORE INTO silences VALUES (?, ?, ?)", rows)
            with write_transaction(old):
                old.execute("DELETE FROM silences")
            self.stats.migrated = len(rows)
            logger.info("moved %d stored silence(s) from %s to %s", len(rows), legacy.name, self.path.name)
        except sqlite3.Error as err:  # kept where they are; the next start tries again
            logger.warning("could not move the stored silences out of %s (%s)", legacy.name, err)
        finally:
            old.close()

    def _guarded(self, action: Callable[[sqlite3.Connection], T]) -> T:
        """Under the lock: corruption moves the file aside and the action is tried once on a fresh one."""
        if self._db is None and self._file.due():
            self._connect()
        return retry_after_corruption(lambda: self._db, action, self._recover,
                                      lambda: f"silence store unavailable: {self._file.error}")  # fmt: skip

    def _recover(self, err: sqlite3.DatabaseError) -> None:
        db, self._db = self._db, None
        self._quarantined(self._file.quarantine(db), str(err))
        self._connect()

    def load(self) -> list[str]:
        """The stored silence documents (JSON text), unchecked: the caller parses and prunes them."""
        with self._lock:
            try:
                rows = self._guarded(lambda db: db.execute("SELECT doc FROM silences ORDER BY rowid").fetchall())
            except sqlite3.Error as err:
                logger.error("stored silences unreadable (%s); starting without them", err)
                return []
        return [doc for (doc,) in rows]

    def save(self, silence_id: str, doc: str, ends_at: float) -> None:
        self._write("INSERT OR REPLACE INTO silences VALUES (?, ?, ?)", (silence_id, doc, ends_at))

    def delete(self, silence_id: str) -> None:
        self._write("DELETE FROM silences WHERE id = ?", (silence_id,))

    def _write(self, sql: str, args: tuple[Any, ...]) -> None:
        def write(db: sqlite3.Connection) -> None:
            with write_transaction(db):
                db.execute(sql, args)

        with self._lock:
            try:
                self._guarded(write)
            except sqlite3.Error as err:  # the silence still applies in memory; it is not kept across a restart
                self.stats.write_errors += 1
                logger.error("silence not stored (%s); it applies until the router restarts", err)

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
            self._file.never_again()
