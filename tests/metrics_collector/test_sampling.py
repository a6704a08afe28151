"""Snapshot + metric table + rates over a fake psutil seam returning real psutil named tuples."""

from __future__ import annotations

import dataclasses

import pytest
from metrics_collector.config import parse_config
from metrics_collector.health import CollectorHealth
from metrics_collector.metric_table import SYSTEM_METRICS, MetricSpec
from metrics_collector.readings import MemoryDetail, NucleusProcess
from metrics_collector.sampler import Sampler, evaluate
from metrics_collector.snapshot import SystemSnapshot
from metrics_collector.system_source import ProcessSample

from edgewatch_shared.metrics_message import Metric, validation_errors
from tests.metrics_collector.fakes import (
    FakeSource,
    cpu_times,
    disk_io,
    fs_usage,
    full_source,
    net_io,
    partition,
    temperature,
)


def values(metrics: tuple[Metric, ...], name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {tuple(sorted(m.labels.items())): m.value for m in metrics if m.name == name}


def names(metrics: tuple[Metric, ...]) -> set[str]:
    return {m.name for m in metrics}


@pytest.fixture
def source() -> FakeSource:
    return FakeSource()


def make_sampler(source: FakeSource) -> tuple[Sampler, CollectorHealth]:
    health = CollectorHealth()
    return Sampler(source, "gw-01", health), health


def test_sample_is_a_valid_message_with_cpu_memory_and_disks(source: FakeSource) -> None:
    sampler, _ = make_sampler(source)
    message = sampler.sample(parse_config(None), now=0.0, wall_time=1_763_800_000.123)
    assert validation_errors(message.to_dict()) == []
    assert message.ts == 1_763_800_000_123
    assert message.thing == "gw-01"
    assert values(message.metrics, "cpu.percent") == {
        (("cpu", "total"),): 12.5,
        (("cpu", "0"),): 10.0,
        (("cpu", "1"),): 15.0,
    }
    assert values(message.metrics, "memory.available") == {(): 6_000.0}
    assert values(message.metrics, "swap.percent") == {(): 10.0}
    assert set(values(message.metrics, "disk.percent").values()) == {40.0, 25.0}
    assert values(message.metrics, "load.15m") == {(): 0.125}
    assert values(message.metrics, "system.uptime") == {(): pytest.approx(1_763_800_000.123 - 1_000.0)}


def test_first_sample_has_no_rates_then_rates_per_second(source: FakeSource) -> None:
    sampler, _ = make_sampler(source)
    config = parse_config(None)
    source.disks_io = {"sda": disk_io(read_bytes=1_000, writes=10)}
    source.nics = {"eth0": net_io(sent=500, precv=7), "lo": net_io(sent=10**9)}
    first = sampler.sample(config, now=100.0, wall_time=1.0)
    rates = {spec.name for spec in SYSTEM_METRICS if spec.counter}
    assert not {n for n in names(first.metrics) if n.startswith(("diskio.", "net.")) and n in rates}

    source.disks_io = {"sda": disk_io(read_bytes=5_000, writes=30)}
    source.nics = {"eth0": net_io(sent=2_500, precv=27), "lo": net_io(sent=2 * 10**9)}
    second = sampler.sample(config, now=102.0, wall_time=3.0)
    assert values(second.metrics, "diskio.read_bytes") == {(("device", "sda"),): 2_000.0}
    assert values(second.metrics, "diskio.write_ops") == {(("device", "sda"),): 10.0}
    assert values(second.metrics, "net.bytes_sent") == {(("interface", "eth0"),): 1_000.0}
    assert values(second.metrics, "net.packets_recv") == {(("interface", "eth0"),): 10.0}
    # lo is excluded by default; loop devices are excluded from disk I/O by default.
    assert all(dict(k).get("interface") != "lo" for k in values(second.metrics, "net.bytes_sent"))


def test_counter_going_backwards_is_a_reset_not_a_negative_rate(source: FakeSource) -> None:
    sampler, _ = make_sampler(source)
    config = parse_config(None)
    for now, sent in ((0.0, 10_000), (1.0, 12_000), (2.0, 100), (3.0, 400)):
        source.nics = {"eth0": net_io(sent=sent)}
        message = sampler.sample(config, now=now, wall_time=now)
        rate = values(message.metrics, "net.bytes_sent")
        if now == 1.0:
            assert rate == {(("interface", "eth0"),): 2_000.0}
        elif now == 2.0:
            assert rate == {}  # reset: new baseline, no rate
        elif now == 3.0:
            assert rate == {(("interface", "eth0"),): 300.0}


def test_a_failing_disk_is_missing_and_the_others_are_not(source: FakeSource) -> None:
    source.usage["/data"] = PermissionError("denied")
    sampler, health = make_sampler(source)
    message = sampler.sample(parse_config(None), now=0.0, wall_time=1.0)
    mounts = {dict(k)["mount"] for k in values(message.metrics, "disk.used")}
    assert mounts == {"/"}
    assert "cpu.percent" in names(message.metrics)
    assert health.counts().read_failures == 1


@pytest.mark.parametrize(
    ("attribute", "missing"),
    [
        ("cpu", {"cpu.percent:total"}),
        ("memory", {"memory.used", "memory.available", "memory.percent", "memory.total"}),
        ("load", {"load.1m", "load.5m", "load.15m"}),
        ("boot", {"system.uptime", "system.boot_time"}),
        ("partitions", {"disk.used", "disk.percent"}),
    ],
)
def test_one_failing_read_never_stops_the_others(source: FakeSource, attribute: str, missing: set[str]) -> None:
    setattr(source, attribute, PermissionError("no access"))
    sampler, _ = make_sampler(source)
    message = sampler.sample(parse_config(None), now=0.0, wall_time=5_000.0)
    present = names(message.metrics) | {
        f"cpu.percent:{m.labels['cpu']}" for m in message.metrics if m.name == "cpu.percent"
    }
    assert not (missing & present)
    assert {"swap.used", "system.process_count", "collector.samples_taken_total"} <= present


def test_pseudo_filesystems_skipped_and_include_exclude_applied(source: FakeSource) -> None:
    source.partitions = [
        partition("/dev/sda1", "/"),
        partition("/dev/loop3", "/snap/core/1", "squashfs"),
        partition("tmpfs", "/run", "tmpfs"),
        partition("/dev/sdb1", "/data", "xfs"),
        partition("/dev/sdc1", "/mnt/usb", "vfat"),
    ]
    source.usage["/mnt/usb"] = fs_usage(10, 5, 5, 50.0)
    sampler, _ = make_sampler(source)

    default = sampler.sample(parse_config(None), now=0.0, wall_time=1.0)
    assert {dict(k)["mount"] for k in values(default.metrics, "disk.used")} == {"/", "/data", "/mnt/usb"}

    excluded = sampler.sample(parse_config({"diskExcludeMounts": ["/mnt/*"]}), now=1.0, wall_time=2.0)
    assert {dict(k)["mount"] for k in values(excluded.metrics, "disk.used")} == {"/", "/data"}

    included = sampler.sample(parse_config({"diskIncludeMounts": ["/data"]}), now=2.0, wall_time=3.0)
    assert {dict(k)["mount"] for k in values(included.metrics, "disk.used")} == {"/data"}


def test_no_sensors_is_not_an_error(source: FakeSource) -> None:
    source.temperatures = {}
    sampler, health = make_sampler(source)
    message = sampler.sample(parse_config(None), now=0.0, wall_time=1.0)
    assert "temperature.current" not in names(message.metrics)
    assert health.counts().read_failures == 0


def test_temperatures_read_on_their_own_slower_interval(source: FakeSource) -> None:
    source.temperatures = {"coretemp": [temperature("Package id 0", 48.0), temperature("", 45.0)]}
    sampler, _ = make_sampler(source)
    config = parse_config({"sampleIntervalSeconds": 1, "temperatureIntervalSeconds": 30})
    with_temps = []
    for second in range(61):
        message = sampler.sample(config, now=float(second), wall_time=float(second))
        if "temperature.current" in names(message.metrics):
            with_temps.append(second)
    assert with_temps == [0, 30, 60]
    assert source.temperature_reads == 3
    first = sampler.sample(config, now=90.0, wall_time=90.0)
    assert values(first.metrics, "temperature.current") == {
        (("label", "Package id 0"), ("sensor", "coretemp")): 48.0,
        (("label", "coretemp1"), ("sensor", "coretemp")): 45.0,
    }


def test_top_processes_by_cpu_and_memory_only_when_enabled(source: FakeSource) -> None:
    source.procs = [
        ProcessSample(1, "init", 0.1, 5_000),
        ProcessSample(2, "busy", 90.0, 1_000),
        ProcessSample(3, "fat", 1.0, 900_000),
    ]
    sampler, _ = make_sampler(source)
    off = sampler.sample(parse_config(None), now=0.0, wall_time=1.0)
    assert "process.cpu_percent" not in names(off.metrics)

    on = sampler.sample(parse_config({"topProcesses": 1}), now=1.0, wall_time=2.0)
    assert values(on.metrics, "process.cpu_percent") == {(("pid", "2"), ("process", "busy"), ("rank", "1")): 90.0}
    assert values(on.metrics, "process.memory_rss") == {(("pid", "3"), ("process", "fat"), ("rank", "1")): 900_000.0}


def test_disabled_groups_are_not_read(source: FakeSource) -> None:
    source.disks_io = RuntimeError("must not be read")
    sampler, health = make_sampler(source)
    config = dataclasses.replace(parse_config(None), metric_groups=frozenset({"cpu"}))
    message = sampler.sample(config, now=0.0, wall_time=1.0)
    assert names(message.metrics) == {"cpu.percent"}
    assert health.counts().read_failures == 0


def test_health_metrics_count_samples(source: FakeSource) -> None:
    sampler, _ = make_sampler(source)
    config = parse_config(None)
    for i in range(3):
        message = sampler.sample(config, now=float(i), wall_time=float(i))
    assert values(message.metrics, "collector.samples_taken_total") == {(): 3.0}


def test_every_metric_spec_yields_a_value_from_a_full_source() -> None:
    # Spec by spec, calling each value function directly: evaluate() contains errors (a misspelt
    # attribute would only drop its metric), so here an AttributeError fails the test instead.
    source = full_source()
    sampler, _ = make_sampler(source)
    config = parse_config({"topProcesses": 3})
    snapshots: list[SystemSnapshot] = []
    for now in (0.0, 10.0):  # rates and deltas need two samples
        t = int(now)
        source.disks_io = {"sda": disk_io(read_bytes=t * 100, writes=t, busy_ms=t * 10, weighted_ms=t * 30)}
        source.nics = {"eth0": net_io(sent=t * 10, recv=t * 20)}
        source.times = {cpu: cpu_times(user=t * 5, system=t, idle=t * 20, iowait=t) for cpu in ("total", "0")}
        source.memory_extra = MemoryDetail(100, 1_000, 10, oom_kills=t // 10, major_faults=t * 3)
        source.nucleus_process = NucleusProcess(4242, 180_000_000, 12.5 + t / 10)
        snapshots.append(sampler.snapshot(config, now=now, wall_time=1_000_000.0 + now))
    assert snapshots[-1].failures == ()

    def readings(spec: MetricSpec[SystemSnapshot]) -> list[tuple[object, float]]:
        return [r for snapshot in snapshots for r in spec.values(snapshot)]

    empty = [spec.name for spec in SYSTEM_METRICS if not readings(spec)]
    assert empty == []
    # Every enabled group appears in one real sample, rates included.
    sampler.sample(config, now=100.0, wall_time=1_000_100.0)
    source.disks_io = {"sda": disk_io(read_bytes=50_000, writes=90, busy_ms=500, weighted_ms=900)}
    source.nics = {"eth0": net_io(sent=5_000, recv=9_000)}
    source.times = {cpu: cpu_times(user=900, system=100, idle=2_000, iowait=70) for cpu in ("total", "0")}
    source.memory_extra = MemoryDetail(100, 1_000, 10, oom_kills=3, major_faults=70)
    source.nucleus_process = NucleusProcess(4242, 180_000_000, 40.0)
    message = sampler.sample(config, now=200.0, wall_time=1_000_200.0)  # temperatures due again
    assert {s.name for s in SYSTEM_METRICS} <= names(message.metrics)
    assert evaluate(SYSTEM_METRICS, snapshots[-1], frozenset({"nothing"})) == []
