"""Fakes for the collector's seams: a psutil source returning REAL psutil named tuples, a clock."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from metrics_collector.system_source import ProcessSample
from psutil._ntuples import sdiskio, sdiskpart, sdiskusage, shwtemp, snetio, sswap, svmem


def disk_io(read_bytes: int = 0, write_bytes: int = 0, reads: int = 0, writes: int = 0) -> sdiskio:
    return sdiskio(reads, writes, read_bytes, write_bytes, 0, 0, 0, 0, 0)


def net_io(sent: int = 0, recv: int = 0, psent: int = 0, precv: int = 0, errin: int = 0, dropin: int = 0) -> snetio:
    return snetio(sent, recv, psent, precv, errin, 0, dropin, 0)


def partition(device: str, mount: str, fstype: str = "ext4") -> sdiskpart:
    return sdiskpart(device, mount, fstype, "rw")


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
            "/": sdiskusage(100_000, 40_000, 60_000, 40.0),
            "/data": sdiskusage(200_000, 50_000, 150_000, 25.0),
        }
    )
    disks_io: Any = field(default_factory=lambda: {"sda": disk_io(), "loop0": disk_io()})
    nics: Any = field(default_factory=lambda: {"eth0": net_io(), "lo": net_io()})
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

    def disk_partitions(self) -> Sequence[Any]:
        return self._give(self.partitions)

    def disk_usage(self, mountpoint: str) -> Any:
        return self._give(self.usage[mountpoint])

    def disk_io_counters(self) -> Mapping[str, Any]:
        return self._give(self.disks_io)

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
    )
