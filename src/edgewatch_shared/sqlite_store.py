"""Opening a component's SQLite file under its work folder: WAL, autocommit, shared across threads.

Stored state is opened defensively: a file that is not a sound SQLite database (bad header,
truncation, damaged pages, or a zero-byte file where a database was expected) is moved aside as
`<name>.corrupt-<UTC timestamp>` together with its -wal/-shm files, never deleted, and a fresh
database takes its place. The caller learns of it through `StoreOpening.quarantined_to` and says
so in its log and health.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from edgewatch_shared.private_files import move_aside

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StoreOpening:
    db: sqlite3.Connection
    quarantined_to: Path | None = None  # where a corrupt file was moved, if one was
    reason: str = ""  # why it was judged corrupt


def open_wal_database(path: Path, schema: str, *, synchronous: Literal["NORMAL", "FULL"]) -> sqlite3.Connection:
    """The database at `path` (its folder made if missing) with `schema` applied.

    isolation_level=None leaves transactions to explicit BEGIN/COMMIT in the caller, and
    check_same_thread=False lets the caller share the connection between threads under its own lock.
    WAL lets readers go on while a write commits; `synchronous` is the caller's durability choice.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(f"PRAGMA synchronous={synchronous}")
    db.executescript(schema)
    return db


def open_checked_database(
    path: Path, schema: str, *, synchronous: Literal["NORMAL", "FULL"],
    now: Callable[[], float] = time.time,
) -> StoreOpening:
    """`open_wal_database` after `PRAGMA quick_check`; a corrupt file is quarantined, not fatal.

    Only corruption is handled here: an OSError such as a full disk or a read-only folder is the
    caller's to report, because moving a sound file aside would lose its data.
    """
    reason = _corruption(path)
    if reason is None:
        try:
            return StoreOpening(open_wal_database(path, schema, synchronous=synchronous))
        except sqlite3.DatabaseError as err:
            if isinstance(err, sqlite3.OperationalError) and not looks_corrupt(err):
                raise
            reason = f"cannot apply schema: {err}"
    moved = move_aside(path, now())
    _log.error("store %s is corrupt (%s); moved aside to %s and starting with an empty store", path, reason, moved)
    return StoreOpening(open_wal_database(path, schema, synchronous=synchronous), moved, reason)



def _corruption(path: Path) -> str | None:
    """Why the existing file at `path` is not a sound database, or None (sound or absent)."""
    if not path.exists():
        return None
    if path.stat().st_size == 0:
        return "zero-byte file"
    try:
        db = sqlite3.connect(f"file:{path}?mode=rw", uri=True, isolation_level=None)
    except sqlite3.DatabaseError as err:
        return str(err)
    try:
        rows = db.execute("PRAGMA quick_check").fetchall()
    except sqlite3.DatabaseError as err:
        if isinstance(err, sqlite3.OperationalError) and not looks_corrupt(err):
            raise
        return str(err)
    finally:
        db.close()
    if rows != [("ok",)]:
        return "quick_check: " + "; ".join(str(r[0]) for r in rows[:5])
    return None


def looks_corrupt(err: sqlite3.DatabaseError) -> bool:
    """The message of a corruption error, whatever its class."""
    text = str(err).lower()
    return any(s in text for s in ("malformed", "not a database", "corrupt", "file is encrypted"))
