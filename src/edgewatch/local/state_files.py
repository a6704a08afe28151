"""The runtime's own state files: written atomically, private, and quarantined (never deleted) when corrupt.

A write goes to a temporary file in the same folder, is fsynced, renamed over the target and the
folder is fsynced, so a crash leaves either the old or the new content, never a torn file. A file
that cannot be used (not JSON, truncated, wrong shape) is renamed to `<file>.corrupt-<UTC stamp>`
so an operator can inspect it, and the caller carries on as if it were missing.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edgewatch_shared.private_files import move_aside, write_atomic

log = logging.getLogger(__name__)

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700
MAX_STATE_FILE_BYTES = 16 * 1024 * 1024


class StateFileError(ValueError):
    """A state file is unusable; the message says why."""


def private_dir(path: Path) -> Path:
    """Create `path` (and parents) readable by this user only."""
    path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
    with contextlib.suppress(OSError):
        os.chmod(path, PRIVATE_DIR)
    return path


def write_json_atomic(path: Path, data: Any) -> None:
    """Replace `path` with `data` as JSON, atomically and durably, mode 0600."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(data, indent=1, sort_keys=True).encode())


def open_private_append(path: Path) -> Any:
    """Open a log file for appending, creating it 0600 (logs can hold what components print)."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, PRIVATE_FILE)
    return os.fdopen(fd, "a", encoding="utf-8", errors="replace")


def append_private_record(path: Path, data: bytes) -> None:
    """Append one whole record (e.g. a JSON line) to a 0600 file with write(2) on O_APPEND, so a
    concurrent reader never sees records interleaved; a buffered text handle would split a large
    record into 8 KiB writes."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, PRIVATE_FILE)
    try:
        written = os.write(fd, data)
        while written < len(data):  # a short write (signal, nearly full disk): finish the record
            written += os.write(fd, data[written:])
    finally:
        os.close(fd)


def quarantine(path: Path, reason: str) -> Path | None:
    """Move a corrupt file aside as `<file>.corrupt-<UTC stamp>`; return where it went."""
    try:
        target = move_aside(path, time.time())
    except OSError as exc:
        log.error("%s is corrupt (%s) and could not be moved aside: %s", path, reason, exc)
        return None
    log.error("%s is corrupt (%s); kept as %s and ignored", path, reason, target)
    return target


def read_json_checked(path: Path, check: Callable[[Any], str | None] = lambda value: None) -> Any:
    """Read a JSON state file; raises FileNotFoundError when missing, StateFileError when unusable.

    `check` returns why a parsed value has the wrong shape (or None when it is fine).
    """
    with path.open("rb") as handle:
        raw = handle.read(MAX_STATE_FILE_BYTES + 1)
    if len(raw) > MAX_STATE_FILE_BYTES:
        raise StateFileError(f"larger than {MAX_STATE_FILE_BYTES} bytes")
    try:
        value = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise StateFileError(f"not valid JSON: {exc}") from None
    problem = check(value)
    if problem:
        raise StateFileError(problem)
    return value


def load_or_quarantine(path: Path, check: Callable[[Any], str | None] = lambda value: None) -> Any | None:
    """The parsed file, or None when it is missing or unusable (then it is quarantined)."""
    try:
        return read_json_checked(path, check)
    except FileNotFoundError:
        return None
    except OSError as exc:
        log.error("cannot read %s: %s", path, exc)
        return None
    except StateFileError as exc:
        quarantine(path, str(exc))
        return None
