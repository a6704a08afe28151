"""Progress output: upload progress (S3 transfer callback) and the rollout progress bar.

On a TTY the line is redrawn in place; otherwise plain lines are written, only when something
changed (uploads: every 25%), so logs of CI runs stay readable.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import TextIO


def bar(fraction: float, width: int = 30) -> str:
    fraction = min(max(fraction, 0.0), 1.0)
    filled = round(fraction * width)
    return "[" + "#" * filled + "-" * (width - filled) + "]"


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


class UploadProgress:
    """Callable for boto3's `upload_file(Callback=...)`; thread-safe (s3transfer uses threads)."""

    def __init__(self, label: str, total: int, stream: TextIO, tty: bool | None = None) -> None:
        self.label = label
        self.total = max(total, 0)
        self.stream = stream
        self.tty = stream.isatty() if tty is None else tty
        self.sent = 0
        self._last_quarter = -1
        self._lock = threading.Lock()

    def __call__(self, nbytes: int) -> None:
        with self._lock:
            self.sent += nbytes
            fraction = self.sent / self.total if self.total else 1.0
            sizes = f"{human_bytes(self.sent)}/{human_bytes(self.total)}"
            text = f"upload {self.label} {bar(fraction)} {fraction:4.0%} {sizes}"
            if self.tty:
                self.stream.write("\r" + text + ("\n" if fraction >= 1.0 else ""))
            else:
                quarter = int(fraction * 4)
                if quarter == self._last_quarter:
                    return
                self._last_quarter = quarter
                self.stream.write(text + "\n")
            self.stream.flush()


ROLLOUT_ORDER = ("SUCCEEDED", "FAILED", "REJECTED", "TIMED_OUT", "CANCELED", "REMOVED", "IN_PROGRESS", "QUEUED")


def rollout_line(counts: Mapping[str, int], total: int, status: str) -> str:
    """One progress line: bar over finished executions, then counts by status."""
    done = sum(counts.get(k, 0) for k in ROLLOUT_ORDER[:6])
    fraction = done / total if total else 0.0
    parts = " ".join(f"{k.lower()}={counts[k]}" for k in ROLLOUT_ORDER if counts.get(k))
    return f"{status:<11} {bar(fraction)} {done}/{total} {parts}".rstrip()


class LineWriter:
    """Writes progress lines: redrawn in place on a TTY, appended (when changed) otherwise."""

    def __init__(self, stream: TextIO, tty: bool | None = None) -> None:
        self.stream = stream
        self.tty = stream.isatty() if tty is None else tty
        self._last = ""

    def update(self, line: str) -> None:
        if line == self._last:
            return
        self._last = line
        self.stream.write(("\r\x1b[K" + line) if self.tty else line + "\n")
        self.stream.flush()

    def finish(self) -> None:
        if self.tty and self._last:
            self.stream.write("\n")
            self.stream.flush()
