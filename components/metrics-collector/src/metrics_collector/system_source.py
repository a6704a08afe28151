"""The system seam: every system read the collector makes goes through `SystemSource`.

`PsutilSource` is the only place that imports psutil. It reads directly (through `KernelFiles`)
what psutil reads slowly or not at all: mounts with both read-only flags, statvfs with inodes,
/proc/diskstats with busy and queue time, /proc/stat modes, PSI, links, the clock, the board and
the nucleus. Tests pass a fake returning the same typed readings (and real psutil named tuples
where psutil's own shape is kept). Methods are thin on purpose: filtering and arithmetic live in
the pure core.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

import psutil

from metrics_collector.kernel_files import KernelFiles
from metrics_collector.readings import (
    ClockState,
    CpuTimes,
    DiskIo,
    FsUsage,
    Link,
    MemoryDetail,
    NucleusProcess,
    Partition,
    Pressure,
    ProcessSample,
    Throttled,
)

__all__ = ["ProcessSample", "PsutilSource", "SystemSource"]


class SystemSource(Protocol):
    def cpu_percent(self) -> float: ...
    def cpu_percent_per_core(self) -> Sequence[float]: ...
    def cpu_times(self) -> Mapping[str, CpuTimes]: ...  # "total", "0", "1", ...
    def load_average(self) -> tuple[float, float, float]: ...
    def virtual_memory(self) -> Any: ...  # psutil svmem
    def memory_detail(self) -> MemoryDetail: ...
    def swap_memory(self) -> Any: ...  # psutil sswap
    def pressure(self) -> Mapping[str, Pressure]: ...  # empty without PSI
    def disk_partitions(self) -> Sequence[Partition]: ...
    def disk_usage(self, mountpoint: str) -> FsUsage: ...
    def disk_io_counters(self) -> Mapping[str, DiskIo]: ...
    def net_io_counters(self) -> Mapping[str, Any]: ...  # interface -> psutil snetio
    def links(self, interfaces: Iterable[str]) -> Mapping[str, Link]: ...
    def clock(self) -> ClockState: ...
    def throttled(self) -> Throttled | None: ...  # None off Raspberry Pi-class boards
    def cpu_frequencies(self) -> Mapping[str, float]: ...  # MHz per core; empty without cpufreq
    def nucleus(self, pid: int, match: Sequence[str]) -> NucleusProcess | None: ...
    def greengrass_root_usage(self) -> FsUsage | None: ...  # None when the root is not known
    def sensors_temperatures(self) -> Mapping[str, Sequence[Any]]: ...  # chip -> [psutil shwtemp]
    def boot_time(self) -> float: ...
    def process_count(self) -> int: ...
    def processes(self) -> Sequence[ProcessSample]: ...


class PsutilSource:
    """SystemSource over the real psutil and the kernel's files."""

    def __init__(self, kernel: KernelFiles | None = None) -> None:
        self.kernel = kernel if kernel is not None else KernelFiles.from_environment(os.environ)

    def prime(self) -> None:
        # cpu_percent(interval=None) compares with the previous call and returns 0.0 the first
        # time; one call at start makes the first real sample meaningful.
        psutil.cpu_percent(interval=None)
        psutil.cpu_percent(interval=None, percpu=True)

    def cpu_percent(self) -> float:
        return psutil.cpu_percent(interval=None)

    def cpu_percent_per_core(self) -> Sequence[float]:
        return psutil.cpu_percent(interval=None, percpu=True)

    def load_average(self) -> tuple[float, float, float]:
        return psutil.getloadavg()

    def virtual_memory(self) -> Any:
        return psutil.virtual_memory()

    def swap_memory(self) -> Any:
        return psutil.swap_memory()

    def cpu_times(self) -> Mapping[str, CpuTimes]:
        return self.kernel.cpu_times()

    def memory_detail(self) -> MemoryDetail:
        return self.kernel.memory_detail()

    def pressure(self) -> Mapping[str, Pressure]:
        return self.kernel.pressure()

    def disk_partitions(self) -> Sequence[Partition]:
        # Like psutil's all=False (devices of non-nodev filesystem types), from mountinfo, which
        # also tells a read-only superblock under a read-write mount.
        return self.kernel.partitions()

    def disk_usage(self, mountpoint: str) -> FsUsage:
        return self.kernel.fs_usage(mountpoint)

    def disk_io_counters(self) -> Mapping[str, DiskIo]:
        # psutil's perdisk counters lack the weighted time (queue depth); same devices and bytes.
        # A 32-bit counter wrap (armv7) shows as a reset: one sample without a rate.
        return self.kernel.disk_io()

    def links(self, interfaces: Iterable[str]) -> Mapping[str, Link]:
        return self.kernel.links(interfaces)

    def clock(self) -> ClockState:
        return self.kernel.clock()

    def throttled(self) -> Throttled | None:
        return self.kernel.throttled()

    def cpu_frequencies(self) -> Mapping[str, float]:
        return self.kernel.cpu_frequencies()

    def nucleus(self, pid: int, match: Sequence[str]) -> NucleusProcess | None:
        return self.kernel.nucleus(pid, match)

    def greengrass_root_usage(self) -> FsUsage | None:
        return self.kernel.greengrass_root_usage()

    def net_io_counters(self) -> Mapping[str, Any]:
        return psutil.net_io_counters(pernic=True, nowrap=True) or {}

    def sensors_temperatures(self) -> Mapping[str, Sequence[Any]]:
        read = getattr(psutil, "sensors_temperatures", None)  # absent on some platforms
        return read() if read is not None else {}

    def boot_time(self) -> float:
        return psutil.boot_time()

    def process_count(self) -> int:
        return len(psutil.pids())

    def processes(self) -> Sequence[ProcessSample]:
        samples = []
        # process_iter caches Process objects between calls, so cpu_percent is a real delta from
        # the second call on; processes that vanish or deny access give None and are skipped.
        for proc in psutil.process_iter(["name", "cpu_percent", "memory_info"]):
            info = proc.info
            if info.get("cpu_percent") is None or info.get("memory_info") is None:
                continue
            samples.append(
                ProcessSample(
                    pid=proc.pid,
                    name=info.get("name") or "",
                    cpu_percent=float(info["cpu_percent"]),
                    rss_bytes=int(info["memory_info"].rss),
                )
            )
        return samples
