"""The persistent outbox: SQLite in WAL mode under {work:path}, one row per notification per integration.

A row is written before any send is tried and deleted only after success (or a permanent failure,
which moves it to `dead_letters`), so a restart or `kill -9` resumes delivery. Bounded: beyond
`max_rows` the oldest rows are dropped and counted.

Faults, and what the outbox does about them:
- The file is checked at open (`quick_check`); a corrupt one is moved aside as `*.corrupt-<ts>`
  (`quarantined_to`) and a fresh one used. Corruption found later is handled the same way: the rows
  that can still be read are carried over (with their sequence numbers), then the file is replaced.
- A full disk: a notification the disk refuses is held in memory (bounded) at its place in the queue
  (after every row already on disk, before every row written later), so per-queue order holds. A
  row that was delivered but whose DELETE failed is remembered in memory and never handed out
  again; the DELETE is retried at the next write.
- If no database can be used at all, the outbox runs in memory only and says so.

Queue order is by `seq` per integration; `head` also drops what is no longer news: a row superseded by
a newer one for the same group (which carries every alert the older one did) and, with `max_age`, a
row older than that.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from alert_router.notification import Notification
from edgewatch_shared.sqlite_queue import QueueFile, retry_after_corruption, write_transaction

logger = logging.getLogger(__name__)

T = TypeVar("T")
Row = tuple[Any, ...]

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    integration TEXT NOT NULL,
    notification_id TEXT NOT NULL,
    payload TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt REAL NOT NULL,
    created REAL NOT NULL,
    last_error TEXT,
    group_key TEXT
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
"""  # silences: where older versions kept them; `silence_store.SilenceStore` moves them to its own file
# Created after the migration below: a file from before `group_key` has no such column yet.
GROUP_INDEX = "CREATE INDEX IF NOT EXISTS outbox_by_group ON outbox (integration, group_key, seq)"
MAX_DEAD_LETTERS = 100
# After a restart the stored backoff is not honoured in full: the first attempt comes this soon.
RESTART_RETRY_SECONDS = 1.0
# Running in memory only (no usable file), the outbox tries to open a file again this often.
REOPEN_SECONDS = 30.0


@dataclass(frozen=True)
class OutboxItem:
    seq: int  # negative: held in memory because the disk refused it
    integration: str
    notification: Notification
    attempts: int
    next_attempt: float
    created: float = 0.0


@dataclass
class OutboxStats:
    overflow_dropped: int = 0
    write_errors: int = 0
    remove_errors: int = 0  # of which: finished rows whose DELETE failed (remembered in memory, never re-sent)
    superseded: int = 0  # not sent: a newer notification for the same group was queued
    expired: int = 0  # not sent: older than maxNotificationAgeSeconds
    corruption_recoveries: int = 0  # corrupt files moved aside (at open or later)
    unreadable: int = 0  # rows whose content could not be read back (dropped, logged)
    memory_only: bool = False  # no usable database: everything is held in memory


@dataclass
class _Held:
    item: OutboxItem
    after_seq: int  # the largest disk seq when it was held: it comes after that row and before later ones


def _owner_only(path: Path) -> None:
    """Notifications and error texts are nobody else's business: 0600 (SQLite gives -wal/-shm the same)."""
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        with contextlib.suppress(OSError):  # absent (-wal/-shm) or not ours: nothing to tighten
            file.chmod(0o600)


def _parse(payload: object) -> Notification | None:
    try:
        return Notification.from_dict(json.loads(str(payload)))
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def _fingerprints(n: Notification) -> frozenset[str]:
    return frozenset(str(a.get("fingerprint")) for a in n.alerts)


