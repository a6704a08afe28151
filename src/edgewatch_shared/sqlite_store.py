"""Opening a component's SQLite file under its work folder: WAL, autocommit, shared across threads."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Literal


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
