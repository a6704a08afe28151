"""Small private state files (the components' under their work folder, the runtime's under its root):
written atomically (temp file, fsync, rename, folder fsync; mode 0600, since they may hold a webhook
URL or a password), read defensively (a corrupt file is moved aside as `<name>.corrupt-<timestamp>`,
never deleted, and the caller starts without it). The one implementation of both for the suite."""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

MAX_STATE_BYTES = 64 << 20


def write_json_atomic(path: Path, doc: Any) -> None:
    """Replace `path` with `doc` as compact JSON (never NaN/inf), atomically; see `write_atomic`."""
    write_atomic(path, json.dumps(doc, separators=(",", ":"), allow_nan=False).encode())


def write_atomic(path: Path, data: bytes) -> None:
    """Replace `path` with `data` so that a crash leaves either the old or the new file, never half.

    The temp name is unique (writers on several threads may race; the last rename wins whole)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    try:  # the rename itself is durable once the directory is synced
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass


def read_json(path: Path, what: str) -> Any | None:
    """The document in `path`, or None when there is none; a corrupt file is quarantined and logged."""
    try:
        if path.stat().st_size > MAX_STATE_BYTES:
            raise ValueError(f"larger than {MAX_STATE_BYTES} bytes")
        return json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValueError, RecursionError) as err:
        quarantine(path, what, f"{type(err).__name__}: {str(err)[:200]}")
        return None


def quarantine(path: Path, what: str, why: str) -> Path | None:
    """`move_aside` with the log line; None (logged) when the file cannot be moved."""
    try:
        target = move_aside(path, time.time())
    except OSError as err:
        logger.error("%s %s is unusable (%s) and could not be moved aside: %s", what, path, why, err)
        return None
    logger.error("%s %s is unusable (%s); moved aside to %s, starting without it", what, path, why, target.name)
    return target

def move_aside(path: Path, now_s: float) -> Path:
    """Move `path` (and SQLite -wal/-shm companions) to `<path>.corrupt-<UTC timestamp>`, never over an
    earlier one; returns the new path. Raises OSError when it cannot be moved."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now_s))
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while target.exists():
        target = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
        n += 1
    for suffix in ("-wal", "-shm"):
        companion = path.with_name(path.name + suffix)
        if companion.exists():
            companion.rename(target.with_name(target.name + suffix))
    if path.exists():
        path.rename(target)
    return target
