"""The on-disk outbox of IoT Core payloads: SQLite under the component's work folder.

Every payload is written here before it is published and deleted once IoT Core acknowledged it,
so nothing is lost between "decided to send" and "sent", whether the link is down, IPC is gone or
the process is killed. WAL with synchronous=FULL makes each committed append durable across
`kill -9` and power loss; writes are rare (one per publish interval), so the fsync cost is small.

The buffer is bounded by payload bytes: appending past the bound drops the oldest payloads and
counts them (the count persists across restarts).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from edgewatch_shared.sqlite_store import open_wal_database

logger = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_ms INTEGER NOT NULL,
    payload BLOB NOT NULL,
    size INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


@dataclass(frozen=True)
class BufferedPayload:
    id: int
    created_ms: int
    payload: bytes


@dataclass(frozen=True)
class BufferDepth:
    payloads: int
    bytes: int


class OfflineBuffer:
    """Thread-safe: the sampling loop appends, the uploader thread reads and deletes."""

    def __init__(self, path: Path, max_bytes: int) -> None:
        self._max_bytes = max_bytes
        self._lock = threading.Lock()
        # Explicit BEGIN/COMMIT below, so each append is one transaction; FULL: see the module docstring.
        self._db = open_wal_database(path, _SCHEMA, synchronous="FULL")
        count, total = self._db.execute("SELECT COUNT(*), COALESCE(SUM(size), 0) FROM outbox").fetchone()
        self._depth = BufferDepth(count, total)

    def depth(self) -> BufferDepth:
        with self._lock:
            return self._depth

    def dropped_total(self) -> int:
        with self._lock:
            row = self._db.execute("SELECT value FROM counters WHERE name = 'dropped'").fetchone()
        return row[0] if row else 0

    def set_max_bytes(self, max_bytes: int) -> int:
        """Change the bound; returns how many payloads had to go to honour it."""
        with self._lock:
            self._max_bytes = max_bytes
            self._db.execute("BEGIN IMMEDIATE")
            try:
                dropped = self._trim(0)
                self._db.execute("COMMIT")
            except Exception:
                self._db.execute("ROLLBACK")
                raise
            return dropped

    def append(self, payload: bytes, created_ms: int) -> int:
        """Store one payload; returns how many old payloads were dropped to make room."""
        if len(payload) > self._max_bytes:
            raise ValueError(f"payload of {len(payload)} bytes exceeds the buffer bound {self._max_bytes}")
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                dropped = self._trim(len(payload))
                self._db.execute(
                    "INSERT INTO outbox (created_ms, payload, size) VALUES (?, ?, ?)",
                    (created_ms, payload, len(payload)),
                )
                self._db.execute("COMMIT")
            except Exception:
                self._db.execute("ROLLBACK")
                self._refresh_depth()
                raise
            self._depth = BufferDepth(self._depth.payloads + 1, self._depth.bytes + len(payload))
            return dropped

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
            self._db.execute(
                "INSERT INTO counters (name, value) VALUES ('dropped', ?) "
                "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
                (dropped,),
            )
            logger.warning("offline buffer full: dropped the %d oldest payload(s)", dropped)
            self._depth = BufferDepth(self._depth.payloads - dropped, total)
        return dropped

    def oldest(self, limit: int, after_id: int = 0) -> list[BufferedPayload]:
        """Up to `limit` payloads with id > `after_id`, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, created_ms, payload FROM outbox WHERE id > ? ORDER BY id LIMIT ?",
                (after_id, limit),
            ).fetchall()
        return [BufferedPayload(r[0], r[1], bytes(r[2])) for r in rows]

    def remove(self, payload_id: int) -> None:
        with self._lock:
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
            self._db.close()
