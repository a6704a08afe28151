"""The default gateway rules (issue 15) on scripted timelines, exactly as shipped in the recipe.

Each rule: it fires when it should and not before its `for`, it resolves only past its hysteresis
(clearThreshold, keepFiringFor or the end of its max window), and a value oscillating around the
threshold gives at most one firing notification, never a fire/resolve series. Samples come every
10 s, the collector's default interval; the clock is the timeline's.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from alert_router.rules import DEFAULT_RULES

from tests.alert_router.timeline import THING, Timeline, config

SAMPLE_S = 10.0
# Long repeat interval: a repeat of the same news is not flapping and would only blur the counts.
ROUTE = {"groupWait": 0, "groupInterval": 10, "repeatInterval": "24h"}
ROOT_DISK = {"mount": "/", "device": "/dev/mmcblk0p2", "fstype": "ext4"}
DATA_DISK = {"mount": "/data", "device": "/dev/mmcblk0p3", "fstype": "ext4"}
IOWAIT = {"cpu": "total", "mode": "iowait"}
MEMORY_PSI = {"resource": "memory"}

Value = float | Callable[[float], float]


def shipped(name: str) -> dict[str, Any]:
    return next(r for r in DEFAULT_RULES if r["name"] == name)


def timeline(*names: str, inhibit: bool = False) -> Timeline:
    extra: dict[str, Any] = {}
    if inhibit:  # the recipe's inhibition rule, as shipped
        extra["inhibitRules"] = [{"sourceMatchers": ["severity=critical"], "targetMatchers": ["severity=warning"],
                                  "equal": ["thing", "kind", "mount"]}]  # fmt: skip
    return Timeline(config([shipped(n) for n in names], route=ROUTE, **extra))


Series = tuple[str, Value, dict[str, str]]


def feed(
    tl: Timeline, start: float, end: float, metric: str, value: Value, labels: dict[str, str],
    also: tuple[Series, ...] = (),
) -> None:  # fmt: skip
    """One sample every SAMPLE_S from `start` up to (not including) `end`, of this series and of `also`
    (each sample carries them all, as the collector's do); a value may be a function of t."""
    assert start >= tl.now, "the timeline only moves forward"
    t = start
    while t < end:
        for name, v, where in ((metric, value, labels), *also):
            tl.push(t, name, v(t) if callable(v) else v, where)
        t += SAMPLE_S


def news(tl: Timeline, start: float = 0.0, end: float = math.inf) -> list[tuple[float, str, str]]:
    """(time, alertname, status) of every alert in every notification sent between start and end."""
    return [(t, a["labels"]["alertname"], a["status"]) for t, n in tl.sent if start <= t <= end for a in n.alerts]


def statuses(tl: Timeline) -> list[str]:
    return [status for _, _, status in news(tl)]


def alternating(low: float, high: float) -> Callable[[float], float]:
    """low, high, low, high... one per sample: a value sitting on the threshold."""
    return lambda t: high if int(t // SAMPLE_S) % 2 else low


def only_alert(tl: Timeline, status: str = "firing") -> dict[str, Any]:
    alerts = [a for _, n in tl.sent for a in n.alerts if a["status"] == status]
    assert len(alerts) == 1, alerts
    return dict(alerts[0])


# -- FilesystemReadOnly: disk.read_only == 1 for 1m, keepFiringFor 5m, critical


def test_filesystem_read_only_fires_after_one_minute_with_mount_and_device() -> None:
    tl = timeline("FilesystemReadOnly")
    root_writable: Series = ("disk.read_only", 0, ROOT_DISK)
    feed(tl, 0, 100, "disk.read_only", 0, DATA_DISK, also=(root_writable,))
    feed(tl, 100, 300, "disk.read_only", 1, DATA_DISK, also=(root_writable,))  # remounted read-only at t=100
    assert news(tl, 0, 159.9) == []
    assert [(name, status) for _, name, status in news(tl, 160, 160.25)] == [("FilesystemReadOnly", "firing")]
    alert = only_alert(tl)
    assert alert["labels"]["severity"] == "critical" and alert["labels"]["mount"] == "/data"
    assert alert["annotations"]["summary"] == f"Filesystem /data (/dev/mmcblk0p3) is read-only on {THING}: writes fail"


def test_filesystem_read_only_resolves_five_minutes_after_it_is_writable_again() -> None:
    tl = timeline("FilesystemReadOnly")
    feed(tl, 0, 200, "disk.read_only", 1, DATA_DISK)
    feed(tl, 200, 600, "disk.read_only", 0, DATA_DISK)  # remounted read-write at t=200
    assert tl.states() == {}
    resolved = [t for t, _, status in news(tl) if status == "resolved"]
    assert statuses(tl) == ["firing", "resolved"]
    assert 500 <= resolved[0] <= 510, resolved  # 5 min keepFiringFor, then the next group flush


def test_filesystem_read_only_flickering_does_not_flap() -> None:
    tl = timeline("FilesystemReadOnly")
    feed(tl, 0, 600, "disk.read_only", alternating(0, 1), DATA_DISK)
    assert tl.sent == []  # never 1m in a row: never fires
    feed(tl, 600, 700, "disk.read_only", 1, DATA_DISK)
    feed(tl, 700, 1200, "disk.read_only", alternating(0, 1), DATA_DISK)
    assert statuses(tl) == ["firing"]  # once firing, the flicker holds it (keepFiringFor)


# -- ClockNotSynchronised: clock.synchronised == 0 for 10m, keepFiringFor 5m, warning


def test_clock_not_synchronised_fires_after_ten_minutes_not_before() -> None:
    tl = timeline("ClockNotSynchronised")
    feed(tl, 0, 700, "clock.synchronised", 0, {})
    assert news(tl, 0, 599.9) == []
    assert [(name, status) for _, name, status in news(tl, 600, 600.25)] == [("ClockNotSynchronised", "firing")]
    alert = only_alert(tl)
    assert alert["labels"]["severity"] == "warning" and alert["labels"]["kind"] == "clock"
    assert "TLS to AWS IoT Core" in alert["annotations"]["summary"] and THING in alert["annotations"]["summary"]


def test_clock_synchronised_again_resolves_after_keep_firing_for() -> None:
    tl = timeline("ClockNotSynchronised")
    feed(tl, 0, 700, "clock.synchronised", 0, {})
    feed(tl, 700, 1100, "clock.synchronised", 1, {})
    resolved = [t for t, _, status in news(tl) if status == "resolved"]
    assert statuses(tl) == ["firing", "resolved"] and 1000 <= resolved[0] <= 1010, news(tl)


def test_clock_that_loses_sync_briefly_never_alerts_and_a_flicker_does_not_resolve() -> None:
    tl = timeline("ClockNotSynchronised")
    feed(tl, 0, 1800, "clock.synchronised", lambda t: 0 if t % 300 < 120 else 1, {})  # 2 min out of 5
    assert tl.sent == []
    feed(tl, 1800, 2500, "clock.synchronised", 0, {})
    feed(tl, 2500, 3500, "clock.synchronised", alternating(0, 1), {})
    assert statuses(tl) == ["firing"]


# -- InodesAlmostFull: disk.inodes_percent > 90 for 5m, clears below 85, warning


def test_inodes_almost_full_fires_after_five_minutes_per_mount() -> None:
    tl = timeline("InodesAlmostFull")
    feed(tl, 0, 400, "disk.inodes_percent", 95, DATA_DISK, also=(("disk.inodes_percent", 40, ROOT_DISK),))
    assert news(tl, 0, 299.9) == []
    alert = only_alert(tl)
    assert 300 <= news(tl)[0][0] <= 300.25
    assert alert["labels"]["mount"] == "/data"
    assert alert["annotations"]["summary"] == f"Inodes of /data at 95.0% on {THING}"


def test_inodes_resolve_only_below_the_clear_threshold() -> None:
    tl = timeline("InodesAlmostFull")
    feed(tl, 0, 400, "disk.inodes_percent", 95, DATA_DISK)
    feed(tl, 400, 600, "disk.inodes_percent", 87, DATA_DISK)  # below 90, above 85: still firing
    assert tl.states() == {"InodesAlmostFull": "firing"}
    feed(tl, 600, 700, "disk.inodes_percent", 80, DATA_DISK)
    assert tl.states() == {} and statuses(tl) == ["firing", "resolved"]


def test_inodes_oscillating_around_ninety_fire_once_and_stay() -> None:
    tl = timeline("InodesAlmostFull")
    feed(tl, 0, 1500, "disk.inodes_percent", alternating(89, 91), DATA_DISK)
    assert statuses(tl) == ["firing"]


# -- OomKill: max of memory.oom_kills over 10m > 0, warning


def test_oom_kill_fires_on_the_first_kill_and_resolves_ten_minutes_later() -> None:
    tl = timeline("OomKill")
    feed(tl, 0, 1200, "memory.oom_kills", lambda t: 0.1 if t == 100 else 0.0, {})  # one kill in one 10 s sample
    times = [t for t, _, _ in news(tl)]
    assert statuses(tl) == ["firing", "resolved"]
    assert 100 <= times[0] <= 100.25  # at once: a kill already happened
    assert 700 <= times[1] <= 720, times  # the kill left the 10 min window
    alert = only_alert(tl)
    assert alert["annotations"]["summary"] == f"The OOM killer ended a process on {THING} in the last 10 minutes"


def test_no_oom_kill_no_alert() -> None:
    tl = timeline("OomKill")
    feed(tl, 0, 1200, "memory.oom_kills", 0.0, {})
    assert tl.sent == [] and tl.states() == {}


def test_repeated_oom_kills_keep_one_alert_firing() -> None:
    tl = timeline("OomKill")
    feed(tl, 0, 3000, "memory.oom_kills", lambda t: 0.1 if t % 480 == 0 else 0.0, {})  # a kill every 8 min
    assert statuses(tl) == ["firing"]


# -- HighIoWait: avg 5m of cpu.mode_percent{cpu="total",mode="iowait"} > 30 for 5m, clears below 20


def test_high_iowait_fires_after_five_minutes_on_the_total_iowait_only() -> None:
    tl = timeline("HighIoWait")
    others: tuple[Series, ...] = (("cpu.mode_percent", 100, {"cpu": "0", "mode": "iowait"}),  # one core
                                  ("cpu.mode_percent", 100, {"cpu": "total", "mode": "user"}))  # another mode
    feed(tl, 0, 400, "cpu.mode_percent", 50, IOWAIT, also=others)
    assert news(tl, 0, 299.9) == []
    alert = only_alert(tl)
    assert 300 <= news(tl)[0][0] <= 300.25 and alert["labels"]["mode"] == "iowait"
    assert alert["annotations"]["summary"] == f"I/O wait at 50% on {THING} (5 min average)"


def test_high_iowait_resolves_when_the_five_minute_average_is_below_twenty() -> None:
    tl = timeline("HighIoWait")
    feed(tl, 0, 600, "cpu.mode_percent", 50, IOWAIT)
    feed(tl, 600, 1000, "cpu.mode_percent", 10, IOWAIT)
    times = [t for t, _, _ in news(tl)]
    assert statuses(tl) == ["firing", "resolved"]
    # The average of a full window falls below 20 once three quarters of it read 10 (about t = 825).
    assert 800 <= times[1] <= 850, times


def test_iowait_spikes_averaging_below_thirty_never_fire_and_an_average_near_it_does_not_flap() -> None:
    tl = timeline("HighIoWait")
    feed(tl, 0, 1200, "cpu.mode_percent", alternating(0, 55), IOWAIT)  # spikes to 55, average 27.5
    assert tl.sent == []
    feed(tl, 1200, 1800, "cpu.mode_percent", 60, IOWAIT)
    feed(tl, 1800, 3000, "cpu.mode_percent", alternating(25, 35), IOWAIT)  # the average sits on 30
    assert statuses(tl) == ["firing"]


# -- MemoryPressure: pressure.some_avg60{resource="memory"} > 20 for 2m, clears below 10


def test_memory_pressure_fires_after_two_minutes_for_memory_only() -> None:
    tl = timeline("MemoryPressure")
    feed(tl, 0, 200, "pressure.some_avg60", 35, MEMORY_PSI, also=(("pressure.some_avg60", 80, {"resource": "io"}),))
    assert news(tl, 0, 119.9) == []
    alert = only_alert(tl)
    assert 120 <= news(tl)[0][0] <= 120.25 and alert["labels"]["resource"] == "memory"
    assert alert["annotations"]["summary"] == f"Memory pressure on {THING}: tasks stalled 35% of the last minute"


def test_memory_pressure_resolves_below_ten_not_below_twenty() -> None:
    tl = timeline("MemoryPressure")
    feed(tl, 0, 200, "pressure.some_avg60", 35, MEMORY_PSI)
    feed(tl, 200, 400, "pressure.some_avg60", 15, MEMORY_PSI)
    assert tl.states() == {"MemoryPressure": "firing"}
    feed(tl, 400, 450, "pressure.some_avg60", 5, MEMORY_PSI)
    assert tl.states() == {} and statuses(tl) == ["firing", "resolved"]


def test_memory_pressure_on_the_threshold_fires_once() -> None:
    tl = timeline("MemoryPressure")
    feed(tl, 0, 1200, "pressure.some_avg60", alternating(19, 21), MEMORY_PSI)
    assert statuses(tl) == ["firing"]


def test_short_memory_pressure_never_fires() -> None:
    tl = timeline("MemoryPressure")
    feed(tl, 0, 1200, "pressure.some_avg60", lambda t: 40 if t % 300 < 60 else 2, MEMORY_PSI)  # 1 min in 5
    assert tl.sent == []


# -- Throttled: avg 5m of board.throttled > 0.5 for 5m, clears below 0.25


def test_throttled_fires_after_five_minutes_of_throttling() -> None:
    tl = timeline("Throttled")
    feed(tl, 0, 400, "board.throttled", 1, {})
    assert news(tl, 0, 299.9) == []
    alert = only_alert(tl)
    assert 300 <= news(tl)[0][0] <= 300.25
    assert alert["annotations"]["summary"] == f"CPU throttled 100% of the last 5 min on {THING} (heat or under-voltage)"


def test_throttled_resolves_once_three_quarters_of_the_window_are_clean() -> None:
    tl = timeline("Throttled")
    feed(tl, 0, 600, "board.throttled", 1, {})
    feed(tl, 600, 1100, "board.throttled", 0, {})
    times = [t for t, _, _ in news(tl)]
    assert statuses(tl) == ["firing", "resolved"]
    assert 820 <= times[1] <= 850, times  # fewer than a quarter of the last 5 min throttled


def test_occasional_throttling_never_fires_and_half_time_throttling_does_not_flap() -> None:
    tl = timeline("Throttled")
    feed(tl, 0, 1200, "board.throttled", lambda t: 1 if t % 50 == 0 else 0, {})  # one sample in five
    assert tl.sent == []
    feed(tl, 1200, 1500, "board.throttled", 1, {})
    feed(tl, 1500, 3000, "board.throttled", alternating(0, 1), {})  # throttled half the time
    assert statuses(tl) == ["firing"]


# -- UnderVoltage: max of board.under_voltage over 10m > 0, warning


def test_under_voltage_fires_at_once_and_resolves_after_ten_clean_minutes() -> None:
    tl = timeline("UnderVoltage")
    feed(tl, 0, 1200, "board.under_voltage", lambda t: 1 if t == 300 else 0, {})
    times = [t for t, _, _ in news(tl)]
    assert statuses(tl) == ["firing", "resolved"]
    assert 300 <= times[0] <= 300.25 and 900 <= times[1] <= 920, times
    alert = only_alert(tl)
    assert alert["labels"]["kind"] == "board" and "power supply" in alert["annotations"]["summary"]


def test_under_voltage_dips_every_few_minutes_keep_one_alert() -> None:
    tl = timeline("UnderVoltage")
    feed(tl, 0, 3000, "board.under_voltage", lambda t: 1 if t % 180 == 0 else 0, {})
    assert statuses(tl) == ["firing"]


def test_good_power_never_alerts() -> None:
    tl = timeline("UnderVoltage", "Throttled")
    feed(tl, 0, 1200, "board.under_voltage", 0, {}, also=(("board.throttled", 0, {}),))
    assert tl.sent == []


# -- GreengrassRootAlmostFull: greengrass.root_percent > 90 for 1m, clears below 85, critical


def test_greengrass_root_almost_full_is_critical_after_a_minute() -> None:
    tl = timeline("GreengrassRootAlmostFull")
    feed(tl, 0, 200, "greengrass.root_percent", 93.4, {})
    assert news(tl, 0, 59.9) == []
    alert = only_alert(tl)
    assert 60 <= news(tl)[0][0] <= 60.25 and alert["labels"]["severity"] == "critical"
    assert alert["annotations"]["summary"] == f"Greengrass root at 93.4% on {THING}: deployments will fail"


def test_greengrass_root_resolves_below_eighty_five_and_does_not_flap_near_ninety() -> None:
    tl = timeline("GreengrassRootAlmostFull")
    feed(tl, 0, 1200, "greengrass.root_percent", alternating(89, 91), {})
    assert statuses(tl) == ["firing"]
    feed(tl, 1200, 1300, "greengrass.root_percent", 86, {})
    assert tl.states() == {"GreengrassRootAlmostFull": "firing"}
    feed(tl, 1300, 1400, "greengrass.root_percent", 60, {})
    assert statuses(tl) == ["firing", "resolved"]


# -- across rules


def test_a_read_only_filesystem_mutes_the_inode_warning_of_that_mount_only() -> None:
    tl = timeline("FilesystemReadOnly", "InodesAlmostFull", inhibit=True)
    for t in range(0, 400, 10):  # both mounts in every sample, as the collector reports them
        for disk in (DATA_DISK, ROOT_DISK):
            tl.push(t, "disk.read_only", 1 if disk is DATA_DISK else 0, disk)
            tl.push(t, "disk.inodes_percent", 95, disk)
    sent = sorted((name, a_mount) for _, n in tl.sent for name, a_mount in
                  [(a["labels"]["alertname"], a["labels"]["mount"]) for a in n.alerts])  # fmt: skip
    assert sent == [("FilesystemReadOnly", "/data"), ("InodesAlmostFull", "/")]


@pytest.mark.parametrize("rule", [r for r in DEFAULT_RULES if r["name"] not in
                                  {"HighCpu", "HighMemory", "DiskAlmostFull", "DiskFull", "HighTemperature",
                                   "CollectorSilent"}], ids=lambda r: r["name"])  # fmt: skip
def test_every_gateway_rule_is_held_against_flapping(rule: dict[str, Any]) -> None:
    """A new default rule needs a `for`, keepFiringFor, clearThreshold or a max window (issue 15)."""
    held = any(key in rule for key in ("for", "keepFiringFor", "clearThreshold")) or rule.get("value") == "max"
    assert held, rule["name"]
    assert rule.get("labels", {}).get("kind"), "kind groups it for the inhibition rule"


def test_every_default_rule_reads_a_metric_the_collector_declares() -> None:
    """The rules and the collector agree on names (issue 15's list); a renamed metric would silence a rule."""
    collector_src = Path(__file__).resolve().parents[2] / "components" / "metrics-collector" / "src"
    if str(collector_src) not in sys.path:
        sys.path.insert(0, str(collector_src))
    from metrics_collector.health import HEALTH_METRICS
    from metrics_collector.metric_table import SYSTEM_METRICS

    declared = {spec.name for spec in (*SYSTEM_METRICS, *HEALTH_METRICS)}
    assert sorted({r["metric"] for r in DEFAULT_RULES} - declared) == []
