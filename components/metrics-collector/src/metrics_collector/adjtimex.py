"""The kernel clock's synchronisation state, from adjtimex(2) with modes 0 (read only, no privilege).

Whichever daemon disciplines the clock (chrony, systemd-timesyncd, ntpd) tells the kernel through
the same call, so no daemon-specific parsing is needed. Not synchronised: the STA_UNSYNC status bit
is set, or the call returns TIME_ERROR (the clock is unsynchronised or the state is unknown).
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Callable

from metrics_collector.readings import ClockState

STA_UNSYNC = 0x0040
STA_NANO = 0x2000
TIME_ERROR = 5


class Timex(ctypes.Structure):
    # struct timex of <sys/timex.h>; the kernel's syscall longs are C longs for the plain `adjtimex`
    # symbol on every Linux ABI we ship for (amd64, aarch64, armv7 without _TIME_BITS=64).
    _fields_ = [
        ("modes", ctypes.c_uint),
        ("offset", ctypes.c_long),
        ("freq", ctypes.c_long),
        ("maxerror", ctypes.c_long),
        ("esterror", ctypes.c_long),
        ("status", ctypes.c_int),
        ("constant", ctypes.c_long),
        ("precision", ctypes.c_long),
        ("tolerance", ctypes.c_long),
        ("time_sec", ctypes.c_long),
        ("time_usec", ctypes.c_long),
        ("tick", ctypes.c_long),
        ("ppsfreq", ctypes.c_long),
        ("jitter", ctypes.c_long),
        ("shift", ctypes.c_int),
        ("stabil", ctypes.c_long),
        ("jitcnt", ctypes.c_long),
        ("calcnt", ctypes.c_long),
        ("errcnt", ctypes.c_long),
        ("stbcnt", ctypes.c_long),
        ("tai", ctypes.c_int),
        ("_reserved", ctypes.c_int * 11),
    ]


def clock_state(result: int, status: int, offset: int, maxerror: int) -> ClockState:
    """Pure: adjtimex's return value and fields to what we publish (offset in ns with STA_NANO, else µs)."""
    synchronised = result != TIME_ERROR and not status & STA_UNSYNC
    offset_seconds = offset / (1e9 if status & STA_NANO else 1e6)
    return ClockState(synchronised, offset_seconds, maxerror / 1e6)


def libc_adjtimex() -> Callable[[Timex], int]:
    # The process's own symbols include libc (glibc and musl); ctypes.util.find_library would
    # run ldconfig or a compiler in a subprocess to find it.
    libc = ctypes.CDLL(None, use_errno=True)
    call = libc.adjtimex
    call.argtypes = [ctypes.POINTER(Timex)]
    call.restype = ctypes.c_int

    def adjtimex(timex: Timex) -> int:
        result = int(call(ctypes.byref(timex)))
        if result < 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"adjtimex: {os.strerror(errno)}")
        return result

    return adjtimex


_adjtimex: Callable[[Timex], int] | None = None


def read_clock() -> ClockState:
    global _adjtimex
    if _adjtimex is None:  # loaded at first use, not at import
        _adjtimex = libc_adjtimex()
    timex = Timex()
    timex.modes = 0
    result = _adjtimex(timex)
    return clock_state(result, timex.status, timex.offset, timex.maxerror)
