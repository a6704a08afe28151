"""The collector's direct kernel reads over real-shaped /proc and /sys files in a temporary folder,
through the real PsutilSource and Sampler (only the new groups enabled, so psutil's own reads of
this machine do not enter the assertions)."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from metrics_collector.adjtimex import STA_NANO, STA_UNSYNC, TIME_ERROR, clock_state, read_clock
from metrics_collector.config import parse_config
from metrics_collector.health import CollectorHealth
from metrics_collector.kernel_files import (
    KernelFiles,
    parse_diskstats,
    parse_mountinfo,
    parse_pressure,
    parse_process_stat,
    parse_stat,
)
from metrics_collector.rates import mode_percentages
from metrics_collector.readings import ClockState, Throttled
from metrics_collector.sampler import Sampler
from metrics_collector.system_source import PsutilSource

from edgewatch_shared.metrics_message import Metric, validation_errors

STAT = """cpu  1000 10 300 8000 200 0 40 50 0 0
cpu0 500 5 150 4000 100 0 20 25 0 0
cpu1 500 5 150 4000 100 0 20 25 0 0
intr 123456 0 0
ctxt 98765
btime 1763800000
"""
STAT_LATER = """cpu  1400 10 400 8300 300 0 40 50 0 0
cpu0 900 5 200 4000 150 0 20 25 0 0
cpu1 500 5 200 4300 150 0 20 25 0 0
intr 123999 0 0
"""
MEMINFO = """MemTotal:        8000000 kB
MemFree:         1000000 kB
MemAvailable:    5000000 kB
Buffers:          100000 kB
Cached:          2000000 kB
SwapCached:            0 kB
Dirty:              1234 kB
SReclaimable:     300000 kB
HugePages_Total:       0
"""
VMSTAT = "nr_free_pages 250000\npgmajfault {faults}\noom_kill {kills}\nnr_dirty 300\n"
PSI_CPU = "some avg10=1.50 avg60=0.75 avg300=0.20 total=123456789\n"  # kernels before 5.13: no full line for cpu
PSI_MEMORY = "some avg10=25.00 avg60=21.30 avg300=9.00 total=999\nfull avg10=4.00 avg60=2.50 avg300=1.00 total=55\n"
PSI_IO = "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"
FILESYSTEMS = "nodev\tsysfs\nnodev\ttmpfs\nnodev\tproc\n\text4\n\tvfat\nnodev\tzfs\n"
MOUNTINFO = """22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 179:2 / / rw,noatime - ext4 /dev/root rw
30 27 179:1 / /boot/firmware rw,relatime - vfat /dev/mmcblk0p1 rw,fmask=0022
31 27 8:1 / /mnt/usb\\040stick {usb} - ext4 /dev/sda1 {usb}
32 27 0:30 / /run rw,nosuid - tmpfs tmpfs rw,size=100k
33 27 8:2 / /data rw,relatime - ext4 /dev/sda2 {data_super},errors=remount-ro
"""
# 4.18+ layout (18 fields), 5.5+ (20 fields), a 2.6-style partition line (7 fields).
DISKSTATS = """ 179       0 mmcblk0 {reads} 10 {sectors} 500 200 5 1600 900 0 {busy} {weighted} 0 0 0 0
 179       2 mmcblk0p2 900 8 72000 450 190 5 1500 850 0 1100 1250 0 0 0 0 10 6 7 8
   8       1 sda1 40 800 20 160
