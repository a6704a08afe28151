"""The Linux files the collector reads directly, where psutil is slower or lacks them.

Parsers are pure functions of the file's text; `KernelFiles` reads them under injectable roots
(`proc`, `sys`), so tests point it at real-shaped files in a temporary folder. A file that does not
exist on this kernel or board (no PSI, no Raspberry Pi firmware, no cpufreq) reads as "absent"
(None or empty), never as an error; anything else (permission, garbage) raises and is contained
by the snapshot like every other read.
"""

from __future__ import annotations

import dataclasses
import errno
import logging
import os
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

from metrics_collector.adjtimex import read_clock
from metrics_collector.link_flags import InterfaceFlags, LinkFlags
from metrics_collector.mount_watch import MountTableWatch, MountWatch
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
    Swap,
    Throttled,
)

logger = logging.getLogger(__name__)

SECTOR_BYTES = 512  # /proc/diskstats counts 512-byte sectors whatever the device's sector size
PRESSURE_RESOURCES = ("cpu", "memory", "io")
# Where the Raspberry Pi firmware driver exposes the value `vcgencmd get_throttled` prints.
THROTTLED_PATHS = ("devices/platform/soc/soc:firmware/get_throttled", "devices/platform/soc/firmware/get_throttled")
# How long a discovered set of paths (cpufreq files, the rpi_volt sensor, the nucleus pid), a parsed
# mount table and a link's speed are trusted.
REDISCOVER_SECONDS = 60.0
# Listing /proc costs more than the rest of the system group together; the count is taken this often.
PROCESS_COUNT_SECONDS = 10.0
_OCTAL_ESCAPE = re.compile(r"\\([0-7]{3})")


def _unescape(field: str) -> str:
    # mountinfo writes space, tab, newline and backslash in paths as \040, \011, \012, \134.
    return _OCTAL_ESCAPE.sub(lambda m: chr(int(m.group(1), 8)), field) if "\\" in field else field


def parse_stat(text: str) -> dict[str, CpuTimes]:
    """`cpu` and `cpuN` lines of /proc/stat as {"total" | "N": CpuTimes}."""
    times: dict[str, CpuTimes] = {}
    for line in text.splitlines():
        if not line.startswith("cpu"):
            if times:
                break  # the cpu lines come first
            continue
        fields = line.split()
        values = [int(v) for v in fields[1:9]] + [0] * (9 - len(fields))  # steal since 2.6.11
        times["total" if fields[0] == "cpu" else fields[0][3:]] = CpuTimes(*values)
    return times


def parse_boot_time(text: str) -> float | None:
    """`btime` of /proc/stat: the boot time in epoch seconds (moved by the kernel when the clock is set)."""
    at = text.find("\nbtime ")
    return None if at < 0 else float(text[at + 7 : text.index("\n", at + 7)])


MEMINFO_KEYS = (
    "MemTotal", "MemFree", "MemAvailable", "Buffers", "Cached", "SReclaimable", "Dirty", "SwapTotal", "SwapFree",
)  # fmt: skip


def parse_meminfo(text: str, keys: Iterable[str] = MEMINFO_KEYS) -> dict[str, int]:
    """The given kB fields of /proc/meminfo, in bytes; a field this kernel lacks is left out."""
    result = {}
    padded = "\n" + text
    for key in keys:
        at = padded.find(f"\n{key}:")
        if at >= 0:
            start = at + len(key) + 2
            result[key] = int(padded[start : padded.index("k", start)]) * 1024
    return result


def parse_vmstat(text: str, keys: Iterable[str]) -> dict[str, int]:
    """The given keys of /proc/vmstat (about 180 lines, of which we need two: found, not split)."""
    result = {}
    padded = "\n" + text
    for key in keys:
        at = padded.find(f"\n{key} ")
        if at >= 0:
            start = at + len(key) + 2
            end = padded.find("\n", start)
            result[key] = int(padded[start : end if end >= 0 else len(padded)])
    return result


def _percent(used: int, total: int) -> float:
    return round(used / total * 100, 1) if total else 0.0


