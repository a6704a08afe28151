"""Timestamped per-component log files (`<root>/logs/<ComponentName>.log`), rotated at a size bound."""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
from pathlib import Path

from edgewatch.local.state_files import open_private_append, private_dir

log = logging.getLogger(__name__)

ROTATE_BYTES = 10 * 1024 * 1024


def utc_stamp() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class ComponentLog:
    def __init__(self, path: Path, component: str, rotate_bytes: int = ROTATE_BYTES) -> None:
        self.path = path
        self.component = component
        self.rotate_bytes = rotate_bytes
        self._lock = threading.Lock()
        self._warned = False
        private_dir(path.parent)

    def write(self, source: str, text: str, level: str = "INFO") -> None:
        """One line: `<UTC time> [LEVEL] <component> (<source>): <text>`."""
        line = f"{utc_stamp()} [{level}] {self.component} ({source}): {text.rstrip()}\n"
        with self._lock:
            try:
                if self.path.exists() and self.path.stat().st_size > self.rotate_bytes:
                    os.replace(self.path, self.path.with_suffix(".log.1"))
                with open_private_append(self.path) as handle:
                    handle.write(line)
            except OSError as exc:  # a full disk must not stop the component
                if not self._warned:
                    log.error("cannot write %s: %s", self.path, exc)
                    self._warned = True
