"""The on-disk outbox of IoT Core payloads: SQLite under the component's work folder.

Every payload is written here before it is published and deleted once IoT Core acknowledged it,
so nothing is lost between "decided to send" and "sent", whether the link is down, IPC is gone or
the process is killed. WAL with synchronous=FULL makes each committed append durable across
`kill -9` and power loss; writes are rare (one per publish interval), so the fsync cost is small.

The buffer is bounded by payload bytes: appending past the bound drops the oldest payloads and
says how many (the caller counts them in its health report as `dropped_batches`).

The file is opened defensively (`open_checked_database`): a corrupt one (random header, truncation,
damaged pages, zero bytes) is moved aside as `metrics-buffer.sqlite.corrupt-<ts>` and the buffer
starts empty. Corruption found later, by a read or write, is handled the same way at that moment.
Either way `quarantines` records it and `on_quarantine` is told, so it shows in the log and health.
A full disk is not corruption: `append` raises `BufferWriteError` and the caller keeps the payload.
A file that cannot be opened or created at all (a full disk at start) leaves the buffer unavailable
rather than the component down: appends fail as above, reads find nothing, and opening is retried
at most once every REOPEN_SECONDS.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from edgewatch_shared.sqlite_queue import QueueFile, is_corruption, write_transaction

logger = logging.getLogger(__name__)

REOPEN_SECONDS = 1.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_ms INTEGER NOT NULL,
    payload BLOB NOT NULL,
    size INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""  # `counters` held a drop total nothing read; no longer written, the table stays so old files match


@dataclass(frozen=True)
class BufferedPayload:
    id: int
    created_ms: int
    payload: bytes


@dataclass(frozen=True)
class BufferDepth:
    payloads: int
    bytes: int


@dataclass(frozen=True)
class Quarantine:
    moved_to: Path
    reason: str


class BufferWriteError(OSError):
    """An append could not be stored (disk full, I/O error); the payload is still the caller's."""


class BufferCorruptError(sqlite3.DatabaseError):
    """The buffer file turned out corrupt during this call; it is quarantined and the buffer is empty now."""