def memory_of(meminfo: Mapping[str, int]) -> Memory:
    """psutil.virtual_memory's total, used, available and percent (Linux 3.14+: MemAvailable)."""
    total = meminfo["MemTotal"]
    available = meminfo.get("MemAvailable") or 0
    if not available:  # before 3.14, or the kernel bug psutil works around: estimate as `free` does
        available = meminfo["MemFree"] + meminfo.get("Buffers", 0) + meminfo.get("Cached", 0)
    available = max(0, min(available, total))
    return Memory(total, total - available, available, _percent(total - available, total))


def swap_of(meminfo: Mapping[str, int]) -> Swap:
    total, free = meminfo["SwapTotal"], meminfo["SwapFree"]
    return Swap(total, total - free, free, _percent(total - free, total))


def memory_detail(meminfo: Mapping[str, int], vmstat: Mapping[str, int]) -> MemoryDetail:
    cached = meminfo.get("Cached")
    if cached is not None:
        cached += meminfo.get("SReclaimable", 0)  # as `free` and psutil count it
    return MemoryDetail(
        buffers=meminfo.get("Buffers"), cached=cached, dirty=meminfo.get("Dirty"),
        oom_kills=vmstat.get("oom_kill"), major_faults=vmstat.get("pgmajfault"),
    )  # fmt: skip


def parse_pressure(text: str) -> Pressure:
    """One /proc/pressure/* file: `some avg10=0.00 avg60=0.00 avg300=0.00 total=0` [+ a `full` line]."""
    lines: dict[str, dict[str, float]] = {}
    for line in text.splitlines():
        kind, *pairs = line.split()
        lines[kind] = {k: float(v) for k, _, v in (p.partition("=") for p in pairs)}
    some, full = lines["some"], lines.get("full")
    return Pressure(
        some_avg10=some["avg10"], some_avg60=some["avg60"],
        full_avg10=None if full is None else full["avg10"], full_avg60=None if full is None else full["avg60"],
    )  # fmt: skip


def parse_filesystems(text: str) -> frozenset[str]:
    """Filesystem types backed by a device (not `nodev`) in /proc/filesystems, as psutil filters them."""
    types = set()
    for line in text.splitlines():
        kind, _, name = line.rpartition("\t")
        if kind.strip() != "nodev" or name == "zfs":
            types.add(name.strip())
    return frozenset(types)


def parse_mountinfo(text: str, device_types: frozenset[str] | None = None) -> list[Partition]:
    """/proc/self/mountinfo; with `device_types`, only mounts of a device of one of those types (psutil's all=False)."""
    partitions = []
    for line in text.splitlines():
        fields = line.split()
        try:
            separator = fields.index("-", 6)
        except ValueError:
            continue
        mount_options, (fstype, source, super_options) = fields[5], fields[separator + 1 : separator + 4]
        device = "" if source == "none" else _unescape(source)
        if device_types is not None and (not device or fstype not in device_types):
            continue
        partitions.append(
            Partition(
                device=device, mountpoint=_unescape(fields[4]), fstype=fstype,
                read_only="ro" in mount_options.split(","),
                superblock_read_only="ro" in super_options.split(","),
                device_number=fields[2],
            )
        )
    return partitions


def fs_usage(st: os.statvfs_result) -> FsUsage:
    """Bytes exactly as psutil.disk_usage derives them from statvfs (free and percent as a user sees them)."""
    total = st.f_blocks * st.f_frsize
    used = total - st.f_bfree * st.f_frsize
    free = st.f_bavail * st.f_frsize
    user_total = used + free
    percent = round(used / user_total * 100, 1) if user_total else 0.0
    # ST_RDONLY is the mount's flag or its superblock's: also an emergency remount by the kernel.
    return FsUsage(total, used, free, percent, st.f_files, st.f_ffree, read_only=bool(st.f_flag & os.ST_RDONLY))


