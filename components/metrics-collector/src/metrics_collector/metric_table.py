"""Every system metric the collector publishes, as a table of pure value functions over a snapshot.

A spec yields (labels, value) pairs. `counter=True` marks cumulative counters: the sampler turns
them into per-second rates, so `unit` is the unit of the rate; `scale` multiplies the published
value (ms of busy time per second x 0.1 = percent busy). The README's metric list follows this
table, and a test checks that every spec yields a value from a full fake source.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

from metrics_collector.readings import (
    ClockState,
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
from metrics_collector.snapshot import SystemSnapshot

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
    scale: float = 1.0


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


def _disk(value: Callable[[FsUsage], float]) -> Callable[[SystemSnapshot], Iterable[Reading]]:
    return lambda s: [(_disk_labels(d.partition), float(value(d.usage))) for d in s.disks]


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


def _maybe(value: float | int | None) -> Iterable[Reading]:
    return [] if value is None else [(NO_LABELS, float(value))]


def _cpu_modes(s: SystemSnapshot) -> Iterable[Reading]:
    return [({"cpu": cpu, "mode": mode}, value) for (cpu, mode), value in s.cpu_mode_percent.items()]


def _memory_detail(value: Callable[[MemoryDetail], int | None]) -> Callable[[SystemSnapshot], Iterable[Reading]]:
    return lambda s: [] if s.memory_detail is None else _maybe(value(s.memory_detail))


def _pressure(value: Callable[[Pressure], float | None]) -> Callable[[SystemSnapshot], Iterable[Reading]]:
    return lambda s: [
        ({"resource": resource}, float(v)) for resource, p in s.pressure.items() if (v := value(p)) is not None
    ]


def _disk_labels(d: Partition) -> Labels:
    return {"mount": d.mountpoint, "device": d.device, "fstype": d.fstype}


def _inodes(value: Callable[[FsUsage], float]) -> Callable[[SystemSnapshot], Iterable[Reading]]:
    # Filesystems without a fixed inode table (btrfs, vfat, some FUSE) report 0 inodes: absent.
    return lambda s: [(_disk_labels(d.partition), float(value(d.usage))) for d in s.disks if d.usage.inodes_total > 0]


def _read_only(s: SystemSnapshot) -> Iterable[Reading]:
    return [(_disk_labels(m), 1.0 if s.disk_read_only.get(m.mountpoint) else 0.0) for m in s.mounts]


def _link(value: Callable[[Link], float | None]) -> Callable[[SystemSnapshot], Iterable[Reading]]:
    return lambda s: [
        ({"interface": nic}, float(v)) for nic, link in s.links.items() if (v := value(link)) is not None
    ]


def _clock(value: Callable[[ClockState], float]) -> Callable[[SystemSnapshot], Iterable[Reading]]:
    return lambda s: [] if s.clock is None else [(NO_LABELS, float(value(s.clock)))]


def _board(flag: Callable[[Throttled], bool]) -> Callable[[SystemSnapshot], Iterable[Reading]]:
    return lambda s: [] if s.throttled is None else [(NO_LABELS, 1.0 if flag(s.throttled) else 0.0)]


def _frequencies(s: SystemSnapshot) -> Iterable[Reading]:
    return [({"cpu": cpu}, mhz) for cpu, mhz in s.cpu_frequencies.items()]


def _nucleus(value: Callable[[NucleusProcess], float]) -> Callable[[SystemSnapshot], Iterable[Reading]]:
    return lambda s: [] if s.nucleus is None else [(NO_LABELS, float(value(s.nucleus)))]


def _nucleus_cpu(s: SystemSnapshot) -> Iterable[Reading]:
    # After a nucleus restart the series is left out once, so the next tick is a fresh baseline.
    return [] if s.nucleus is None or s.nucleus_replaced else [(NO_LABELS, s.nucleus.cpu_seconds)]


def _root(s: SystemSnapshot) -> Iterable[Reading]:
    return [] if s.greengrass_root is None else [(NO_LABELS, float(s.greengrass_root.free))]


def _root_percent(s: SystemSnapshot) -> Iterable[Reading]:
    return [] if s.greengrass_root is None else [(NO_LABELS, float(s.greengrass_root.percent))]


SYSTEM_METRICS: tuple[MetricSpec[SystemSnapshot], ...] = (
    MetricSpec("cpu.percent", "%", "cpu", _cpu_total),
    MetricSpec("cpu.percent", "%", "cpu", _cpu_cores),
    MetricSpec("cpu.mode_percent", "%", "cpu", _cpu_modes),
    MetricSpec("load.1m", "", "load", _load(0)),
    MetricSpec("load.5m", "", "load", _load(1)),
    MetricSpec("load.15m", "", "load", _load(2)),
    MetricSpec("memory.total", "B", "memory", _memory(lambda m: m.total)),
    MetricSpec("memory.used", "B", "memory", _memory(lambda m: m.used)),
    MetricSpec("memory.available", "B", "memory", _memory(lambda m: m.available)),
    MetricSpec("memory.percent", "%", "memory", _memory(lambda m: m.percent)),
    MetricSpec("memory.buffers", "B", "memory", _memory_detail(lambda m: m.buffers)),
    MetricSpec("memory.cached", "B", "memory", _memory_detail(lambda m: m.cached)),
    MetricSpec("memory.dirty", "B", "memory", _memory_detail(lambda m: m.dirty)),
    MetricSpec("memory.oom_kills", "kills/s", "memory", _memory_detail(lambda m: m.oom_kills), counter=True),
    MetricSpec("memory.major_faults", "faults/s", "memory", _memory_detail(lambda m: m.major_faults), counter=True),
    MetricSpec("swap.total", "B", "swap", _swap(lambda m: m.total)),
    MetricSpec("swap.used", "B", "swap", _swap(lambda m: m.used)),
    # Swap has no "available" distinct from free; free is what a new allocation can use.
    MetricSpec("swap.available", "B", "swap", _swap(lambda m: m.free)),
    MetricSpec("swap.percent", "%", "swap", _swap(lambda m: m.percent)),
    MetricSpec("pressure.some_avg10", "%", "pressure", _pressure(lambda p: p.some_avg10)),
    MetricSpec("pressure.some_avg60", "%", "pressure", _pressure(lambda p: p.some_avg60)),
    MetricSpec("pressure.full_avg10", "%", "pressure", _pressure(lambda p: p.full_avg10)),
    MetricSpec("pressure.full_avg60", "%", "pressure", _pressure(lambda p: p.full_avg60)),
    MetricSpec("disk.total", "B", "disk", _disk(lambda d: d.total)),
    MetricSpec("disk.used", "B", "disk", _disk(lambda d: d.used)),
    MetricSpec("disk.available", "B", "disk", _disk(lambda d: d.free)),
    MetricSpec("disk.percent", "%", "disk", _disk(lambda d: d.percent)),
    MetricSpec("disk.inodes_total", "", "disk", _inodes(lambda d: d.inodes_total)),
    MetricSpec("disk.inodes_used", "", "disk", _inodes(lambda d: d.inodes_total - d.inodes_free)),
    MetricSpec(
        "disk.inodes_percent", "%", "disk", _inodes(lambda d: (d.inodes_total - d.inodes_free) * 100.0 / d.inodes_total)
    ),
    MetricSpec("disk.read_only", "", "disk", _read_only),
    MetricSpec("diskio.read_bytes", "B/s", "diskio", _disk_io(lambda d: d.read_bytes), counter=True),
    MetricSpec("diskio.write_bytes", "B/s", "diskio", _disk_io(lambda d: d.write_bytes), counter=True),
    MetricSpec("diskio.read_ops", "ops/s", "diskio", _disk_io(lambda d: d.read_count), counter=True),
    MetricSpec("diskio.write_ops", "ops/s", "diskio", _disk_io(lambda d: d.write_count), counter=True),
    # io_ticks and the weighted time are ms: busy ms per s / 10 = %, in-flight ms per s / 1000 = requests.
    MetricSpec("diskio.busy_percent", "%", "diskio", _disk_io(lambda d: d.busy_ms), counter=True, scale=0.1),
    MetricSpec("diskio.queue_depth", "", "diskio", _disk_io(lambda d: d.weighted_ms), counter=True, scale=0.001),
    MetricSpec("net.bytes_recv", "B/s", "network", _net(lambda d: d.bytes_recv), counter=True),
    MetricSpec("net.bytes_sent", "B/s", "network", _net(lambda d: d.bytes_sent), counter=True),
    MetricSpec("net.packets_recv", "packets/s", "network", _net(lambda d: d.packets_recv), counter=True),
    MetricSpec("net.packets_sent", "packets/s", "network", _net(lambda d: d.packets_sent), counter=True),
    MetricSpec("net.errors_in", "errors/s", "network", _net(lambda d: d.errin), counter=True),
    MetricSpec("net.errors_out", "errors/s", "network", _net(lambda d: d.errout), counter=True),
    MetricSpec("net.drops_in", "drops/s", "network", _net(lambda d: d.dropin), counter=True),
    MetricSpec("net.drops_out", "drops/s", "network", _net(lambda d: d.dropout), counter=True),
    MetricSpec("net.link_up", "", "network", _link(lambda link: 1.0 if link.up else 0.0)),
    MetricSpec("net.speed_mbps", "Mbit/s", "network", _link(lambda link: link.speed_mbps)),
    MetricSpec("clock.synchronised", "", "clock", _clock(lambda c: 1.0 if c.synchronised else 0.0)),
    MetricSpec("clock.offset_seconds", "s", "clock", _clock(lambda c: c.offset_seconds)),
    MetricSpec("clock.max_error_seconds", "s", "clock", _clock(lambda c: c.max_error_seconds)),
    MetricSpec("board.under_voltage", "", "board", _board(lambda t: t.under_voltage)),
    MetricSpec("board.frequency_capped", "", "board", _board(lambda t: t.frequency_capped)),
    MetricSpec("board.throttled", "", "board", _board(lambda t: t.throttled)),
    MetricSpec("board.soft_temp_limit", "", "board", _board(lambda t: t.soft_temp_limit)),
    MetricSpec("board.under_voltage_since_boot", "", "board", _board(lambda t: t.under_voltage_since_boot)),
    MetricSpec("board.frequency_capped_since_boot", "", "board", _board(lambda t: t.frequency_capped_since_boot)),
    MetricSpec("board.throttled_since_boot", "", "board", _board(lambda t: t.throttled_since_boot)),
    MetricSpec("board.soft_temp_limit_since_boot", "", "board", _board(lambda t: t.soft_temp_limit_since_boot)),
    MetricSpec("cpu.frequency_mhz", "MHz", "board", _frequencies),
    MetricSpec("greengrass.nucleus_rss", "B", "greengrass", _nucleus(lambda n: n.rss_bytes)),
    MetricSpec("greengrass.nucleus_cpu_percent", "%", "greengrass", _nucleus_cpu, counter=True, scale=100.0),
    MetricSpec("greengrass.root_available", "B", "greengrass", _root),
    MetricSpec("greengrass.root_percent", "%", "greengrass", _root_percent),
    MetricSpec("temperature.current", "°C", "temperature", _temperatures),
    MetricSpec("system.uptime", "s", "system", _uptime),
    MetricSpec("system.boot_time", "s", "system", lambda s: _one(s.boot_time)),
    MetricSpec("system.process_count", "", "system", lambda s: _one(s.process_count)),
    MetricSpec("process.cpu_percent", "%", "processes", _top(lambda s: s.top_by_cpu, lambda p: p.cpu_percent)),
    MetricSpec("process.memory_rss", "B", "processes", _top(lambda s: s.top_by_memory, lambda p: p.rss_bytes)),
)