class Outbox:
    def __init__(self, path: Path, max_rows: int, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self.max_rows = max_rows
        self.stats = OutboxStats()
        self.quarantined_to: Path | None = None  # the last corrupt file moved aside, for the health report
        self.quarantine_reason = ""
        self._clock = clock
        # One connection shared by the delivery threads and the router loop, serialised by the lock.
        # WAL + NORMAL: a committed row survives a process kill.
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self._last_seq = 0
        self._memory: dict[int, _Held] = {}  # insertion order is queue order
        self._memory_seq = itertools.count(-1, -1)
        self._done: set[int] = set()  # disk rows finished (delivered, failed, dropped) whose DELETE failed
        self._retry: dict[int, tuple[int, float]] = {}  # disk rows whose backoff UPDATE failed
        self._tried: set[int] = set()  # disk rows attempted by this process (the restart grace is over)
        self._opened_at = clock()
        self._file = QueueFile(path, SCHEMA, synchronous="NORMAL", retry_seconds=REOPEN_SECONDS, clock=clock, now=clock)
        self._open()

    # -- opening and recovery
    def _open(self, carry: Iterable[Row] = ()) -> None:
        opening = self._file.open()
        if opening is None:
            self._memory_only(f"cannot open {self.path}: {self._file.error}", carry)
            return
        if opening.quarantined_to is not None:
            self._note_quarantine(opening.quarantined_to, opening.reason)
        self._db = opening.db
        _owner_only(self.path)
        try:
            self._migrate()
            with write_transaction(self._db):
                self._db.executemany("INSERT OR IGNORE INTO outbox VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", carry)
                self._continue_sequence(self._db)
        except sqlite3.Error as err:
            self._db.close()
            self._db = None
            self._memory_only(f"cannot prepare {self.path}: {err}", carry)

    def _continue_sequence(self, db: sqlite3.Connection) -> None:
        """New rows must come after every seq this process has seen (held items, remembered rows),
        also in a file that replaced a corrupt one."""
        row = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").fetchone()
        stored = int(row[0]) if row else 0
        if stored < self._last_seq:
            if row:
                db.execute("UPDATE sqlite_sequence SET seq = ? WHERE name = 'outbox'", (self._last_seq,))
            else:
                db.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('outbox', ?)", (self._last_seq,))
        self._last_seq = max(stored, self._last_seq)
        if self.stats.memory_only:
            self.stats.memory_only = False
            logger.warning("outbox %s usable again; new notifications are stored", self.path)

    def _migrate(self) -> None:
        assert self._db is not None
        columns = {r[1] for r in self._db.execute("PRAGMA table_info(outbox)")}
        if "group_key" not in columns:
            self._db.execute("ALTER TABLE outbox ADD COLUMN group_key TEXT")
        for seq, payload in self._db.execute("SELECT seq, payload FROM outbox WHERE group_key IS NULL").fetchall():
            n = _parse(payload)
            group = n.group_key if n is not None else ""
            self._db.execute("UPDATE outbox SET group_key = ? WHERE seq = ?", (group, seq))
        self._db.execute(GROUP_INDEX)

    def _note_quarantine(self, moved: Path, reason: str) -> None:
        self.quarantined_to, self.quarantine_reason = moved, reason
        self.stats.corruption_recoveries += 1
        logger.error("outbox %s was corrupt (%s); kept as %s, continuing with a fresh outbox", self.path, reason, moved)

    def _memory_only(self, why: str, carry: Iterable[Row]) -> None:
        if not self.stats.memory_only:  # retried every REOPEN_SECONDS: said once
            logger.error("%s; the outbox runs in memory only (notifications are not kept across a restart)", why)
        self.stats.memory_only = True
        for seq, integration, _nid, payload, attempts, next_attempt, created, _err, _group in carry:
            n = _parse(payload)
            if n is None:
                continue
            key = next(self._memory_seq)
            self._memory[key] = _Held(OutboxItem(key, integration, n, attempts, next_attempt, created), seq - 1)

    def _recover(self, err: sqlite3.DatabaseError) -> None:
        """Corruption found while running: keep what can be read, move the file aside, go on with a new one."""
        logger.error("outbox %s turned out corrupt (%s); recovering the readable rows", self.path, err)
        carry = self._salvage()
        db, self._db = self._db, None
        try:
            moved = self._file.quarantine(db)
        except OSError as move_err:
            self._memory_only(f"cannot move the corrupt {self.path} aside: {move_err}", carry)
            return
        self._note_quarantine(moved, str(err))
        self._open(carry)

    def _salvage(self) -> list[Row]:
        rows: list[Row] = []
        if self._db is None:
            return rows
        try:
            for row in self._db.execute("SELECT * FROM outbox"):
                rows.append(tuple(row))
        except sqlite3.DatabaseError as err:
            logger.warning("outbox recovery: outbox readable up to row %d (%s)", len(rows), err)
        return [r for r in rows if len(r) == 9 and r[0] not in self._done]

    def _guarded(self, action: Callable[[sqlite3.Connection], T]) -> T:
        """Run `action` on the database; a corruption error leads to recovery and one more try.

        Raises sqlite3.Error for a failure that is not corruption (full disk, lock), or when there is
        no database: the caller decides what to keep in memory.
        """
        if self._db is None and self.stats.memory_only and self._file.due():
            self._open()  # the disk may have room again
        return retry_after_corruption(lambda: self._db, action, self._recover, lambda: "the outbox runs in memory only")

    # -- writing
    def add(self, integrations: list[str], n: Notification, now: float) -> None:
        payload = n.to_json()
        with self._lock:
            self._purge_done()

            def insert(db: sqlite3.Connection) -> int:
                with write_transaction(db):
                    db.executemany(
                        "INSERT INTO outbox (integration, notification_id, payload, next_attempt, created, group_key) "
                        "VALUES (?, ?, ?, ?, ?, ?)",
                        [(key, n.id, payload, now, now, n.group_key) for key in integrations],
                    )
                    self._trim(db)
                    row = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").fetchone()
                    return int(row[0]) if row else 0

            try:
                self._last_seq = max(self._last_seq, self._guarded(insert))
            except sqlite3.Error as err:
                self.stats.write_errors += 1
                logger.error("outbox write failed (%s); holding notification %s in memory", err, n.id)
                for key in integrations:
                    self._hold_in_memory(key, n, now)

    def _trim(self, db: sqlite3.Connection) -> None:
        (count,) = db.execute("SELECT COUNT(*) FROM outbox").fetchone()
        excess = count - self.max_rows
        if excess > 0:
            db.execute("DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox ORDER BY seq LIMIT ?)", (excess,))
            self.stats.overflow_dropped += excess
            logger.error("outbox full (%d notifications): dropped the %d oldest", self.max_rows, excess)

    def _hold_in_memory(self, key: str, n: Notification, now: float) -> None:
        if len(self._memory) >= self.max_rows:
            del self._memory[next(iter(self._memory))]  # the oldest
            self.stats.overflow_dropped += 1
        seq = next(self._memory_seq)
        self._memory[seq] = _Held(OutboxItem(seq, key, n, 0, now, now), self._last_seq)

    def _purge_done(self) -> None:
        """Retry the DELETEs that failed (lock held)."""
        if not self._done or self._db is None:
            return
        done = sorted(self._done)

        def delete(db: sqlite3.Connection) -> None:
            with write_transaction(db):
                db.executemany("DELETE FROM outbox WHERE seq = ?", [(s,) for s in done])

        try:
            self._guarded(delete)
        except sqlite3.Error:
            return
        self._done.difference_update(done)
        for seq in done:
            self._retry.pop(seq, None)

    def _finish(self, item: OutboxItem, dead_letter: str | None = None) -> None:
        """The item leaves the queue for good (lock held); remembered in memory if the disk refuses."""
        if item.seq < 0:
            self._memory.pop(item.seq, None)
            return
        self._purge_done()

        def delete(db: sqlite3.Connection) -> None:
            with write_transaction(db):
                db.execute("DELETE FROM outbox WHERE seq = ?", (item.seq,))
                if dead_letter is not None:
                    db.execute("INSERT OR REPLACE INTO dead_letters VALUES (?, ?, ?, ?, ?)",
                               (item.seq, item.integration, item.notification.id, dead_letter, self._clock()))
                    db.execute("DELETE FROM dead_letters WHERE seq NOT IN "
                               "(SELECT seq FROM dead_letters ORDER BY seq DESC LIMIT ?)", (MAX_DEAD_LETTERS,))

        try:
            self._guarded(delete)
        except sqlite3.Error as err:
            self.stats.write_errors += 1
            self.stats.remove_errors += 1
            self._done.add(item.seq)
            logger.error("outbox could not remove notification %s for %s (%s); remembered in memory so it is "
                         "not sent again", item.notification.id, item.integration, err)
        self._retry.pop(item.seq, None)

    def delivered(self, item: OutboxItem) -> None:
        with self._lock:
            self._finish(item)

    def retry_later(self, item: OutboxItem, next_attempt: float, error: str) -> None:
        with self._lock:
            if item.seq < 0:
                held = self._memory.get(item.seq)
                if held is not None:
                    held.item = OutboxItem(item.seq, item.integration, item.notification, item.attempts + 1,
                                           next_attempt, item.created)  # fmt: skip
                return
            self._tried.add(item.seq)
            self._retry[item.seq] = (item.attempts + 1, next_attempt)  # in force even if the UPDATE fails

            def update(db: sqlite3.Connection) -> None:
                db.execute("UPDATE outbox SET attempts = ?, next_attempt = ?, last_error = ? WHERE seq = ?",
                           (item.attempts + 1, next_attempt, error, item.seq))

            try:
                self._guarded(update)
            except sqlite3.Error as err:
                self.stats.write_errors += 1
                logger.warning("outbox could not record the retry of %s (%s); kept in memory", item.notification.id,
                               err)  # fmt: skip
                return
            self._retry.pop(item.seq, None)

    def failed(self, item: OutboxItem, reason: str, now: float) -> None:
        """A permanent failure: out of the outbox, into the (bounded) dead letters for inspection."""
        with self._lock:
            self._finish(item, dead_letter=reason)

    # -- reading
    def head(self, integration: str, now: float | None = None, max_age: float | None = None) -> OutboxItem | None:
        """The oldest pending item of one integration (delivery is in order per integration).

        Items that are no longer news are taken out on the way: superseded by a newer item of the
        same group that carries all of their alerts, or (with `max_age`) older than `max_age` s.
        """
        now = self._clock() if now is None else now
        with self._lock:
            while True:
                item = self._oldest(integration)
                if item is None:
                    return None
                if max_age is not None and now - item.created > max_age:
                    self.stats.expired += 1
                    logger.warning("notification %s for %s dropped unsent: %.0f s old, older than %.0f s",
                                   item.notification.id, integration, now - item.created, max_age)  # fmt: skip
                    self._finish(item, dead_letter=f"expired after {now - item.created:.0f} s")
                    continue
                if self._superseded(item):
                    self.stats.superseded += 1
                    logger.info("notification %s for %s superseded by newer news of its group; not sent",
                                item.notification.id, integration)  # fmt: skip
                    self._finish(item)
                    continue
                return item

    def _oldest(self, integration: str) -> OutboxItem | None:
        memory = next((h for h in self._memory.values() if h.item.integration == integration), None)
        disk = self._oldest_on_disk(integration)
        if disk is None or (memory is not None and memory.after_seq < disk.seq):
            return memory.item if memory is not None else None
        return disk

    def _oldest_on_disk(self, integration: str) -> OutboxItem | None:
        while True:
            def read(db: sqlite3.Connection, skip: int = len(self._done) + 1) -> list[Row]:
                return db.execute(
                    "SELECT seq, payload, attempts, next_attempt, created FROM outbox WHERE integration = ? "
                    "ORDER BY seq LIMIT ?", (integration, skip),
                ).fetchall()  # fmt: skip

            try:
                rows = self._guarded(read)
            except sqlite3.Error as err:
                logger.warning("outbox read failed (%s)", err)
                return None
            row = next((r for r in rows if r[0] not in self._done), None)
            if row is None:
                return None
            seq, payload, attempts, next_attempt, created = row
            n = _parse(payload)
            if n is None:  # sound SQLite, unusable content (a foreign or damaged row): never blocks the queue
                self.stats.unreadable += 1
                logger.error("outbox row %d for %s is unreadable; dropped", seq, integration)
                self._done.add(seq)
                self._purge_done()
                continue
            attempts, next_attempt = self._retry.get(seq, (attempts, next_attempt))
            if seq not in self._tried:
                next_attempt = min(next_attempt, self._opened_at + RESTART_RETRY_SECONDS)
            return OutboxItem(seq, integration, n, attempts, next_attempt, created)

    def _order(self, item: OutboxItem) -> tuple[int, int, int]:
        """Queue position: a held item comes right after the disk row that was last when it was held."""
        if item.seq > 0:
            return (item.seq, 0, 0)
        held = self._memory.get(item.seq)
        return (held.after_seq if held else self._last_seq, 1, -item.seq)

    def _superseded(self, item: OutboxItem) -> bool:
        covered = _fingerprints(item.notification)
        group, position = item.notification.group_key, self._order(item)
        for held in self._memory.values():
            later = held.item
            if (later.integration == item.integration and later.notification.group_key == group
                    and self._order(later) > position and covered <= _fingerprints(later.notification)):
                return True  # fmt: skip

        def read(db: sqlite3.Connection) -> list[Row]:
            return db.execute(
                "SELECT seq, payload FROM outbox WHERE integration = ? AND group_key = ? AND seq > ?",
                (item.integration, group, position[0]),
            ).fetchall()

        try:
            rows = self._guarded(read)
        except sqlite3.Error:
            return False
        for seq, payload in rows:
            later = _parse(payload) if seq not in self._done else None
            if later is not None and covered <= _fingerprints(later):
                return True
        return False

    def depth(self) -> dict[str, int]:
        with self._lock:
            depth: dict[str, int] = {}
            try:
                rows = self._guarded(lambda db: db.execute(
                    "SELECT integration, seq FROM outbox").fetchall())  # fmt: skip
            except sqlite3.Error:
                rows = []
            for integration, seq in rows:
                if seq not in self._done:
                    depth[integration] = depth.get(integration, 0) + 1
            for held in self._memory.values():
                depth[held.item.integration] = depth.get(held.item.integration, 0) + 1
        return depth

    def held_in_memory(self) -> int:
        with self._lock:
            return len(self._memory)

    def dead_letters(self) -> list[tuple[str, str, str]]:
        with self._lock:
            try:
                return self._guarded(lambda db: db.execute(
                    "SELECT integration, notification_id, reason FROM dead_letters ORDER BY seq").fetchall())
            except sqlite3.Error:
                return []

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
