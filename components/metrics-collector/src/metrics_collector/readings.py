"""Typed values of the system reads: what `SystemSource` returns and `SystemSnapshot` holds.

Every metric value function reads these fields by name in code (not strings), so a misspelt field
is an AttributeError that the metric-table test catches. The `of` constructors take psutil's named
tuples (duck-typed: psutil keeps them in a private module).

The values read every tick are plain slots dataclasses, not frozen ones: a frozen dataclass sets
each field through object.__setattr__, several times slower, and a tick builds dozens of these.
Nothing mutates them after construction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# /proc/stat columns, in order; guest and guest_nice are already counted in user and nice.
CPU_MODES: tuple[str, ...] = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")


@dataclass(slots=True)
class Memory:
    total: int
    used: int
    available: int
    percent: float

    @classmethod
    def of(cls, v: Any) -> Memory:  # psutil svmem
        return cls(v.total, v.used, v.available, v.percent)


@dataclass(slots=True)
class MemoryDetail:
    """From /proc/meminfo and /proc/vmstat; a field the kernel does not report is None."""

    buffers: int | None = None
    cached: int | None = None  # page cache + reclaimable slab, as `free` shows it
    dirty: int | None = None
    oom_kills: int | None = None  # counter (vmstat oom_kill, Linux 4.13+)
    major_faults: int | None = None  # counter (vmstat pgmajfault)


@dataclass(slots=True)
class Swap:
    total: int
    used: int
    free: int
    percent: float

    @classmethod
    def of(cls, v: Any) -> Swap:  # psutil sswap
        return cls(v.total, v.used, v.free, v.percent)


@dataclass(slots=True)
class CpuTimes:
    """Cumulative ticks per mode of one /proc/stat line (`cpu` or `cpuN`)."""

    user: int
    nice: int
    system: int
    idle: int
    iowait: int
    irq: int
    softirq: int
    steal: int

    def modes(self) -> dict[str, int]:
        return {
            "user": self.user, "nice": self.nice, "system": self.system, "idle": self.idle,
            "iowait": self.iowait, "irq": self.irq, "softirq": self.softirq, "steal": self.steal,
        }  # fmt: skip


@dataclass(slots=True)
class Pressure:
    """One /proc/pressure/<resource> file; `full_*` is None where the kernel has no full line (cpu before 5.13)."""

    some_avg10: float
    some_avg60: float
    full_avg10: float | None = None
    full_avg60: float | None = None


@dataclass(frozen=True)
class Partition:
    device: str
    mountpoint: str
    fstype: str
    # Read-only flag of this mount, and of the filesystem below it. A filesystem the kernel
    # remounted read-only after an error (ext4 errors=remount-ro) shows as a rw mount over a ro
    # superblock in /proc/self/mountinfo.
    read_only: bool = False
    superblock_read_only: bool = False
    device_number: str = ""  # "major:minor" from mountinfo


@dataclass(slots=True)
class FsUsage:
    """One statvfs(): bytes as psutil.disk_usage computes them, and inodes (0 total: none reported)."""

    total: int
    used: int
    free: int
    percent: float
    inodes_total: int = 0
    inodes_free: int = 0
    read_only: bool = False  # statvfs ST_RDONLY: the mount or its superblock


@dataclass(slots=True)
class DiskUsage:
    """A selected mount and what statvfs() said of it."""

    partition: Partition
    usage: FsUsage


@dataclass(slots=True)
class DiskIo:
    read_bytes: int
    write_bytes: int
    read_count: int
    write_count: int
    busy_ms: int = 0  # io_ticks: ms with at least one request in flight
    weighted_ms: int = 0  # ms spent by all requests in flight (sum); its rate is the average queue depth


@dataclass(slots=True)
class NetIo:
    bytes_recv: int
    bytes_sent: int
    packets_recv: int
    packets_sent: int
    errin: int
    errout: int
    dropin: int
    dropout: int

    @classmethod
    def of(cls, v: Any) -> NetIo:  # psutil snetio
        return cls(v.bytes_recv, v.bytes_sent, v.packets_recv, v.packets_sent, v.errin, v.errout, v.dropin, v.dropout)


@dataclass(slots=True)
class Link:
    up: bool
    speed_mbps: int | None = None  # None when the driver reports none (down, virtual, wireless)


@dataclass(frozen=True)
class Temperature:
    label: str
    current: float | None

    @classmethod
    def of(cls, v: Any) -> Temperature:  # psutil shwtemp
        return cls(v.label or "", v.current)


@dataclass(slots=True)
class ClockState:
    synchronised: bool
    offset_seconds: float
    max_error_seconds: float


@dataclass(frozen=True)
class Throttled:
    """The Raspberry Pi firmware's get_throttled bits; `*_since_boot` are the sticky bits 16-19."""

    under_voltage: bool
    frequency_capped: bool
    throttled: bool
    soft_temp_limit: bool
    under_voltage_since_boot: bool = False
    frequency_capped_since_boot: bool = False
    throttled_since_boot: bool = False
    soft_temp_limit_since_boot: bool = False

    @classmethod
    def from_bits(cls, value: int) -> Throttled:
        bit = lambda n: bool(value >> n & 1)  # noqa: E731
        return cls(bit(0), bit(1), bit(2), bit(3), bit(16), bit(17), bit(18), bit(19))


@dataclass(frozen=True)
class NucleusProcess:
    pid: int
    rss_bytes: int
    cpu_seconds: float  # user + system, cumulative


@dataclass(frozen=True)
class ProcessSample:
    pid: int
    name: str
    cpu_percent: float
    rss_bytes: int
