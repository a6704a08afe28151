"""The persistent outbox: SQLite in WAL mode under {work:path}, one row per notification per integration.

A row is written before any send is tried and deleted only after success (or a permanent failure,
which moves it to `dead_letters`), so a restart or `kill -9` resumes delivery. Bounded: beyond
`max_rows` the oldest rows are dropped and counted. If the disk is full, rows are kept in memory
(bounded too) and still delivered in this process's lifetime; the write error is counted.
"""

from __future__ import annotations

import itertools
import json
import logging
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

from alert_router.notification import Notification
from edgewatch_shared.sqlite_store import open_wal_database

logger = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    integration TEXT NOT NULL,
    notification_id TEXT NOT NULL,
    payload TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt REAL NOT NULL,
    created REAL NOT NULL,
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS outbox_by_integration ON outbox (integration, seq);
CREATE TABLE IF NOT EXISTS dead_letters (
    seq INTEGER PRIMARY KEY,
    integration TEXT NOT NULL,
    notification_id TEXT NOT NULL,
    reason TEXT NOT NULL,
    failed_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS silences (id TEXT PRIMARY KEY, doc TEXT NOT NULL, ends_at REAL NOT NULL);
"""
MAX_DEAD_LETTERS = 100


@dataclass(frozen=True)
class OutboxItem:
    seq: int  # negative: held in memory because the disk refused it
    integration: str
    notification: Notification
    attempts: int
    next_attempt: float


@dataclass
class OutboxStats:
    overflow_dropped: int = 0
    write_errors: int = 0


class Outbox:
    def __init__(self, path: Path, max_rows: int) -> None:
        self.path = path
        self.max_rows = max_rows
        self.stats = OutboxStats()
        self._lock = threading.Lock()
        # One connection shared by the delivery threads and the router loop, serialised by the lock.
        # WAL + NORMAL: a committed row survives a process kill.
        self._db = open_wal_database(path, SCHEMA, synchronous="NORMAL")
        self._memory: dict[int, OutboxItem] = {}
        self._memory_seq = itertools.count(-1, -1)

    def add(self, integrations: list[str], n: Notification, now: float) -> None:
        payload = n.to_json()
        with self._lock:
            try:
                with self._db:
                    self._db.execute("BEGIN IMMEDIATE")
                    self._db.executemany(
                        "INSERT INTO outbox (integration, notification_id, payload, next_attempt, created) "
                        "VALUES (?, ?, ?, ?, ?)",
                        [(key, n.id, payload, now, now) for key in integrations],
                    )
                    self._trim()
            except sqlite3.Error as err:
                self.stats.write_errors += 1
                logger.error("outbox write failed (%s); holding notification %s in memory", err, n.id)
                for key in integrations:
                    self._hold_in_memory(key, n, now)

    def _trim(self) -> None:
        (count,) = self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()
        excess = count - self.max_rows
        if excess > 0:
            self._db.execute("DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox ORDER BY seq LIMIT ?)", (excess,))
            self.stats.overflow_dropped += excess
            logger.error("outbox full (%d notifications): dropped the %d oldest", self.max_rows, excess)

    def _hold_in_memory(self, key: str, n: Notification, now: float) -> None:
        if len(self._memory) >= self.max_rows:
            del self._memory[max(self._memory)]  # the oldest has the largest (least negative) seq
            self.stats.overflow_dropped += 1
        seq = next(self._memory_seq)
        self._memory[seq] = OutboxItem(seq, key, n, 0, now)

    def head(self, integration: str) -> OutboxItem | None:
        """The oldest pending item of one integration (delivery is in order per integration)."""
        with self._lock:
            memory = [i for i in self._memory.values() if i.integration == integration]
            if memory:
                return max(memory, key=lambda i: i.seq)
            row = self._db.execute(
                "SELECT seq, payload, attempts, next_attempt FROM outbox WHERE integration = ? ORDER BY seq LIMIT 1",
                (integration,),
            ).fetchone()
        if row is None:
            return None
        seq, payload, attempts, next_attempt = row
        return OutboxItem(seq, integration, Notification.from_dict(json.loads(payload)), attempts, next_attempt)

    def delivered(self, item: OutboxItem) -> None:
        with self._lock:
            if item.seq < 0:
                self._memory.pop(item.seq, None)
            else:
                self._db.execute("DELETE FROM outbox WHERE seq = ?", (item.seq,))

    def retry_later(self, item: OutboxItem, next_attempt: float, error: str) -> None:
        with self._lock:
            if item.seq < 0:
                if item.seq in self._memory:
                    self._memory[item.seq] = OutboxItem(item.seq, item.integration, item.notification,
                                                        item.attempts + 1, next_attempt)  # fmt: skip
                return
            self._db.execute(
                "UPDATE outbox SET attempts = attempts + 1, next_attempt = ?, last_error = ? WHERE seq = ?",
                (next_attempt, error, item.seq),
            )

    def failed(self, item: OutboxItem, reason: str, now: float) -> None:
        """A permanent failure: out of the outbox, into the (bounded) dead letters for inspection."""
        with self._lock:
            if item.seq < 0:
                self._memory.pop(item.seq, None)
                return
            with self._db:
                self._db.execute("BEGIN IMMEDIATE")
                self._db.execute("DELETE FROM outbox WHERE seq = ?", (item.seq,))
                self._db.execute(
                    "INSERT OR REPLACE INTO dead_letters VALUES (?, ?, ?, ?, ?)",
                    (item.seq, item.integration, item.notification.id, reason, now),
                )
                self._db.execute(
                    "DELETE FROM dead_letters WHERE seq NOT IN "
                    "(SELECT seq FROM dead_letters ORDER BY seq DESC LIMIT ?)",
                    (MAX_DEAD_LETTERS,),
                )

    def depth(self) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute("SELECT integration, COUNT(*) FROM outbox GROUP BY integration").fetchall()
            depth = dict(rows)
            for item in self._memory.values():
                depth[item.integration] = depth.get(item.integration, 0) + 1
        return depth

    def dead_letters(self) -> list[tuple[str, str, str]]:
        with self._lock:
            return self._db.execute(
                "SELECT integration, notification_id, reason FROM dead_letters ORDER BY seq"
            ).fetchall()

    # -- silences share the file: one place for the router's durable state
    def load_silences(self) -> list[str]:
        with self._lock:
            return [doc for (doc,) in self._db.execute("SELECT doc FROM silences")]

    def save_silence(self, silence_id: str, doc: str, ends_at: float) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO silences VALUES (?, ?, ?)", (silence_id, doc, ends_at))

    def delete_silence(self, silence_id: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM silences WHERE id = ?", (silence_id,))

    def close(self) -> None:
        with self._lock:
            self._db.close()