class OfflineBuffer:
    """Thread-safe: the sampling loop appends, the uploader thread reads and deletes."""

    def __init__(
        self, path: Path, max_bytes: int, *, on_quarantine: Callable[[Quarantine], None] | None = None,
        now: Callable[[], float] = time.time,
    ) -> None:  # fmt: skip
        self._path = path
        self._max_bytes = max_bytes
        self._on_quarantine = on_quarantine
        self._now = now
        self._lock = threading.Lock()
        self.quarantines: list[Quarantine] = []
        # Bumped whenever the file is replaced: payload ids of an older generation mean nothing now.
        self.generation = 0
        self._depth = BufferDepth(0, 0)
        self._db: sqlite3.Connection | None = None
        # FULL: see the module docstring. Each append is one transaction (`write_transaction`).
        self._file = QueueFile(path, _SCHEMA, synchronous="FULL", retry_seconds=REOPEN_SECONDS, now=now)
        self._unavailable = ""
        self._opened_once = False
        with self._lock:
            self._available()

    def _available(self) -> bool:
        """Under the lock: True when the file is open; else tries to open it (at most once per REOPEN_SECONDS)."""
        if self._db is not None:
            return True
        opening = self._file.open()
        if opening is None:
            if self._file.error and not self._unavailable:
                logger.error("offline buffer %s cannot be opened (%s); retrying", self._path, self._file.error)
            self._unavailable = self._file.error or self._unavailable
            return False
        self._db = opening.db
        if self._opened_once:
            self.generation += 1
        self._opened_once = True
        if self._unavailable:
            logger.info("offline buffer %s is open again", self._path)
            self._unavailable = ""
        if opening.quarantined_to is not None:
            self._record(Quarantine(opening.quarantined_to, opening.reason))
        try:
            self._refresh_depth()
        except sqlite3.DatabaseError as err:  # just checked sound; a statement failing now is met again later
            logger.warning("offline buffer depth unknown: %s", err)
        return True

    def _record(self, event: Quarantine) -> None:
        self.quarantines.append(event)
        if self._on_quarantine is not None:
            self._on_quarantine(event)

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        """Under the lock: corruption met by any statement quarantines the file and starts it fresh."""
        try:
            yield
        except sqlite3.DatabaseError as err:
            if not is_corruption(err):
                raise
            self._restart_fresh(str(err))
            raise BufferCorruptError(str(err)) from err

    def _restart_fresh(self, reason: str) -> None:
        moved = self._file.quarantine(self._db)
        self._db, self._depth = None, BufferDepth(0, 0)
        logger.error(
            "offline buffer %s found corrupt while in use (%s); moved aside to %s, continuing with an empty buffer",
            self._path, reason, moved,
        )  # fmt: skip
        self._record(Quarantine(moved, reason))
        self._available()

    def retry_open_now(self) -> None:
        """Let the next call try to open an unavailable file at once (e.g. before the last store at exit)."""
        with self._lock:
            if self._db is None:
                self._file.retry_now()

    def depth(self) -> BufferDepth:
        with self._lock:
            return self._depth

    @property
    def max_bytes(self) -> int:
        return self._max_bytes

    def set_max_bytes(self, max_bytes: int) -> int:
        """Change the bound; returns how many payloads had to go to honour it."""
        with self._lock, self._guard():
            self._max_bytes = max_bytes
            if not self._available():
                return 0
            try:
                with write_transaction(self._db):
                    dropped = self._trim(0)
            except Exception:
                self._refresh_depth()
                raise
            return dropped

    def append(self, payload: bytes, created_ms: int) -> int:
        """Store one payload; returns how many old payloads were dropped to make room.

        Raises BufferWriteError when it could not be stored (the payload is not in the buffer).
        """
        if len(payload) > self._max_bytes:
            raise ValueError(f"payload of {len(payload)} bytes exceeds the buffer bound {self._max_bytes}")
        try:
            with self._lock, self._guard():
                if not self._available():
                    raise BufferWriteError(f"offline buffer unavailable: {self._unavailable}")
                depth_before = self._depth
                try:
                    with write_transaction(self._db) as db:
                        dropped = self._trim(len(payload))
                        db.execute(
                            "INSERT INTO outbox (created_ms, payload, size) VALUES (?, ?, ?)",
                            (created_ms, payload, len(payload)),
                        )
                except sqlite3.OperationalError:
                    self._depth = depth_before
                    with contextlib.suppress(sqlite3.OperationalError):
                        self._refresh_depth()
                    raise
                self._depth = BufferDepth(self._depth.payloads + 1, self._depth.bytes + len(payload))
                return dropped
        except sqlite3.OperationalError as err:
            raise BufferWriteError(f"offline buffer could not store a payload: {err}") from err
        except BufferCorruptError as err:
            # The file was replaced by an empty one; the payload was not stored in either.
            raise BufferWriteError(f"offline buffer was corrupt: {err}") from err

    def _trim(self, incoming: int) -> int:
        # Inside the caller's transaction: drop oldest rows until `incoming` more bytes fit.
        dropped = 0
        total = self._depth.bytes
        while total + incoming > self._max_bytes:
            row = self._db.execute("SELECT id, size FROM outbox ORDER BY id LIMIT 1").fetchone()
            if row is None:
                break
            self._db.execute("DELETE FROM outbox WHERE id = ?", (row[0],))
            total -= row[1]
            dropped += 1
        if dropped:
            logger.warning("offline buffer full: dropped the %d oldest payload(s)", dropped)
            self._depth = BufferDepth(self._depth.payloads - dropped, total)
        return dropped

    def oldest(self, limit: int, after_id: int = 0) -> list[BufferedPayload]:
        """Up to `limit` payloads with id > `after_id`, oldest first."""
        with self._lock, self._guard():
            if not self._available():
                return []
            rows = self._db.execute(
                "SELECT id, created_ms, payload FROM outbox WHERE id > ? ORDER BY id LIMIT ?",
                (after_id, limit),
            ).fetchall()
        return [BufferedPayload(r[0], r[1], bytes(r[2])) for r in rows]

    def remove(self, payload_id: int) -> None:
        """Delete an acknowledged payload; raises sqlite3.OperationalError (e.g. disk full) when it could not."""
        with self._lock, self._guard():
            if not self._available():
                raise sqlite3.OperationalError(f"offline buffer unavailable: {self._unavailable}")
            # No DELETE ... RETURNING: gateways often ship an SQLite older than 3.35.
            row = self._db.execute("SELECT size FROM outbox WHERE id = ?", (payload_id,)).fetchone()
            if row is not None:
                self._db.execute("DELETE FROM outbox WHERE id = ?", (payload_id,))
                self._depth = BufferDepth(self._depth.payloads - 1, self._depth.bytes - row[0])

    def _refresh_depth(self) -> None:
        count, total = self._db.execute("SELECT COUNT(*), COALESCE(SUM(size), 0) FROM outbox").fetchone()
        self._depth = BufferDepth(count, total)

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
            self._file.never_again()
