"""Every system metric the collector publishes, as a table of pure value functions over a snapshot.

A spec yields (labels, value) pairs. `counter=True` marks cumulative counters: the sampler turns
them into per-second rates, so `unit` is the unit of the rate. The README's metric list follows
this table.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

from metrics_collector.snapshot import DiskIo, DiskUsage, Memory, NetIo, Swap, SystemSnapshot
from metrics_collector.system_source import ProcessSample

S = TypeVar("S")
Labels = Mapping[str, str]
Reading = tuple[Labels, float]

NO_LABELS: Labels = {}


@dataclass(frozen=True)
class MetricSpec(Generic[S]):
    name: str
    unit: str
    group: str
    values: Callable[[S], Iterable[Reading]]
    counter: bool = False


def _one(value: float | None) -> Iterable[Reading]:
    return [] if value is None else [(NO_LABELS, float(value))]


def _cpu_total(s: SystemSnapshot) -> Iterable[Reading]:
    return [] if s.cpu_percent is None else [({"cpu": "total"}, float(s.cpu_percent))]


def _cpu_cores(s: SystemSnapshot) -> Iterable[Reading]:
    return [({"cpu": str(i)}, float(v)) for i, v in enumerate(s.cpu_percent_per_core)]


def _load(index: int) -> Callable[[SystemSnapshot], Iterable[Reading]]:
    return lambda s: [] if s.load_average is None else [(NO_LABELS, float(s.load_average[index]))]


def _memory(value: Callable[[Memory], float]) -> Callable[[SystemSnapshot], Iterable[Reading]]:
    return lambda s: [] if s.memory is None else [(NO_LABELS, float(value(s.memory)))]


def _swap(value: Callable[[Swap], float]) -> Callable[[SystemSnapshot], Iterable[Reading]]:
    return lambda s: [] if s.swap is None else [(NO_LABELS, float(value(s.swap)))]


def _disk(value: Callable[[DiskUsage], float]) -> Callable[[SystemSnapshot], Iterable[Reading]]:
    return lambda s: [
        ({"mount": d.mountpoint, "device": d.device, "fstype": d.fstype}, float(value(d))) for d in s.disks
    ]


def _disk_io(value: Callable[[DiskIo], float]) -> Callable[[SystemSnapshot], Iterable[Reading]]:
    return lambda s: [({"device": dev}, float(value(c))) for dev, c in s.disk_io.items()]


def _net(value: Callable[[NetIo], float]) -> Callable[[SystemSnapshot], Iterable[Reading]]:
    return lambda s: [({"interface": nic}, float(value(c))) for nic, c in s.net_io.items()]


def _temperatures(s: SystemSnapshot) -> Iterable[Reading]:
    return [
        ({"sensor": chip, "label": entry.label or f"{chip}{i}"}, float(entry.current))
        for chip, entries in s.temperatures.items()
        for i, entry in enumerate(entries)
        if entry.current is not None
    ]


def _uptime(s: SystemSnapshot) -> Iterable[Reading]:
    return [] if s.boot_time is None else [(NO_LABELS, max(0.0, s.wall_time - s.boot_time))]


def _top(
    procs: Callable[[SystemSnapshot], tuple[ProcessSample, ...]], value: Callable[[ProcessSample], float]
) -> Callable[[SystemSnapshot], Iterable[Reading]]:
    return lambda s: [
        ({"pid": str(p.pid), "process": p.name, "rank": str(rank)}, float(value(p)))
        for rank, p in enumerate(procs(s), start=1)
    ]


SYSTEM_METRICS: tuple[MetricSpec[SystemSnapshot], ...] = (
    MetricSpec("cpu.percent", "%", "cpu", _cpu_total),
    MetricSpec("cpu.percent", "%", "cpu", _cpu_cores),
    MetricSpec("load.1m", "", "load", _load(0)),
    MetricSpec("load.5m", "", "load", _load(1)),
    MetricSpec("load.15m", "", "load", _load(2)),
    MetricSpec("memory.total", "B", "memory", _memory(lambda m: m.total)),
    MetricSpec("memory.used", "B", "memory", _memory(lambda m: m.used)),
    MetricSpec("memory.available", "B", "memory", _memory(lambda m: m.available)),
    MetricSpec("memory.percent", "%", "memory", _memory(lambda m: m.percent)),
    MetricSpec("swap.total", "B", "swap", _swap(lambda m: m.total)),
    MetricSpec("swap.used", "B", "swap", _swap(lambda m: m.used)),
    # Swap has no "available" distinct from free; free is what a new allocation can use.
    MetricSpec("swap.available", "B", "swap", _swap(lambda m: m.free)),
    MetricSpec("swap.percent", "%", "swap", _swap(lambda m: m.percent)),
    MetricSpec("disk.total", "B", "disk", _disk(lambda d: d.total)),
    MetricSpec("disk.used", "B", "disk", _disk(lambda d: d.used)),
    MetricSpec("disk.available", "B", "disk", _disk(lambda d: d.free)),
    MetricSpec("disk.percent", "%", "disk", _disk(lambda d: d.percent)),
    MetricSpec("diskio.read_bytes", "B/s", "diskio", _disk_io(lambda d: d.read_bytes), counter=True),
    MetricSpec("diskio.write_bytes", "B/s", "diskio", _disk_io(lambda d: d.write_bytes), counter=True),
    MetricSpec("diskio.read_ops", "ops/s", "diskio", _disk_io(lambda d: d.read_count), counter=True),
    MetricSpec("diskio.write_ops", "ops/s", "diskio", _disk_io(lambda d: d.write_count), counter=True),
    MetricSpec("net.bytes_recv", "B/s", "network", _net(lambda d: d.bytes_recv), counter=True),
    MetricSpec("net.bytes_sent", "B/s", "network", _net(lambda d: d.bytes_sent), counter=True),
    MetricSpec("net.packets_recv", "packets/s", "network", _net(lambda d: d.packets_recv), counter=True),
    MetricSpec("net.packets_sent", "packets/s", "network", _net(lambda d: d.packets_sent), counter=True),
    MetricSpec("net.errors_in", "errors/s", "network", _net(lambda d: d.errin), counter=True),
    MetricSpec("net.errors_out", "errors/s", "network", _net(lambda d: d.errout), counter=True),
    MetricSpec("net.drops_in", "drops/s", "network", _net(lambda d: d.dropin), counter=True),
    MetricSpec("net.drops_out", "drops/s", "network", _net(lambda d: d.dropout), counter=True),
    MetricSpec("temperature.current", "°C", "temperature", _temperatures),
    MetricSpec("system.uptime", "s", "system", _uptime),
    MetricSpec("system.boot_time", "s", "system", lambda s: _one(s.boot_time)),
    MetricSpec("system.process_count", "", "system", lambda s: _one(s.process_count)),
    MetricSpec("process.cpu_percent", "%", "processes", _top(lambda s: s.top_by_cpu, lambda p: p.cpu_percent)),
    MetricSpec("process.memory_rss", "B", "processes", _top(lambda s: s.top_by_memory, lambda p: p.rss_bytes)),
)
