"""Interface flags from one ioctl(SIOCGIFFLAGS) per interface, instead of opening sysfs files.

IFF_RUNNING is the kernel's "operationally up" (operstate up, or unknown for drivers that never
report a carrier), the same rule `kernel_files.link_state` applies to the sysfs files; it is about
a tenth of the cost of reading operstate and carrier.
"""

from __future__ import annotations

import fcntl
import os
import socket
import struct
from typing import Protocol

SIOCGIFFLAGS = 0x8913
IFF_UP = 0x1
IFF_RUNNING = 0x40
_IFREQ = struct.Struct("16sh22x")  # struct ifreq: the name, then the union (ifr_flags is a short)


class LinkFlags(Protocol):
    def running(self, name: str) -> bool: ...


class InterfaceFlags:
    def __init__(self) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

    def running(self, name: str) -> bool:
        """Administratively and operationally up; raises OSError (ENODEV) for an interface that is gone."""
        request = _IFREQ.pack(os.fsencode(name)[:15], 0)
        flags = _IFREQ.unpack(fcntl.ioctl(self._socket.fileno(), SIOCGIFFLAGS, request))[1] & 0xFFFF
        return flags & (IFF_UP | IFF_RUNNING) == IFF_UP | IFF_RUNNING

    def close(self) -> None:
        self._socket.close()
