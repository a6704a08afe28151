"""What the components' SQLite queues share (the collector's offline buffer, the router's outbox):
opening the file checked and retrying when it cannot be opened, telling corruption from a full
disk, and one transaction style.

    queue_file = QueueFile(path, SCHEMA, synchronous="FULL", retry_seconds=1.0, clock=time.monotonic)
    opening = queue_file.open()            # StoreOpening, or None (queue_file.error says why)
    with write_transaction(opening.db) as db:
        db.execute("INSERT ...")           # BEGIN IMMEDIATE ... COMMIT; ROLLBACK on any error
    # a statement raised sqlite3.DatabaseError `err`:
    if is_corruption(err):
        moved = queue_file.quarantine(db)  # closed and moved aside; the next open starts fresh

Each queue keeps its own connection and lock, and decides what to keep in memory when the disk
refuses a write: that differs between a metrics buffer and a notification outbox.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Literal, TypeVar

from edgewatch_shared.private_files import move_aside
from edgewatch_shared.sqlite_store import StoreOpening, looks_corrupt, open_checked_database

logger = logging.getLogger(__name__)


def is_corruption(err: sqlite3.DatabaseError) -> bool:
    """Corruption (SQLITE_CORRUPT/NOTADB), as opposed to a full disk, a lock, a read-only folder or a bug.

    sqlite3 raises the plain DatabaseError for a damaged or foreign file; its subclasses
    (OperationalError: full disk, lock, I/O; IntegrityError; ProgrammingError ...) mean the file may
    be sound, unless the message says otherwise."""
    return type(err) is sqlite3.DatabaseError or looks_corrupt(err)


T = TypeVar("T")


def retry_after_corruption(
    db_of: Callable[[], sqlite3.Connection | None], action: Callable[[sqlite3.Connection], T],
    recover: Callable[[sqlite3.DatabaseError], None], unavailable: Callable[[], str],
) -> T:  # fmt: skip
    """`action` on the store's connection; on corruption, `recover` (quarantine, reopen) and one more
    try. Anything else, or no connection (`unavailable()` says why), raises sqlite3.Error: the caller
    decides what to keep in memory."""
    for attempt in (1, 2):
        db = db_of()
        if db is None:
            raise sqlite3.OperationalError(unavailable())
        try:
            return action(db)
        except sqlite3.DatabaseError as err:
            if not is_corruption(err) or attempt == 2:
                raise
            recover(err)
    raise sqlite3.OperationalError("unreachable")


@contextlib.contextmanager
def write_transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction on an autocommit connection (isolation_level=None): BEGIN IMMEDIATE takes
    the write lock at once; any error, the COMMIT's own included (a full disk), rolls back."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
        db.execute("COMMIT")
    except BaseException:
        # SQLite may already have rolled back by itself (e.g. on SQLITE_FULL); a second ROLLBACK would raise.
        if db.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
        raise


class QueueFile:
    """Opens one queue file (`open_checked_database`: a corrupt file is moved aside) and paces retries:
    after a failed open, the next attempt comes `retry_seconds` later (by `clock`)."""

    def __init__(
        self, path: Path, schema: str, *, synchronous: Literal["NORMAL", "FULL"], retry_seconds: float,
        clock: Callable[[], float] = time.monotonic, now: Callable[[], float] = time.time,
    ) -> None:  # fmt: skip
        self.path = path
        self.error = ""  # why the last attempt failed; "" once open
        self._schema = schema
        self._synchronous: Literal["NORMAL", "FULL"] = synchronous
        self._retry_seconds = retry_seconds
        self._clock = clock
        self._now = now
        self._next_attempt = 0.0

    def open(self) -> StoreOpening | None:
        """A new connection, or None when opening failed (`error` says why) or a retry is not due yet."""
        if self._clock() < self._next_attempt:
            return None
        self._next_attempt = self._clock() + self._retry_seconds
        existed = self.path.exists()
        try:
            opening = open_checked_database(self.path, self._schema, synchronous=self._synchronous, now=self._now)
        except (OSError, sqlite3.Error) as err:
            if not existed:
                self._remove_empty_leftovers()  # else the next attempt would quarantine them as "corrupt"
            self.error = str(err)
            return None
        self.error = ""
        return opening

    def due(self) -> bool:
        """Whether `open` would try now."""
        return self._clock() >= self._next_attempt

    def retry_now(self) -> None:
        """Let the next `open` try at once (e.g. before the last write at exit)."""
        if self._next_attempt != float("inf"):
            self._next_attempt = 0.0

    def never_again(self) -> None:
        """Closed for good: `open` returns None from now on."""
        self._next_attempt = float("inf")

    def quarantine(self, db: sqlite3.Connection | None) -> Path:
        """Close `db` and move the (corrupt) file aside with its -wal/-shm; the next `open` starts fresh."""
        if db is not None:
            with contextlib.suppress(sqlite3.Error):
                db.close()
        moved = move_aside(self.path, self._now())
        self.retry_now()
        return moved

    def _remove_empty_leftovers(self) -> None:
        for suffix in ("", "-wal", "-shm"):
            leftover = self.path.with_name(self.path.name + suffix)
            with contextlib.suppress(OSError):
                if leftover.stat().st_size == 0:
                    leftover.unlink()