def parse_diskstats(text: str, keep: Callable[[str], bool] | None = None) -> dict[str, DiskIo]:
    """/proc/diskstats, every layout psutil knows (2.4: 15 fields, 2.6+: 14 or 18/20, partitions on 2.6: 7);
    with `keep`, only the devices it accepts (the others' numbers are not even converted)."""
    result = {}
    for line in text.splitlines():
        fields = line.split()
        n = len(fields)
        if keep is not None and n > 3 and not keep(fields[3] if n == 15 else fields[2]):
            continue
        if n == 15:
            name, values = fields[3], [fields[2], *fields[4:14]]
        elif n == 14 or n >= 18:
            name, values = fields[2], fields[3:14]
        elif n == 7:
            reads, sectors_read, writes, sectors_written = (int(v) for v in fields[3:7])
            result[fields[2]] = DiskIo(sectors_read * SECTOR_BYTES, sectors_written * SECTOR_BYTES, reads, writes)
            continue
        else:
            raise ValueError(f"/proc/diskstats: cannot read a line of {n} fields: {line[:120]!r}")
        reads, _, sectors_read, _, writes, _, sectors_written, _, _, busy, weighted = (int(v) for v in values)
        result[name] = DiskIo(
            sectors_read * SECTOR_BYTES, sectors_written * SECTOR_BYTES, reads, writes, busy_ms=busy,
            weighted_ms=weighted,
        )  # fmt: skip
    return result


def parse_net_dev(text: str) -> dict[str, NetIo]:
    """/proc/net/dev, the same fields psutil.net_io_counters(pernic=True) takes (64-bit counters since 2.6.35)."""
    result = {}
    for line in text.splitlines()[2:]:
        name, _, rest = line.rpartition(":")
        f = rest.split()
        result[name.strip()] = NetIo(
            bytes_recv=int(f[0]), bytes_sent=int(f[8]), packets_recv=int(f[1]), packets_sent=int(f[9]),
            errin=int(f[2]), errout=int(f[10]), dropin=int(f[3]), dropout=int(f[11]),
        )  # fmt: skip
    return result


def link_state(operstate: str, carrier: str | None, speed: str | None) -> Link:
    """RFC 2863 operstate; `unknown` (lo, tun, many virtual drivers) falls back to the carrier flag."""
    state = operstate.strip()
    up = state == "up" or (state == "unknown" and (carrier or "").strip() == "1")
    mbps: int | None = None
    if up and speed is not None:
        try:
            mbps = int(speed)
        except ValueError:
            mbps = None
        if mbps is not None and mbps <= 0:  # -1 (or 0) means the driver does not know
            mbps = None
    return Link(up, mbps)


def parse_throttled(text: str) -> Throttled:
    """The firmware driver prints the value in hex (`50005`; `0x50005` from vcgencmd)."""
    return Throttled.from_bits(int(text.strip().removeprefix("throttled=").removeprefix("0x"), 16))


def parse_process_stat(text: str) -> tuple[int, int]:
    """utime and stime (clock ticks) of /proc/<pid>/stat; the command name may hold spaces and parentheses."""
    fields = text[text.rindex(")") + 2 :].split()
    return int(fields[11]), int(fields[12])


def _read(path: str | Path) -> str:
    # os.read instead of open(): no buffered text object per file, a third of the cost per read.
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        data = chunk = os.read(fd, 65536)
        while len(chunk) == 65536:  # /proc files are generated per read() call; most fit at once
            chunk = os.read(fd, 65536)
            data += chunk
    finally:
        os.close(fd)
    return data.decode("ascii", "replace")


def _read_if_present(path: str | Path) -> str | None:
    try:
        return _read(path)
    except (FileNotFoundError, NotADirectoryError):
        return None


def _read_optional(path: str | Path) -> str | None:
    """Absent, or not readable in a way that means "not supported here" (EINVAL from a down link's speed)."""
    try:
        return _read(path)
    except OSError:
        return None


