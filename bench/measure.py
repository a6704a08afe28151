"""What the benchmarks measure a process with, in one place: peak RSS, CPU seconds, a free port.

Imported by the scripts in this folder (run as `python bench/<name>.py`, so this folder is on the path).
"""

from __future__ import annotations

import socket

import psutil


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def peak_rss(pid: int) -> int:
    """The kernel's high-water mark of the process's resident memory (VmHWM), in bytes."""
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def cpu_seconds(process: psutil.Process, *, with_children: bool = False) -> float:
    """User + system CPU of the process (and of its waited-for children, when asked)."""
    times = process.cpu_times()
    total = times.user + times.system
    if with_children:
        total += times.children_user + times.children_system
    return total
