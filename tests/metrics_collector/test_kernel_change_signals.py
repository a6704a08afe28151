"""Reads the collector skips while the kernel says nothing changed: the mount table (re-parsed on
the mountinfo poll signal or once a minute), link speed (on a link coming up or once a minute) and
the process count (every 10 s); plus the statvfs read-only flag that catches what no remount tells.
The fakes stand in for the kernel's signals; the last tests use the real ones of this machine."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from metrics_collector.kernel_files import PROCESS_COUNT_SECONDS, REDISCOVER_SECONDS, KernelFiles, link_state
from metrics_collector.link_flags import InterfaceFlags
from metrics_collector.mount_watch import MountTableWatch

from tests.metrics_collector.test_kernel_files import MOUNTINFO, Statvfs, by_labels, kernel, sampler_over, tree, write

__all__ = ["tree"]  # the fixture, shared with test_kernel_files


class FakeWatch:
    """A MountTableWatch over a file: `changed` is what the test says the kernel signalled."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.signal = False
        self.reads = 0

    def changed(self) -> bool:
        signalled, self.signal = self.signal, False
        return signalled

    def read(self) -> str:
        self.reads += 1
        return self.path.read_text()


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def mounts(files: KernelFiles) -> dict[str, bool]:
    return {p.mountpoint: p.read_only for p in files.partitions()}


def test_the_mount_table_is_parsed_again_only_when_the_kernel_signals_a_change(tree: Path) -> None:
    watch, clock = FakeWatch(tree / "proc" / "self" / "mountinfo"), Clock()
    files = kernel(tree, mount_watch=watch, monotonic=clock)
    assert mounts(files)["/mnt/usb stick"] is False and watch.reads == 1
    write(watch.path, MOUNTINFO.format(usb="ro,relatime", data_super="rw"))
    clock.now += 30
    assert mounts(files)["/mnt/usb stick"] is False and watch.reads == 1  # no signal: the parsed table
    watch.signal = True  # mount -o remount,ro
    assert mounts(files)["/mnt/usb stick"] is True and watch.reads == 2
    write(watch.path, MOUNTINFO.format(usb="rw,relatime", data_super="rw"))
    clock.now += REDISCOVER_SECONDS + 1  # a missed signal is caught within a minute
    assert mounts(files)["/mnt/usb stick"] is False and watch.reads == 3


def test_statvfs_read_only_under_a_parsed_read_write_table_is_the_kernels_emergency_remount(tree: Path) -> None:
    # ext4 errors=remount-ro changes the superblock, not the mount table: no signal, but statvfs says ST_RDONLY.
    broken: set[str] = set()
    watch = FakeWatch(tree / "proc" / "self" / "mountinfo")
    files = kernel(tree, mount_watch=watch, statvfs=lambda p: Statvfs(f_flag=os.ST_RDONLY if p in broken else 0))
    _, sample = sampler_over(files, ["disk"])
    assert set(by_labels(sample(0.0), "disk.read_only").values()) == {0.0}
    broken.add("/data")
    read_only = {dict(k)["mount"]: v for k, v in by_labels(sample(1.0), "disk.read_only").items()}
    assert read_only == {"/": 0.0, "/boot/firmware": 0.0, "/mnt/usb stick": 0.0, "/data": 1.0}
    assert watch.reads == 1
    broken.clear()  # fsck and a remount: read-write again
    assert set(by_labels(sample(2.0), "disk.read_only").values()) == {0.0}


class FakeFlags:
    def __init__(self) -> None:
        self.running_links = {"eth0": True, "wlan0": False}

    def running(self, name: str) -> bool:
        if name not in self.running_links:
            raise OSError(19, "No such device")
        return self.running_links[name]


