"""Fakes for the collector's seams: a system source returning REAL psutil named tuples where psutil's
shape is kept (memory, swap, network, temperatures) and the collector's typed readings elsewhere; a
clock. The kernel files themselves are tested with real-shaped files in test_kernel_files.py."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

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
from psutil._ntuples import shwtemp, snetio, sswap, svmem


def disk_io(
    read_bytes: int = 0, write_bytes: int = 0, reads: int = 0, writes: int = 0, busy_ms: int = 0, weighted_ms: int = 0
) -> DiskIo:
    return DiskIo(read_bytes, write_bytes, reads, writes, busy_ms, weighted_ms)


def fs_usage(total: int, used: int, free: int, percent: float, inodes: int = 1_000, inodes_free: int = 900) -> FsUsage:
    return FsUsage(total, used, free, percent, inodes, inodes_free)


def cpu_times(user: int = 0, system: int = 0, idle: int = 0, iowait: int = 0, steal: int = 0) -> CpuTimes:
    return CpuTimes(user, 0, system, idle, iowait, 0, 0, steal)


def net_io(sent: int = 0, recv: int = 0, psent: int = 0, precv: int = 0, errin: int = 0, dropin: int = 0) -> snetio:
    return snetio(sent, recv, psent, precv, errin, 0, dropin, 0)


def partition(device: str, mount: str, fstype: str = "ext4", read_only: bool = False) -> Partition:
    return Partition(device, mount, fstype, read_only)


@dataclass
class FakeSource:
    """SystemSource whose readings tests set directly; an Exception value is raised when read."""

    cpu: Any = 12.5
    per_core: Any = field(default_factory=lambda: [10.0, 15.0])
    load: Any = (0.5, 0.25, 0.125)
    memory: Any = field(
        default_factory=lambda: svmem(8_000, 6_000, 25.0, 2_000, 1_000, 0, 0, 0, 0, 0, 0)
    )
    swap: Any = field(default_factory=lambda: sswap(1_000, 100, 900, 10.0, 0, 0))
    partitions: Any = field(
        default_factory=lambda: [partition("/dev/sda1", "/"), partition("/dev/sdb1", "/data", "xfs")]
    )
    usage: dict[str, Any] = field(
        default_factory=lambda: {
            "/": fs_usage(100_000, 40_000, 60_000, 40.0),
            "/data": fs_usage(200_000, 50_000, 150_000, 25.0),
        }
    )
    disks_io: Any = field(default_factory=lambda: {"sda": disk_io(), "loop0": disk_io()})
    nics: Any = field(default_factory=lambda: {"eth0": net_io(), "lo": net_io()})
    times: Any = field(default_factory=lambda: {"total": cpu_times(), "0": cpu_times(), "1": cpu_times()})
    memory_extra: Any = field(default_factory=lambda: MemoryDetail(100, 1_000, 10, 0, 0))
    psi: Any = field(default_factory=lambda: {r: Pressure(0.5, 0.25, 0.0, 0.0) for r in ("cpu", "memory", "io")})
    link_states: Any = field(default_factory=dict)  # interface -> Link; others are up at 1000 Mbit/s
    clock_state: Any = field(default_factory=lambda: ClockState(True, 0.000_2, 0.01))
    throttled_state: Any = None  # not a Raspberry Pi
    frequencies: Any = field(default_factory=dict)
    nucleus_process: Any = None
    root_usage: Any = None
    temperatures: Any = field(default_factory=dict)
    boot: Any = 1_000.0
    proc_count: Any = 42
    procs: Any = field(default_factory=list)
    temperature_reads: int = 0

    @staticmethod
    def _give(value: Any) -> Any:
        if isinstance(value, Exception):
            raise value
        return value

    def begin_tick(self) -> None:
        pass

    def cpu_percent(self) -> float:
        return self._give(self.cpu)

    def cpu_percent_per_core(self) -> Sequence[float]:
        return self._give(self.per_core)

    def load_average(self) -> tuple[float, float, float]:
        return self._give(self.load)

    def virtual_memory(self) -> Any:
        return self._give(self.memory)

    def swap_memory(self) -> Any:
        return self._give(self.swap)

    def cpu_times(self) -> Mapping[str, CpuTimes]:
        return self._give(self.times)

    def memory_detail(self) -> MemoryDetail:
        return self._give(self.memory_extra)

    def pressure(self) -> Mapping[str, Pressure]:
        return self._give(self.psi)

    def links(self, interfaces: Iterable[str]) -> Mapping[str, Link]:
        states = self._give(self.link_states)
        return {nic: states.get(nic, Link(True, 1_000)) for nic in interfaces}

    def clock(self) -> ClockState:
        return self._give(self.clock_state)

    def throttled(self) -> Throttled | None:
        return self._give(self.throttled_state)

    def cpu_frequencies(self) -> Mapping[str, float]:
        return self._give(self.frequencies)

    def nucleus(self, pid: int, match: Sequence[str]) -> NucleusProcess | None:
        return self._give(self.nucleus_process)

    def greengrass_root_usage(self) -> FsUsage | None:
        return self._give(self.root_usage)

    def disk_partitions(self) -> Sequence[Any]:
        return self._give(self.partitions)

    def disk_usage(self, mountpoint: str) -> Any:
        return self._give(self.usage[mountpoint])

    def disk_io_counters(self, keep: Callable[[str], bool]) -> Mapping[str, Any]:
        return {dev: c for dev, c in self._give(self.disks_io).items() if keep(dev)}

    def net_io_counters(self) -> Mapping[str, Any]:
        return self._give(self.nics)

    def sensors_temperatures(self) -> Mapping[str, Sequence[Any]]:
        self.temperature_reads += 1
        return self._give(self.temperatures)

    def boot_time(self) -> float:
        return self._give(self.boot)

    def process_count(self) -> int:
        return self._give(self.proc_count)

    def processes(self) -> Sequence[ProcessSample]:
        return self._give(self.procs)


@dataclass
class FakeClock:
    now: float = 1_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def temperature(label: str, current: float) -> shwtemp:
    return shwtemp(label, current, None, None)


def full_source() -> FakeSource:
    """A source with every reading present, so every metric of the table has something to show."""
    return FakeSource(
        temperatures={"coretemp": [temperature("Package id 0", 48.0)]},
        procs=[ProcessSample(7, "busy", 50.0, 4_096)],
        throttled_state=Throttled.from_bits(0x50005),
        frequencies={"0": 1_500.0, "1": 600.0},
        nucleus_process=NucleusProcess(4242, 180_000_000, 12.5),
        root_usage=fs_usage(1_000_000, 950_000, 50_000, 95.0),
    )
