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
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

import psutil

from metrics_collector.kernel_files import KernelFiles, memory_detail, memory_of, swap_of
from metrics_collector.rates import busy_percent
from metrics_collector.readings import (
    ClockState,
    CpuTimes,
    DiskIo,
    FsUsage,
    Link,
    Memory,
    MemoryDetail,
    NetIo,
    NucleusProcess,
    Partition,
    Pressure,
    ProcessSample,
    Swap,
    Throttled,
)

T = TypeVar("T")

__all__ = ["ProcessSample", "PsutilSource", "SystemSource"]


class SystemSource(Protocol):
    def begin_tick(self) -> None: ...  # a new tick: nothing read before it is reused
    def cpu_percent(self) -> float: ...
    def cpu_percent_per_core(self) -> Sequence[float]: ...
    def cpu_times(self) -> Mapping[str, CpuTimes]: ...  # "total", "0", "1", ...
    def load_average(self) -> tuple[float, float, float]: ...
    def virtual_memory(self) -> Any: ...  # psutil svmem or Memory
    def memory_detail(self) -> MemoryDetail: ...
    def swap_memory(self) -> Any: ...  # psutil sswap or Swap
    def pressure(self) -> Mapping[str, Pressure]: ...  # empty without PSI
    def disk_partitions(self) -> Sequence[Partition]: ...
    def disk_usage(self, mountpoint: str) -> FsUsage: ...
    def disk_io_counters(self, keep: Callable[[str], bool]) -> Mapping[str, DiskIo]: ...  # devices `keep` accepts
    def net_io_counters(self) -> Mapping[str, Any]: ...  # interface -> psutil snetio or NetIo
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
    """SystemSource over the real psutil and the kernel's files.

    Within one tick (from `begin_tick`), each file is read once: /proc/stat gives CPU percent
    (psutil's formula), per core and per mode; /proc/meminfo gives memory, swap and their detail.
    """

    def __init__(self, kernel: KernelFiles | None = None) -> None:
        self.kernel = kernel if kernel is not None else KernelFiles.from_environment(os.environ)
        self._tick: dict[str, Any] = {}
        self._last_cpu_times: Mapping[str, CpuTimes] = {}

    def begin_tick(self) -> None:
        self._tick = {}

    def _once(self, key: str, read: Callable[[], T]) -> T:
        if key not in self._tick:
            self._tick[key] = read()
        return self._tick[key]  # type: ignore[no-any-return]

    def prime(self) -> None:
        # CPU percent compares with the previous read; a read at start makes the first sample meaningful.
        self._last_cpu_times = self.kernel.cpu_times()

    def _stat(self) -> tuple[Mapping[str, CpuTimes], float, list[float], float | None]:
        def read() -> tuple[Mapping[str, CpuTimes], float, list[float], float | None]:
            times, boot_time = self.kernel.stat()
            before = self._last_cpu_times
            self._last_cpu_times = times
            busy = {cpu: busy_percent(before.get(cpu, now), now) for cpu, now in times.items()}
            return times, busy.pop("total", 0.0), list(busy.values()), boot_time

        return self._once("stat", read)

    def _cpu(self) -> tuple[Mapping[str, CpuTimes], float, list[float], float | None]:
        return self._stat()

    def cpu_percent(self) -> float:
        return self._cpu()[1]

    def cpu_percent_per_core(self) -> Sequence[float]:
        return self._cpu()[2]

    def cpu_times(self) -> Mapping[str, CpuTimes]:
        return self._cpu()[0]

    def load_average(self) -> tuple[float, float, float]:
        return os.getloadavg()

    def _meminfo(self) -> Mapping[str, int]:
        return self._once("meminfo", self.kernel.meminfo)

    def virtual_memory(self) -> Memory:
        return memory_of(self._meminfo())

    def swap_memory(self) -> Swap:
        return swap_of(self._meminfo())

    def memory_detail(self) -> MemoryDetail:
        return memory_detail(self._meminfo(), self.kernel.vmstat())

    def pressure(self) -> Mapping[str, Pressure]:
        return self.kernel.pressure()

    def disk_partitions(self) -> Sequence[Partition]:
        # Like psutil's all=False (devices of non-nodev filesystem types), from mountinfo, which
        # also tells a read-only superblock under a read-write mount.
        return self.kernel.partitions()

    def disk_usage(self, mountpoint: str) -> FsUsage:
        return self.kernel.fs_usage(mountpoint)

    def disk_io_counters(self, keep: Callable[[str], bool]) -> Mapping[str, DiskIo]:
        # psutil's perdisk counters lack the weighted time (queue depth); same devices and bytes.
        # A 32-bit counter wrap (armv7) shows as a reset: one sample without a rate.
        return self.kernel.disk_io(keep)

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

    def net_io_counters(self) -> Mapping[str, NetIo]:
        return self.kernel.net_io()

    def sensors_temperatures(self) -> Mapping[str, Sequence[Any]]:
        read = getattr(psutil, "sensors_temperatures", None)  # absent on some platforms
        return read() if read is not None else {}

    def boot_time(self) -> float:
        boot_time = self._stat()[3]
        return boot_time if boot_time is not None else psutil.boot_time()

    def process_count(self) -> int:
        return self.kernel.process_count()

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