"""
CMDLINE_NUCLEUS = b"java\0-Dlog.store=FILE\0-jar\0/greengrass/v2/alts/current/distro/lib/Greengrass.jar\0--setup\0"


def write(path: Path, text: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text if isinstance(text, bytes) else text.encode())


@dataclasses.dataclass
class Statvfs:
    f_bsize: int = 4096
    f_frsize: int = 4096
    f_blocks: int = 1_000_000
    f_bfree: int = 400_000
    f_bavail: int = 350_000
    f_files: int = 65_536
    f_ffree: int = 6_000
    f_favail: int = 6_000
    f_flag: int = 0
    f_namemax: int = 255


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    proc, sys = tmp_path / "proc", tmp_path / "sys"
    write(proc / "stat", STAT)
    write(proc / "meminfo", MEMINFO)
    write(proc / "vmstat", VMSTAT.format(faults=5_000, kills=2))
    write(proc / "pressure" / "cpu", PSI_CPU)
    write(proc / "pressure" / "memory", PSI_MEMORY)
    write(proc / "pressure" / "io", PSI_IO)
    write(proc / "filesystems", FILESYSTEMS)
    write(proc / "self" / "mountinfo", MOUNTINFO.format(usb="rw,relatime", data_super="rw"))
    write(proc / "diskstats", DISKSTATS.format(reads=1000, sectors=80_000, busy=1_000, weighted=2_000))
    # Our process (pid 500) runs under sh (400) under the nucleus (300), like a component's Run step.
    for pid, parent, cmdline in ((500, 400, b"python3\0-m\0metrics_collector\0"), (400, 300, b"sh\0-c\0exec x\0"),
                                 (300, 1, CMDLINE_NUCLEUS), (200, 1, b"/usr/bin/Greengrass.jar-lookalike\0")):
        write(proc / str(pid) / "status", f"Name:\tx\nPid:\t{pid}\nPPid:\t{parent}\n")
        write(proc / str(pid) / "cmdline", cmdline)
    write(proc / "300" / "stat", "300 (java (main)) S 1 300 300 0 -1 4194560 9 0 0 0 250 50 0 0 20 0 40 0 99 1 1\n")
    write(proc / "300" / "statm", "800000 51200 3000 1 0 700000 0\n")
    write(proc / "200" / "stat", "200 (lookalike) S 1 200 200 0 -1 0 0 0 0 0 1 1 0 0\n")
    write(proc / "200" / "statm", "100 10 5 1 0 50 0\n")
    for name, state, speed in (("eth0", "up", "1000"), ("wlan0", "dormant", None), ("tun0", "unknown", None),
                               ("eth1", "down", "-1")):
        write(sys / "class" / "net" / name / "operstate", state + "\n")
        if speed is not None:
            write(sys / "class" / "net" / name / "speed", speed + "\n")
    write(sys / "class" / "net" / "tun0" / "carrier", "1\n")
    write(sys / "devices" / "platform" / "soc" / "soc:firmware" / "get_throttled", "50005\n")
    for cpu, khz in (("0", "1500000"), ("1", "600000")):
        write(sys / "devices" / "system" / "cpu" / f"cpu{cpu}" / "cpufreq" / "scaling_cur_freq", khz + "\n")
    write(sys / "dev" / "block" / "179:2" / "uevent", "MAJOR=179\nMINOR=2\nDEVNAME=mmcblk0p2\nDEVTYPE=partition\n")
    return tmp_path


def kernel(tree: Path, **overrides: object) -> KernelFiles:
    options: dict[str, object] = {
        "proc": tree / "proc", "sys": tree / "sys", "own_pid": 500, "greengrass_root": "/greengrass/v2",
        "clock_reader": lambda: ClockState(True, 0.0005, 0.02), "statvfs": lambda _path: Statvfs(),
    }  # fmt: skip
    options.update(overrides)
    return KernelFiles(**options)  # type: ignore[arg-type]


def sampler_over(files: KernelFiles, groups: list[str]) -> tuple[Sampler, Callable[[float], tuple[Metric, ...]]]:
    sampler = Sampler(PsutilSource(files), "gw-01", CollectorHealth())
    config = parse_config({"metrics": groups, "networkExcludeInterfaces": []})

    def sample(now: float) -> tuple[Metric, ...]:
        message = sampler.sample(config, now=now, wall_time=1_763_800_000.0 + now)
        assert validation_errors(message.to_dict()) == []
        return message.metrics

    return sampler, sample


def by_labels(metrics: tuple[Metric, ...], name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {tuple(sorted(m.labels.items())): m.value for m in metrics if m.name == name}


def test_cpu_mode_percent_from_proc_stat_after_the_first_sample(tree: Path) -> None:
    _, sample = sampler_over(kernel(tree), ["cpu"])
    assert by_labels(sample(0.0), "cpu.mode_percent") == {}  # nothing to compare with yet
    write(tree / "proc" / "stat", STAT_LATER)
    modes = by_labels(sample(1.0), "cpu.mode_percent")
    # total: +400 user, +100 system, +300 idle, +100 iowait = 900 ticks.
    assert modes[(("cpu", "total"), ("mode", "user"))] == pytest.approx(400 / 9)
    assert modes[(("cpu", "total"), ("mode", "iowait"))] == pytest.approx(100 / 9)
    assert modes[(("cpu", "total"), ("mode", "steal"))] == 0.0
    assert modes[(("cpu", "0"), ("mode", "user"))] == pytest.approx(400 / 5.0)
    assert modes[(("cpu", "1"), ("mode", "idle"))] == pytest.approx(75.0)  # 300 of 400 ticks
    assert {mode for (_, (_, mode)) in modes} == {"user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"}
    for cpu in ("total", "0", "1"):
        assert sum(v for k, v in modes.items() if k[0] == ("cpu", cpu)) == pytest.approx(100.0)


def test_a_core_whose_counters_restart_gives_no_shares_that_tick() -> None:
    before, after = parse_stat(STAT), parse_stat(STAT_LATER.replace("cpu1 500", "cpu1 5"))
    shares = mode_percentages(before, after)
    assert {cpu for cpu, _ in shares} == {"total", "0"}  # cpu1's user time went backwards
    assert mode_percentages(before, before) == {}  # no time passed
    assert mode_percentages({}, after) == {}


def test_memory_detail_and_vmstat_rates(tree: Path) -> None:
    _, sample = sampler_over(kernel(tree), ["memory"])
    first = sample(0.0)
    assert by_labels(first, "memory.buffers") == {(): 100_000 * 1024}
    assert by_labels(first, "memory.cached") == {(): (2_000_000 + 300_000) * 1024}  # as `free` counts it
    assert by_labels(first, "memory.dirty") == {(): 1234 * 1024}
    assert by_labels(first, "memory.oom_kills") == {}  # a rate: first sample skipped
    write(tree / "proc" / "vmstat", VMSTAT.format(faults=5_600, kills=3))
    second = sample(10.0)
    assert by_labels(second, "memory.oom_kills") == {(): pytest.approx(0.1)}
    assert by_labels(second, "memory.major_faults") == {(): pytest.approx(60.0)}


def test_kernel_without_oom_kill_in_vmstat_has_no_oom_metric(tree: Path) -> None:
    write(tree / "proc" / "vmstat", "pgmajfault 10\n")  # before Linux 4.13
    _, sample = sampler_over(kernel(tree), ["memory"])
    sample(0.0)
    metrics = sample(1.0)
    assert by_labels(metrics, "memory.oom_kills") == {}
    assert by_labels(metrics, "memory.major_faults") == {(): 0.0}


def test_pressure_files_some_and_full(tree: Path) -> None:
    _, sample = sampler_over(kernel(tree), ["pressure"])
    metrics = sample(0.0)
    assert by_labels(metrics, "pressure.some_avg60") == {
        (("resource", "cpu"),): 0.75, (("resource", "memory"),): 21.3, (("resource", "io"),): 0.0,
    }  # fmt: skip
    # cpu has no full line on this kernel: absent, not 0.
    assert by_labels(metrics, "pressure.full_avg10") == {(("resource", "memory"),): 4.0, (("resource", "io"),): 0.0}
    assert parse_pressure(PSI_MEMORY).full_avg60 == 2.5


def test_no_psi_means_no_pressure_metrics_and_no_failure(tree: Path) -> None:
    for resource in ("cpu", "memory", "io"):
        (tree / "proc" / "pressure" / resource).unlink()
    _, sample = sampler_over(kernel(tree), ["pressure", "collector"])
    metrics = sample(0.0)
    assert not {m.name for m in metrics if m.name.startswith("pressure.")}
    assert by_labels(metrics, "collector.read_failures_total") == {(): 0.0}


def test_mountinfo_filters_like_psutil_and_reads_both_read_only_flags(tree: Path) -> None:
    parts = {p.mountpoint: p for p in kernel(tree).partitions()}
    assert set(parts) == {"/", "/boot/firmware", "/mnt/usb stick", "/data"}  # proc and tmpfs are nodev
    assert parts["/"].device == "/dev/mmcblk0p2"  # /dev/root resolved through /sys/dev/block
    assert not parts["/data"].read_only and not parts["/data"].superblock_read_only
    ro = parse_mountinfo(MOUNTINFO.format(usb="ro,relatime", data_super="ro"))
    flags = {p.mountpoint: (p.read_only, p.superblock_read_only) for p in ro}
    assert flags["/mnt/usb stick"] == (True, True) and flags["/data"] == (False, True)


def test_disk_read_only_when_a_mount_seen_read_write_turns_ro(tree: Path) -> None:
    _, sample = sampler_over(kernel(tree), ["disk"])
    metrics = sample(0.0)
    assert set(by_labels(metrics, "disk.read_only").values()) == {0.0}
    inodes = by_labels(metrics, "disk.inodes_percent")
    assert inodes[(("device", "/dev/sda2"), ("fstype", "ext4"), ("mount", "/data"))] == pytest.approx(
        (65_536 - 6_000) * 100 / 65_536
    )
    data = (("device", "/dev/sda2"), ("fstype", "ext4"), ("mount", "/data"))
    assert by_labels(metrics, "disk.inodes_total")[data] == 65_536
    # The USB stick is remounted read-only (mount -o remount,ro); /data's ext4 hits an error and the
    # kernel turns its superblock read-only under the still read-write mount.
    write(tree / "proc" / "self" / "mountinfo", MOUNTINFO.format(usb="ro,relatime", data_super="ro"))
    read_only = {dict(k)["mount"]: v for k, v in by_labels(sample(1.0), "disk.read_only").items()}
    assert read_only == {"/": 0.0, "/boot/firmware": 0.0, "/mnt/usb stick": 1.0, "/data": 1.0}


def test_a_mount_read_only_from_the_start_is_not_reported(tree: Path) -> None:
    write(tree / "proc" / "self" / "mountinfo", MOUNTINFO.format(usb="ro,relatime", data_super="rw"))
    _, sample = sampler_over(kernel(tree), ["disk"])
    read_only = {dict(k)["mount"]: v for k, v in by_labels(sample(0.0), "disk.read_only").items()}
    assert read_only["/mnt/usb stick"] == 0.0  # mounted ro on purpose (e.g. a read-only root)


def test_a_mount_whose_statvfs_fails_still_reports_read_only(tree: Path) -> None:
    def statvfs(path: str) -> Statvfs:
        if path == "/data" and calls.setdefault(path, 0) > 0:
            raise OSError(5, "Input/output error")
        calls[path] = calls.get(path, 0) + 1
        return Statvfs()

    calls: dict[str, int] = {}
    _, sample = sampler_over(kernel(tree, statvfs=statvfs), ["disk"])
    sample(0.0)
    write(tree / "proc" / "self" / "mountinfo", MOUNTINFO.format(usb="rw,relatime", data_super="ro"))
    metrics = sample(1.0)
    assert "/data" not in {dict(k)["mount"] for k in by_labels(metrics, "disk.used")}
    assert {dict(k)["mount"]: v for k, v in by_labels(metrics, "disk.read_only").items()}["/data"] == 1.0


def test_filesystem_without_inodes_has_no_inode_metrics(tree: Path) -> None:
    files = kernel(tree, statvfs=lambda path: Statvfs(f_files=0, f_ffree=0) if "boot" in path else Statvfs())
    _, sample = sampler_over(files, ["disk"])
    mounts = {dict(k)["mount"] for k in by_labels(sample(0.0), "disk.inodes_used")}
    assert "/boot/firmware" not in mounts and "/data" in mounts


def test_diskstats_layouts_busy_percent_and_queue_depth(tree: Path) -> None:
    stats = parse_diskstats(DISKSTATS.format(reads=1000, sectors=80_000, busy=1_000, weighted=2_000))
    assert stats["mmcblk0"].read_bytes == 80_000 * 512 and stats["mmcblk0"].write_count == 200
    assert stats["mmcblk0p2"].busy_ms == 1100 and stats["mmcblk0p2"].weighted_ms == 1250
    assert stats["sda1"].read_count == 40 and stats["sda1"].write_bytes == 160 * 512
    kept = parse_diskstats(DISKSTATS.format(reads=1, sectors=1, busy=1, weighted=1), keep=lambda d: d != "sda1")
    assert set(kept) == {"mmcblk0", "mmcblk0p2"}
    _, sample = sampler_over(kernel(tree), ["diskio"])
    sample(0.0)
    write(tree / "proc" / "diskstats", DISKSTATS.format(reads=1100, sectors=90_000, busy=1_500, weighted=5_000))
    metrics = sample(2.0)
    device = (("device", "mmcblk0"),)
    assert by_labels(metrics, "diskio.busy_percent")[device] == pytest.approx(25.0)  # 500 ms busy in 2 s
    assert by_labels(metrics, "diskio.queue_depth")[device] == pytest.approx(1.5)  # 3000 ms in flight in 2 s
    assert by_labels(metrics, "diskio.read_bytes")[device] == pytest.approx(10_000 * 512 / 2)
    with pytest.raises(ValueError, match="diskstats"):
        parse_diskstats("8 0 sda 1 2 3\n")


def test_link_state_and_speed_from_operstate(tree: Path) -> None:
    links = kernel(tree).links(["eth0", "wlan0", "tun0", "eth1", "gone0"])
    assert {name: (link.up, link.speed_mbps) for name, link in links.items()} == {
        "eth0": (True, 1000), "wlan0": (False, None), "tun0": (True, None), "eth1": (False, None),
    }  # fmt: skip


def test_clock_state_from_adjtimex_results() -> None:
    synced = clock_state(0, 0x2001 & ~STA_UNSYNC, 1_500_000, 16_000)  # STA_PLL | STA_NANO: offset in ns
    assert synced == ClockState(True, 0.0015, 0.016)
    assert clock_state(0, STA_UNSYNC, 0, 16_000_000) == ClockState(False, 0.0, 16.0)
    assert not clock_state(TIME_ERROR, 0, 0, 0).synchronised  # TIME_ERROR although the bit is clear
    assert clock_state(1, 0, -250, 5).offset_seconds == pytest.approx(-0.000_25)  # µs without STA_NANO
    assert clock_state(0, STA_NANO, -250, 5).offset_seconds == pytest.approx(-0.000_000_25)
    state = read_clock()  # the real call, unprivileged (modes 0)
    assert isinstance(state.synchronised, bool) and state.max_error_seconds >= 0


def test_clock_metrics(tree: Path) -> None:
    unsynchronised = kernel(tree, clock_reader=lambda: clock_state(TIME_ERROR, STA_UNSYNC, 0, 16_000_000))
    _, sample = sampler_over(unsynchronised, ["clock"])
    metrics = sample(0.0)
    assert by_labels(metrics, "clock.synchronised") == {(): 0.0}
    assert by_labels(metrics, "clock.max_error_seconds") == {(): 16.0}
    assert by_labels(metrics, "clock.offset_seconds") == {(): 0.0}


def test_throttled_bit_field_and_cpu_frequency(tree: Path) -> None:
    assert Throttled.from_bits(0x50005) == Throttled(
        under_voltage=True, frequency_capped=False, throttled=True, soft_temp_limit=False,
        under_voltage_since_boot=True, frequency_capped_since_boot=False, throttled_since_boot=True,
    )  # fmt: skip
    _, sample = sampler_over(kernel(tree), ["board"])
    metrics = sample(0.0)
    assert by_labels(metrics, "board.under_voltage") == {(): 1.0}
    assert by_labels(metrics, "board.frequency_capped") == {(): 0.0}
    assert by_labels(metrics, "board.throttled_since_boot") == {(): 1.0}
    assert by_labels(metrics, "cpu.frequency_mhz") == {(("cpu", "0"),): 1500.0, (("cpu", "1"),): 600.0}


def test_rpi_volt_sensor_when_the_firmware_value_is_not_readable(tree: Path) -> None:
    (tree / "sys" / "devices" / "platform" / "soc" / "soc:firmware" / "get_throttled").unlink()
    write(tree / "sys" / "class" / "hwmon" / "hwmon1" / "name", "rpi_volt\n")
    write(tree / "sys" / "class" / "hwmon" / "hwmon1" / "in0_lcrit_alarm", "1\n")
    assert kernel(tree).throttled() == Throttled(True, False, False, False)


def test_no_board_files_means_absent_not_an_error(tmp_path: Path) -> None:
    files = kernel(tmp_path)
    assert files.throttled() is None and files.cpu_frequencies() == {}
    _, sample = sampler_over(files, ["board", "collector"])
    metrics = sample(0.0)
    assert not {m.name for m in metrics if m.name.startswith(("board.", "cpu."))}
    assert by_labels(metrics, "collector.read_failures_total") == {(): 0.0}


def test_nucleus_found_among_the_ancestors_with_rss_and_cpu(tree: Path) -> None:
    files = kernel(tree)
    nucleus = files.nucleus(0, ["Greengrass.jar"])
    assert nucleus is not None and nucleus.pid == 300  # not 200, which also matches but is no ancestor
    assert nucleus.rss_bytes == 51_200 * os.sysconf("SC_PAGE_SIZE")
    assert nucleus.cpu_seconds == pytest.approx(300 / os.sysconf("SC_CLK_TCK"))
    assert parse_process_stat("7 (a) b) (c) S 1 1 1 0 -1 0 0 0 0 0 11 22 0 0\n") == (11, 22)
    assert files.nucleus(0, ["no such program"]) is None
    assert files.nucleus(200, []).pid == 200  # type: ignore[union-attr]  # a configured pid wins


def test_nucleus_and_greengrass_root_metrics(tree: Path) -> None:
    _, sample = sampler_over(kernel(tree), ["greengrass"])
    first = sample(0.0)
    assert by_labels(first, "greengrass.nucleus_rss") == {(): 51_200 * os.sysconf("SC_PAGE_SIZE")}
    assert by_labels(first, "greengrass.nucleus_cpu_percent") == {}  # a rate
    assert by_labels(first, "greengrass.root_available") == {(): 350_000 * 4096}
    assert by_labels(first, "greengrass.root_percent") == {(): round(600_000 / 950_000 * 100, 1)}
    ticks = os.sysconf("SC_CLK_TCK")
    write(tree / "proc" / "300" / "stat", f"300 (java) S 1 300 300 0 -1 0 0 0 0 0 {250 + ticks} {50 + ticks} 0 0\n")
    second = sample(4.0)
    assert by_labels(second, "greengrass.nucleus_cpu_percent") == {(): pytest.approx(50.0)}  # 2 s of CPU in 4 s


def test_greengrass_root_absent_without_the_recipe_variable(tree: Path) -> None:
    _, sample = sampler_over(kernel(tree, greengrass_root=None), ["greengrass"])
    assert by_labels(sample(0.0), "greengrass.root_percent") == {}
    assert KernelFiles.from_environment({"EDGEWATCH_GREENGRASS_ROOT": "/gg"}).greengrass_root == "/gg"


def test_a_failing_new_read_is_missing_counted_and_the_rest_goes_on(tree: Path) -> None:
    write(tree / "proc" / "pressure" / "memory", "garbage\n")
    _, sample = sampler_over(kernel(tree), ["pressure", "clock", "collector"])
    metrics = sample(0.0)
    assert not {m.name for m in metrics if m.name.startswith("pressure.")}
    assert by_labels(metrics, "clock.synchronised") == {(): 1.0}
    assert by_labels(metrics, "collector.read_failures_total") == {(): 1.0}


def test_the_real_kernel_files_of_this_machine() -> None:
    # Whatever this machine has, the reads work or say "absent"; never raise.
    files = KernelFiles(greengrass_root="/")
    assert "total" in files.cpu_times()
    assert files.memory_detail().buffers is not None
    files.pressure()
    assert files.partitions()
    files.disk_io()
    files.links(os.listdir("/sys/class/net"))
    files.throttled()
    files.cpu_frequencies()
    root = files.greengrass_root_usage()
    assert root is not None and root.total > 0
