"""One tick's system reads, taken once into one frozen snapshot.

Each read is attempted on its own: a permission error or a vanished disk leaves that part empty
and is recorded in `failures`, and the other reads go on. Metric value functions then work on the
snapshot only, so a tick costs exactly one read of each source. What needs the previous tick (CPU
mode shares, a mount gone read-only) is derived by `history.TickHistory` into the `derived`
fields; counters become rates in the sampler.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from metrics_collector.readings import (
    ClockState,
    CpuTimes,
    DiskIo,
    DiskUsage,
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
    Temperature,
    Throttled,
)
from metrics_collector.system_source import SystemSource

__all__ = [
    "DiskIo", "DiskUsage", "Memory", "NetIo", "ReadPlan", "Swap", "SystemSnapshot", "Temperature", "take_snapshot",
]  # fmt: skip

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
    nucleus_pid: int = 0
    nucleus_match: tuple[str, ...] = ()


@dataclass(slots=True)
class SystemSnapshot:
    wall_time: float
    cpu_percent: float | None = None
    cpu_percent_per_core: tuple[float, ...] = ()
    cpu_times: Mapping[str, CpuTimes] = field(default_factory=dict)
    load_average: tuple[float, float, float] | None = None
    memory: Memory | None = None
    memory_detail: MemoryDetail | None = None
    swap: Swap | None = None
    pressure: Mapping[str, Pressure] = field(default_factory=dict)
    disks: tuple[DiskUsage, ...] = ()
    # The reported mounts, also those whose statvfs failed: a failing disk still says it went read-only.
    mounts: tuple[Partition, ...] = ()
    disk_io: Mapping[str, DiskIo] = field(default_factory=dict)
    net_io: Mapping[str, NetIo] = field(default_factory=dict)
    links: Mapping[str, Link] = field(default_factory=dict)
    clock: ClockState | None = None
    throttled: Throttled | None = None
    cpu_frequencies: Mapping[str, float] = field(default_factory=dict)
    nucleus: NucleusProcess | None = None
    greengrass_root: FsUsage | None = None
    temperatures: Mapping[str, tuple[Temperature, ...]] = field(default_factory=dict)
    boot_time: float | None = None
    process_count: int | None = None
    top_by_cpu: tuple[ProcessSample, ...] = ()
    top_by_memory: tuple[ProcessSample, ...] = ()
    failures: tuple[str, ...] = ()
    # Derived from this and the previous tick (history.TickHistory):
    cpu_mode_percent: Mapping[tuple[str, str], float] = field(default_factory=dict)  # (cpu, mode) -> %
    disk_read_only: Mapping[str, bool] = field(default_factory=dict)  # mount -> went read-only
    nucleus_replaced: bool = False  # another pid than last tick: no CPU rate across the two


@functools.lru_cache(maxsize=4096)  # the same devices and patterns every tick
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

    source.begin_tick()
    groups = plan.groups
    cpu = "cpu" in groups
    net_io: Mapping[str, NetIo] = {}
    if "network" in groups:
        net_io = attempt("net_io_counters", lambda: {
            nic: c if type(c) is NetIo else NetIo.of(c)
            for nic, c in source.net_io_counters().items()
            if selected(nic, plan.network_include_interfaces, plan.network_exclude_interfaces)
        }) or {}  # fmt: skip
    temperatures: Mapping[str, tuple[Temperature, ...]] = {}
    if "temperature" in groups and plan.read_temperatures:
        temperatures = attempt("sensors_temperatures", lambda: {
            chip: tuple(Temperature.of(e) for e in entries) for chip, entries in source.sensors_temperatures().items()
        }) or {}  # fmt: skip
    procs: Sequence[ProcessSample] = ()
    if "processes" in groups and plan.top_processes > 0:
        procs = attempt("processes", source.processes) or ()
    disk_io: Mapping[str, DiskIo] = {}
    if "diskio" in groups:
        excluded = plan.disk_io_exclude_devices
        disk_io = attempt("disk_io_counters", lambda: source.disk_io_counters(lambda dev: selected(dev, (), excluded)))
        disk_io = disk_io or {}
    mounts, disks = _read_disks(source, plan, attempt) if "disk" in groups else ((), ())
    board = "board" in groups
    greengrass = "greengrass" in groups
    system = "system" in groups
    return SystemSnapshot(
        wall_time=wall_time,
        cpu_percent=attempt("cpu_percent", source.cpu_percent) if cpu else None,
        cpu_percent_per_core=tuple(attempt("cpu_percent_per_core", source.cpu_percent_per_core) or ()) if cpu else (),
        cpu_times=(attempt("cpu_times", source.cpu_times) or {}) if cpu else {},
        load_average=attempt("load_average", source.load_average) if "load" in groups else None,
        memory=attempt("virtual_memory", lambda: Memory.of(source.virtual_memory())) if "memory" in groups else None,
        memory_detail=attempt("memory_detail", source.memory_detail) if "memory" in groups else None,
        swap=attempt("swap_memory", lambda: Swap.of(source.swap_memory())) if "swap" in groups else None,
        pressure=(attempt("pressure", source.pressure) or {}) if "pressure" in groups else {},
        disks=disks,
        mounts=mounts,
        disk_io=disk_io,
        net_io=net_io,
        links=(attempt("links", lambda: source.links(sorted(net_io))) or {}) if net_io else {},
        clock=attempt("clock", source.clock) if "clock" in groups else None,
        throttled=attempt("throttled", source.throttled) if board else None,
        cpu_frequencies=(attempt("cpu_frequencies", source.cpu_frequencies) or {}) if board else {},
        nucleus=attempt("nucleus", lambda: source.nucleus(plan.nucleus_pid, plan.nucleus_match))
        if greengrass
        else None,
        greengrass_root=attempt("greengrass_root", source.greengrass_root_usage) if greengrass else None,
        temperatures=temperatures,
        boot_time=attempt("boot_time", source.boot_time) if system else None,
        process_count=attempt("process_count", source.process_count) if system else None,
        top_by_cpu=tuple(sorted(procs, key=lambda p: -p.cpu_percent)[: plan.top_processes]),
        top_by_memory=tuple(sorted(procs, key=lambda p: -p.rss_bytes)[: plan.top_processes]),
        failures=tuple(failures),
    )


def _read_disks(
    source: SystemSource, plan: ReadPlan, attempt: Callable[[str, Callable[[], Any]], Any]
) -> tuple[tuple[Partition, ...], tuple[DiskUsage, ...]]:
    """The selected mounts, and the usage of each where statvfs answered."""
    mounts: list[Partition] = []
    disks: list[DiskUsage] = []
    seen_mounts: set[str] = set()
    for part in attempt("disk_partitions", source.disk_partitions) or ():
        if part.fstype in PSEUDO_FILESYSTEMS or part.mountpoint in seen_mounts:
            continue
        if not selected(part.mountpoint, plan.disk_include_mounts, plan.disk_exclude_mounts):
            continue
        seen_mounts.add(part.mountpoint)
        usage = attempt(f"disk_usage {part.mountpoint}", lambda p=part: source.disk_usage(p.mountpoint))
        if usage is not None and usage.read_only and not (part.read_only or part.superblock_read_only):
            # statvfs says read-only where the (parsed when it changed) mount table says read-write: the
            # kernel turned the superblock read-only without a remount (ext4 errors=remount-ro).
            part = dataclasses.replace(part, superblock_read_only=True)
        mounts.append(part)
        if usage is not None:
            disks.append(DiskUsage(part, usage))
    return tuple(mounts), tuple(disks)



