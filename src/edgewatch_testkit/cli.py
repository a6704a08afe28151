"""The `edgewatch` command as tests run it: a subprocess of this interpreter, no terminal."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterable
from typing import Protocol


class Built(Protocol):
    name: str
    version: str


def edgewatch(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edgewatch.cli", *args], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)  # fmt: skip


def merge_args(built: Iterable[Built]) -> list[str]:
    """`--merge NAME=VERSION` for each built component, for `edgewatch local deployment create`."""
    return [arg for b in built for arg in ("--merge", f"{b.name}={b.version}")]
