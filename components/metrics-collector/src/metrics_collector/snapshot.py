"""One tick's system reads, taken once into one frozen snapshot.

Each read is attempted on its own: a permission error or a vanished disk leaves that part empty
and is recorded in `failures`, and the other reads go on. Metric value functions then work on the
snapshot only, so a tick costs exactly one read of each source.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from metrics_collector.system_source import ProcessSample, SystemSource

T = TypeVar("T")

# Filesystems that hold no user data. disk_partitions(all=False) drops most of them already;
# squashfs (snaps) and overlay (containers) are real devices to psutil but not disks to watch.
PSEUDO_FILESYSTEMS = frozenset(
    {
        "autofs", "binfmt_misc", "bpf", "cgroup", "cgroup2", "configfs", "debugfs", "devpts",
        "devtmpfs", "efivarfs", "fusectl", "fuse.lxcfs", "fuse.portal", "hugetlbfs", "mqueue",
        "nsfs", "overlay", "proc", "pstore", "ramfs", "rpc_pipefs", "securityfs", "squashfs",
        "sysfs", "tmpfs", "tracefs",
    }
)  # fmt: skip


@dataclass(frozen=True)
class ReadPlan:
    """What to read this tick; derived from the configuration and the temperature cadence."""

    groups: frozenset[str]
    read_temperatures: bool = False
    top_processes: int = 0
    disk_include_mounts: tuple[str, ...] = ()
    disk_exclude_mounts: tuple[str, ...] = ()
    disk_io_exclude_devices: tuple[str, ...] = ()
    network_include_interfaces: tuple[str, ...] = ()
    network_exclude_interfaces: tuple[str, ...] = ("lo",)


@dataclass(frozen=True)
class Memory:
    total: int
    used: int
    available: int
    percent: float

    @classmethod
    def of(cls, v: Any) -> Memory:  # psutil svmem
        return cls(v.total, v.used, v.available, v.percent)


@dataclass(frozen=True)
class Swap:
    total: int
    used: int
    free: int
    percent: float

    @classmethod
    def of(cls, v: Any) -> Swap:  # psutil sswap
        return cls(v.total, v.used, v.free, v.percent)


@dataclass(frozen=True)
class DiskUsage:
    mountpoint: str
    device: str
    fstype: str
    total: int
    used: int
    free: int
    percent: float


@dataclass(frozen=True)
class DiskIo:
    read_bytes: int
    write_bytes: int
    read_count: int
    write_count: int

    @classmethod
    def of(cls, v: Any) -> DiskIo:  # psutil sdiskio
        return cls(v.read_bytes, v.write_bytes, v.read_count, v.write_count)


@dataclass(frozen=True)
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


@dataclass(frozen=True)
class Temperature:
    label: str
    current: float | None

    @classmethod
    def of(cls, v: Any) -> Temperature:  # psutil shwtemp
        return cls(v.label or "", v.current)


@dataclass(frozen=True)
class SystemSnapshot:
    wall_time: float
    cpu_percent: float | None = None
    cpu_percent_per_core: tuple[float, ...] = ()
    load_average: tuple[float, float, float] | None = None
    memory: Memory | None = None
    swap: Swap | None = None
    disks: tuple[DiskUsage, ...] = ()
    disk_io: Mapping[str, DiskIo] = field(default_factory=dict)
    net_io: Mapping[str, NetIo] = field(default_factory=dict)
    temperatures: Mapping[str, tuple[Temperature, ...]] = field(default_factory=dict)
    boot_time: float | None = None
    process_count: int | None = None
    top_by_cpu: tuple[ProcessSample, ...] = ()
    top_by_memory: tuple[ProcessSample, ...] = ()
    failures: tuple[str, ...] = ()


def selected(name: str, include: tuple[str, ...], exclude: tuple[str, ...]) -> bool:
    """Shell-style patterns: an empty include list means everything not excluded."""
    if include and not any(fnmatch.fnmatchcase(name, p) for p in include):
        return False
    return not any(fnmatch.fnmatchcase(name, p) for p in exclude)


def take_snapshot(source: SystemSource, plan: ReadPlan, wall_time: float) -> SystemSnapshot:
    failures: list[str] = []

    def attempt(what: str, read: Callable[[], T]) -> T | None:
        try:
            return read()
        except Exception as err:  # contained per read: a failed read is a missing metric
            failures.append(f"{what}: {type(err).__name__}: {err}")
            return None

    groups = plan.groups
    values: dict[str, Any] = {}
    if "cpu" in groups:
        values["cpu_percent"] = attempt("cpu_percent", source.cpu_percent)
        values["cpu_percent_per_core"] = tuple(attempt("cpu_percent_per_core", source.cpu_percent_per_core) or ())
    if "load" in groups:
        values["load_average"] = attempt("load_average", source.load_average)
    if "memory" in groups:
        values["memory"] = attempt("virtual_memory", lambda: Memory.of(source.virtual_memory()))
    if "swap" in groups:
        values["swap"] = attempt("swap_memory", lambda: Swap.of(source.swap_memory()))
    if "disk" in groups:
        values["disks"] = _read_disks(source, plan, attempt)
    if "diskio" in groups:
        values["disk_io"] = attempt("disk_io_counters", lambda: {
            dev: DiskIo.of(c)
            for dev, c in source.disk_io_counters().items()
            if selected(dev, (), plan.disk_io_exclude_devices)
        }) or {}  # fmt: skip
    if "network" in groups:
        values["net_io"] = attempt("net_io_counters", lambda: {
            nic: NetIo.of(c)
            for nic, c in source.net_io_counters().items()
            if selected(nic, plan.network_include_interfaces, plan.network_exclude_interfaces)
        }) or {}  # fmt: skip
    if "temperature" in groups and plan.read_temperatures:
        values["temperatures"] = attempt("sensors_temperatures", lambda: {
            chip: tuple(Temperature.of(e) for e in entries) for chip, entries in source.sensors_temperatures().items()
        }) or {}  # fmt: skip
    if "system" in groups:
        values["boot_time"] = attempt("boot_time", source.boot_time)
        values["process_count"] = attempt("process_count", source.process_count)
    if "processes" in groups and plan.top_processes > 0:
        procs = attempt("processes", source.processes) or ()
        values["top_by_cpu"] = tuple(sorted(procs, key=lambda p: -p.cpu_percent)[: plan.top_processes])
        values["top_by_memory"] = tuple(sorted(procs, key=lambda p: -p.rss_bytes)[: plan.top_processes])
    return SystemSnapshot(wall_time=wall_time, failures=tuple(failures), **values)


def _read_disks(
    source: SystemSource, plan: ReadPlan, attempt: Callable[[str, Callable[[], Any]], Any]
) -> tuple[DiskUsage, ...]:
    disks = []
    seen_mounts: set[str] = set()
    for part in attempt("disk_partitions", source.disk_partitions) or ():
        if part.fstype in PSEUDO_FILESYSTEMS or part.mountpoint in seen_mounts:
            continue
        if not selected(part.mountpoint, plan.disk_include_mounts, plan.disk_exclude_mounts):
            continue
        seen_mounts.add(part.mountpoint)
        disk = attempt(f"disk_usage {part.mountpoint}", lambda p=part: _disk_usage(p, source.disk_usage(p.mountpoint)))
        if disk is not None:
            disks.append(disk)
    return tuple(disks)


def _disk_usage(part: Any, usage: Any) -> DiskUsage:  # psutil sdiskpart, sdiskusage
    return DiskUsage(part.mountpoint, part.device, part.fstype, usage.total, usage.used, usage.free, usage.percent)