def test_link_state_from_flags_every_call_and_speed_when_it_comes_up_or_once_a_minute(tree: Path) -> None:
    flags, clock = FakeFlags(), Clock()
    files = kernel(tree, interface_flags=flags, monotonic=clock)
    speed = tree / "sys" / "class" / "net" / "eth0" / "speed"

    def links() -> dict[str, tuple[bool, int | None]]:
        return {name: (link.up, link.speed_mbps) for name, link in files.links(["eth0", "wlan0", "gone0"]).items()}

    assert links() == {"eth0": (True, 1000), "wlan0": (False, None)}  # gone0 vanished: left out
    write(speed, "100\n")
    clock.now += 10
    assert links()["eth0"] == (True, 1000)  # the speed read a moment ago
    flags.running_links["eth0"] = False
    assert links()["eth0"] == (False, None)
    flags.running_links["eth0"] = True  # renegotiated at 100 Mbit/s: read as it comes up
    assert links()["eth0"] == (True, 100)
    write(speed, "10\n")
    clock.now += REDISCOVER_SECONDS + 1
    assert links()["eth0"] == (True, 10)


class RefusingFlags:
    def running(self, name: str) -> bool:
        raise PermissionError(1, "Operation not permitted")


def test_interface_flags_that_are_refused_fall_back_to_sysfs(tree: Path) -> None:
    files = kernel(tree, interface_flags=RefusingFlags())
    links = {name: (link.up, link.speed_mbps) for name, link in files.links(["eth0", "wlan0"]).items()}
    assert links == {"eth0": (True, 1000), "wlan0": (False, None)}  # from operstate and speed


def test_a_mount_table_read_that_fails_is_tried_again_at_the_next_call(tree: Path) -> None:
    watch = FakeWatch(tree / "proc" / "self" / "mountinfo")
    files = kernel(tree, mount_watch=watch)
    assert mounts(files)["/mnt/usb stick"] is False
    write(watch.path, MOUNTINFO.format(usb="ro,relatime", data_super="rw"))
    watch.signal, watch.path = True, tree / "proc" / "self" / "gone"
    with pytest.raises(OSError):
        files.partitions()
    watch.path = tree / "proc" / "self" / "mountinfo"
    assert mounts(files)["/mnt/usb stick"] is True and watch.reads == 3  # read again without a new signal


def test_process_count_is_taken_every_ten_seconds(tree: Path) -> None:
    clock = Clock()
    files = kernel(tree, monotonic=clock)
    first = files.process_count()
    assert first == 4  # pids 200, 300, 400, 500 of the fake tree
    write(tree / "proc" / "600" / "status", "Pid:\t600\n")
    clock.now += PROCESS_COUNT_SECONDS - 1
    assert files.process_count() == 4
    clock.now += 1
    assert files.process_count() == 5


def test_interface_flags_agree_with_sysfs_on_this_machine() -> None:
    flags = InterfaceFlags()
    try:
        for name in os.listdir("/sys/class/net"):
            base = Path("/sys/class/net") / name
            operstate = (base / "operstate").read_text()
            try:
                carrier: str | None = (base / "carrier").read_text()
            except OSError:
                carrier = None
            assert flags.running(name) == link_state(operstate, carrier, None).up, name
        with pytest.raises(OSError) as gone:
            flags.running("edgewatch-no0")
        assert gone.value.errno == 19
    finally:
        flags.close()


@pytest.fixture
def tmpfs(tmp_path: Path) -> Path:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root and mount(8); CI runs as root")
    target = tmp_path / "mnt"
    target.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "edgewatch-test", str(target)]).returncode:
        pytest.skip("this container may not mount (no CAP_SYS_ADMIN)")
    yield target
    subprocess.run(["umount", "-l", str(target)], check=False)


def test_the_real_mountinfo_signals_a_remount(tmpfs: Path) -> None:
    watch = MountTableWatch()
    try:
        assert str(tmpfs) in watch.read()
        watch.changed()  # whatever happened before this test
        assert watch.changed() is False
        subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)], check=True)
        assert watch.changed() is True
        line = next(line for line in watch.read().splitlines() if f" {tmpfs} " in line)
        assert line.split()[5].split(",")[0] == "ro"
        assert watch.changed() is False
    finally:
        watch.close()
