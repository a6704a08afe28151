"""Whether the mount table changed: the kernel flags an open /proc/self/mountinfo (POLLPRI) on
every mount, unmount and remount in this mount namespace, so the table is parsed again only then.

A read-only remount (`mount -o remount,ro`) is such a change. The one that is not, a filesystem
the kernel turns read-only itself after an error (ext4 errors=remount-ro), shows in the statvfs()
flags taken every tick (see `snapshot`).
"""

from __future__ import annotations

import os
import select
from typing import Protocol


class MountWatch(Protocol):
    def changed(self) -> bool: ...
    def read(self) -> str: ...


class MountTableWatch:
    def __init__(self, path: str = "/proc/self/mountinfo") -> None:
        self._fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        self._poll = select.poll()
        self._poll.register(self._fd, select.POLLPRI | select.POLLERR)

    def changed(self) -> bool:
        """True once per change since the last call (the kernel clears the flag as it reports it)."""
        return bool(self._poll.poll(0))

    def read(self) -> str:
        os.lseek(self._fd, 0, os.SEEK_SET)
        chunks = []
        while chunk := os.read(self._fd, 65536):
            chunks.append(chunk)
        return b"".join(chunks).decode("ascii", "replace")

    def close(self) -> None:
        os.close(self._fd)