class KernelFiles:
    """Reads /proc and /sys (roots injectable) and the kernel clock; the nucleus is found by pid or cmdline."""

    def __init__(
        self,
        *,
        proc: Path = Path("/proc"),
        sys: Path = Path("/sys"),
        clock_reader: Callable[[], ClockState] = read_clock,
        greengrass_root: str | None = None,
        own_pid: int | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        statvfs: Callable[[str], os.statvfs_result] = os.statvfs,
        mount_watch: MountWatch | None = None,
        interface_flags: LinkFlags | None = None,
    ) -> None:
        self._proc = str(proc)
        self._sys = str(sys)
        self._clock_reader = clock_reader
        self.greengrass_root = greengrass_root
        self._own_pid = own_pid if own_pid is not None else os.getpid()
        self._monotonic = monotonic
        self._statvfs = statvfs
        self._ticks_per_second = os.sysconf("SC_CLK_TCK")
        self._page_size = os.sysconf("SC_PAGE_SIZE")
        self._device_types: tuple[float, frozenset[str]] | None = None
        self._cpufreq: tuple[float, list[tuple[str, Path]]] | None = None
        self._board: tuple[float, tuple[str | None, str | None]] | None = None
        self._nucleus_pid: tuple[float, tuple[int, tuple[str, ...]], int | None] | None = None
        self._nucleus_missing_logged = False
        # Without a watch (files under a test root) the mount table is parsed on every call; without
        # interface flags, link state comes from sysfs files.
        self._mount_watch = mount_watch
        self._mounts: tuple[float, list[Partition]] | None = None
        self._interface_flags = interface_flags
        self._speeds: dict[str, tuple[float, int | None]] = {}  # interface -> (read at, Mbit/s)
        self._process_count: tuple[float, int] | None = None

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> KernelFiles:
        # The recipe sets EDGEWATCH_GREENGRASS_ROOT to {kernel:rootPath}.
        mount_watch, interface_flags = live_watches()
        return cls(greengrass_root=environ.get("EDGEWATCH_GREENGRASS_ROOT") or None, mount_watch=mount_watch,
                   interface_flags=interface_flags)  # fmt: skip

    # --- CPU, memory, pressure -------------------------------------------------------------
    def cpu_times(self) -> dict[str, CpuTimes]:
        return parse_stat(_read(f"{self._proc}/stat"))

    def stat(self) -> tuple[dict[str, CpuTimes], float | None]:
        """CPU times and boot time from one read of /proc/stat."""
        text = _read(f"{self._proc}/stat")
        return parse_stat(text), parse_boot_time(text)

    def meminfo(self) -> dict[str, int]:
        return parse_meminfo(_read(f"{self._proc}/meminfo"))

    def vmstat(self) -> dict[str, int]:
        return parse_vmstat(_read_if_present(f"{self._proc}/vmstat") or "", ("oom_kill", "pgmajfault"))

    def memory_detail(self) -> MemoryDetail:
        return memory_detail(self.meminfo(), self.vmstat())

    def pressure(self) -> dict[str, Pressure]:
        """Resources of /proc/pressure; empty where the kernel has no PSI (before 4.20, or psi=0)."""
        result = {}
        for resource in PRESSURE_RESOURCES:
            try:
                text = _read_if_present(f"{self._proc}/pressure/{resource}")
            except OSError as err:
                # With CONFIG_PSI_DEFAULT_DISABLED and no psi=1 the files exist but refuse reads.
                if err.errno == 95:  # EOPNOTSUPP
                    return {}
                raise
            if text is not None:
                result[resource] = parse_pressure(text)
        return result

    # --- filesystems and block devices ---------------------------------------------------
    def partitions(self) -> list[Partition]:
        now = self._monotonic()
        if self._device_types is None or now - self._device_types[0] > REDISCOVER_SECONDS:
            self._device_types = (now, parse_filesystems(_read(f"{self._proc}/filesystems")))
        watch = self._mount_watch
        if watch is None:
            return self._parse_mounts(_read(f"{self._proc}/self/mountinfo"))
        changed = watch.changed()  # asked every call, so a change is never left pending
        if self._mounts is None or changed or now - self._mounts[0] > REDISCOVER_SECONDS:
            self._mounts = None  # a read that fails is tried again next call, not skipped for a minute
            self._mounts = (now, self._parse_mounts(watch.read()))
        return list(self._mounts[1])

    def _parse_mounts(self, text: str) -> list[Partition]:
        assert self._device_types is not None
        return [self._resolve_root(p) for p in parse_mountinfo(text, self._device_types[1])]

    def _resolve_root(self, partition: Partition) -> Partition:
        # /dev/root names no real node; psutil resolves it through the device number, and so do we,
        # so device labels stay as they were.
        if partition.device not in ("/dev/root", "rootfs") or not partition.device_number:
            return partition
        uevent = _read_optional(f"{self._sys}/dev/block/{partition.device_number}/uevent") or ""
        for line in uevent.splitlines():
            if line.startswith("DEVNAME="):
                return dataclasses.replace(partition, device="/dev/" + line[8:])
        return partition

    def fs_usage(self, path: str) -> FsUsage:
        return fs_usage(self._statvfs(path))

    def disk_io(self, keep: Callable[[str], bool] | None = None) -> dict[str, DiskIo]:
        return parse_diskstats(_read(f"{self._proc}/diskstats"), keep)

    def net_io(self) -> dict[str, NetIo]:
        return parse_net_dev(_read(f"{self._proc}/net/dev"))

    # --- network ---------------------------------------------------------------------------
    def links(self, interfaces: Iterable[str]) -> dict[str, Link]:
        if self._interface_flags is not None:
            return self._links_by_flags(self._interface_flags, interfaces)
        result = {}
        for name in interfaces:
            base = f"{self._sys}/class/net/{name}"
            operstate = _read_if_present(f"{base}/operstate")
            if operstate is None:
                continue  # gone since the counters were read
            state = operstate.strip()
            carrier = _read_optional(f"{base}/carrier") if state == "unknown" else None
            down = state not in ("up", "unknown") or (state == "unknown" and (carrier or "").strip() != "1")
            # A down link has no speed (the read fails with EINVAL): not read at all.
            result[name] = link_state(operstate, carrier, None if down else _read_optional(f"{base}/speed"))
        return result

    def _links_by_flags(self, flags: LinkFlags, interfaces: Iterable[str]) -> dict[str, Link]:
        # The state every call; the speed (a sysfs read) when a link comes up and then once a minute.
        now = self._monotonic()
        result = {}
        for name in interfaces:
            try:
                up = flags.running(name)
            except OSError as err:
                if err.errno == errno.ENODEV:
                    continue  # gone since the counters were read
                # Refused here (a seccomp or LSM policy, say): sysfs from now on, said once.
                logger.warning("interface flags unreadable (%s): link state from sysfs from now on", err)
                self._interface_flags = None
                return self.links(interfaces)
            if not up:
                self._speeds.pop(name, None)
                result[name] = Link(False, None)
                continue
            known = self._speeds.get(name)
            if known is None or now - known[0] > REDISCOVER_SECONDS:
                known = (now, link_state("up", None, _read_optional(f"{self._sys}/class/net/{name}/speed")).speed_mbps)
                self._speeds[name] = known
            result[name] = Link(True, known[1])
        if len(self._speeds) > len(result):  # interfaces that went away (container veths) are forgotten
            self._speeds = {name: speed for name, speed in self._speeds.items() if name in result}
        return result

    def process_count(self) -> int:
        now = self._monotonic()
        if self._process_count is None or now - self._process_count[0] >= PROCESS_COUNT_SECONDS:
            self._process_count = (now, sum(map(str.isdigit, os.listdir(self._proc))))  # psutil.pids() unbuilt
        return self._process_count[1]

    # --- clock, board ---------------------------------------------------------------------
    def clock(self) -> ClockState:
        return self._clock_reader()

    def throttled(self) -> Throttled | None:
        """The firmware's value where readable; else the rpi_volt sensor's under-voltage alarm; else None."""
        now = self._monotonic()
        if self._board is None or now - self._board[0] > REDISCOVER_SECONDS:
            self._board = (now, self._find_board_files())
        firmware, alarm = self._board[1]
        if firmware is None and alarm is None:
            return None  # not such a board (looked again every minute)
        if firmware is not None:
            text = _read_optional(firmware)
            if text is not None and text.strip():
                return parse_throttled(text)
        if alarm is not None:
            text = _read_optional(alarm)
            if text is not None:
                return Throttled(text.strip() == "1", False, False, False)
        self._board = None  # what was found is gone: look again next time
        return None

    def _find_board_files(self) -> tuple[str | None, str | None]:
        for relative in THROTTLED_PATHS:
            text = _read_optional(f"{self._sys}/{relative}")
            if text is not None and text.strip():
                return f"{self._sys}/{relative}", None
        for hwmon in sorted((Path(self._sys) / "class" / "hwmon").glob("hwmon*")):
            if (_read_optional(hwmon / "name") or "").strip() == "rpi_volt" and (hwmon / "in0_lcrit_alarm").exists():
                return None, str(hwmon / "in0_lcrit_alarm")
        return None, None

    def cpu_frequencies(self) -> dict[str, float]:
        """MHz per core from cpufreq's scaling_cur_freq (kHz); empty where there is no cpufreq."""
        now = self._monotonic()
        if self._cpufreq is None or now - self._cpufreq[0] > REDISCOVER_SECONDS:
            found = []
            for path in (Path(self._sys) / "devices" / "system" / "cpu").glob("cpu[0-9]*/cpufreq/scaling_cur_freq"):
                found.append((path.parent.parent.name[3:], path))
            self._cpufreq = (now, sorted(found, key=lambda item: int(item[0])))
        result = {}
        for cpu, path in self._cpufreq[1]:
            text = _read_optional(path)
            if text is None:
                self._cpufreq = None  # a core went offline: look again next time
                continue
            result[cpu] = int(text) / 1000.0
        return result

    # --- Greengrass itself -------------------------------------------------------------------
    def nucleus(self, pid: int, match: Sequence[str]) -> NucleusProcess | None:
        """The nucleus process: `pid` if given, else the nearest ancestor (then any process) whose
        command line contains one of `match`. None when there is none."""
        found = pid or self._find_nucleus(tuple(match))
        if not found:
            return None
        try:
            utime, stime = parse_process_stat(_read(f"{self._proc}/{found}/stat"))
            rss_pages = int(_read(f"{self._proc}/{found}/statm").split()[1])
        except (FileNotFoundError, ProcessLookupError):
            self._nucleus_pid = None  # it exited: look again next time
            return None
        return NucleusProcess(found, rss_pages * self._page_size, (utime + stime) / self._ticks_per_second)

    def _find_nucleus(self, match: tuple[str, ...]) -> int | None:
        now = self._monotonic()
        cached = self._nucleus_pid
        if cached is not None and cached[1] == (self._own_pid, match) and (
            cached[2] is not None or now - cached[0] < REDISCOVER_SECONDS
        ):
            return cached[2]
        pid = self._search(match)
        self._nucleus_pid = (now, (self._own_pid, match), pid)
        return pid

    def _cmdline(self, pid: int | str) -> str:
        return (_read_optional(f"{self._proc}/{pid}/cmdline") or "").replace("\0", " ")

    def _search(self, match: tuple[str, ...]) -> int | None:
        if not match:
            return None
        # Components are children of the nucleus (through sh and maybe sudo): ancestors first.
        pid, seen = self._own_pid, set()
        while pid > 1 and pid not in seen:
            seen.add(pid)
            status = _read_optional(f"{self._proc}/{pid}/status") or ""
            parent = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("PPid:")), 0)
            if parent > 1 and any(m in self._cmdline(parent) for m in match):
                return parent
            pid = parent
        for entry in Path(self._proc).iterdir():
            if entry.name.isdigit() and int(entry.name) != self._own_pid and any(
                m in self._cmdline(entry.name) for m in match
            ):
                return int(entry.name)
        if not self._nucleus_missing_logged:  # looked for again every minute; said once
            self._nucleus_missing_logged = True
            logger.info("no nucleus process found (command line containing one of %s)", ", ".join(match))
        return None

    def greengrass_root_usage(self) -> FsUsage | None:
        if not self.greengrass_root:
            return None
        return self.fs_usage(self.greengrass_root)


def live_watches() -> tuple[MountWatch | None, LinkFlags | None]:
    """The kernel's change signals for a KernelFiles over the real /proc and /sys; one that cannot
    be set up here is None, and that part falls back to reading its files every tick."""
    mount_watch: MountWatch | None = None
    interface_flags: LinkFlags | None = None
    try:
        mount_watch = MountTableWatch()
    except OSError as err:
        logger.info("mount table changes not watched (%s): parsing /proc/self/mountinfo every tick", err)
    try:
        interface_flags = InterfaceFlags()
    except OSError as err:
        logger.info("interface flags not readable (%s): link state from sysfs every tick", err)
    return mount_watch, interface_flags
