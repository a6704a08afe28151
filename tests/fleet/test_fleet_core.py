"""The pure fleet table with an injected clock: values, staleness, alerts, bounds, sort/filter, bad input."""

from __future__ import annotations

import json
import tracemalloc
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from edgewatch.fleet.inbox import Inbox
from edgewatch.fleet.model import MAX_ALERTS_PER_DEVICE, MAX_PAYLOAD_BYTES, FleetTable
from edgewatch.fleet.view import render
from edgewatch.fleet.watch import JsonLines, Watcher


def summary(thing: str, to_ms: int, **values: float) -> bytes:
    metrics = [{"name": "cpu.percent", "unit": "%", "labels": {"cpu": "0"}, "last": 99.0},
               {"name": "cpu.percent", "unit": "%", "labels": {"cpu": "total"}, "last": values.get("cpu", 10.0)},
               {"name": "memory.percent", "unit": "%", "labels": {}, "last": values.get("mem", 20.0)},
               {"name": "disk.percent", "unit": "%", "labels": {"mount": "/"}, "last": values.get("disk", 30.0)},
               {"name": "disk.percent", "unit": "%", "labels": {"mount": "/data"}, "last": 5.0},
               {"name": "temperature.current", "unit": "°C", "labels": {"sensor": "a"},
                "last": values.get("temp", 40.0)},
               {"name": "temperature.current", "unit": "°C", "labels": {"sensor": "b"}, "last": 1.0}]
    return json.dumps({"schema": "edgewatch.metrics-batch/1", "thing": thing, "mode": "summary", "from": to_ms - 1000,
                       "to": to_ms, "sampleCount": 3, "part": 0, "parts": 1, "metrics": metrics}).encode()


def notification(thing: str, *alerts: tuple[str, str, str]) -> bytes:
    return json.dumps({"schema": "edgewatch.notification/1", "id": "n1", "thing": thing, "status": "firing",
                       "alerts": [{"status": status, "fingerprint": f"fp-{name}",
                                   "labels": {"alertname": name, "severity": severity}}
                                  for name, severity, status in alerts]}).encode()


def kinds(events: list[dict[str, Any]]) -> list[str]:
    return [e["event"] for e in events]


def test_a_summary_batch_gives_total_cpu_memory_worst_disk_and_hottest_sensor() -> None:
    table = FleetTable()
    events = table.ingest("dt/edgewatch/dev-1/metrics", summary("dev-1", 10_000, cpu=12, mem=34, disk=88, temp=71), 100)
    assert kinds(events) == ["device_seen", "batch"]
    assert events[0]["first"] is True
    row = table.rows()[0]
    assert (row["thing"], row["status"], row["cpu"], row["mem"], row["disk"], row["temp"]) == \
        ("dev-1", "OK", 12, 34, 88, 71)


def test_a_raw_batch_uses_its_last_sample() -> None:
    table = FleetTable()
    doc = {"schema": "edgewatch.metrics-batch/1", "thing": "r", "mode": "raw", "from": 1, "to": 2, "samples": [
        {"ts": 1, "metrics": [{"name": "memory.percent", "value": 10, "unit": "%", "labels": {}}]},
        {"ts": 2, "metrics": [{"name": "memory.percent", "value": 60, "unit": "%", "labels": {}}]}]}
    table.ingest("dt/edgewatch/r/metrics", json.dumps(doc).encode(), 5)
    assert table.rows()[0]["mem"] == 60


def test_stale_after_twice_the_interval_derived_from_consecutive_batches_and_back_when_seen() -> None:
    table = FleetTable(default_interval_s=300)
    table.ingest("dt/edgewatch/d/metrics", summary("d", 1_000_000), 1000.0)
    table.ingest("dt/edgewatch/d/metrics", summary("d", 1_010_000), 1010.0)  # 10 s apart: interval 10 s
    assert table.device("d").interval_s == 10
    assert table.tick(1030.0) == []  # exactly 2 x interval: not yet
    stale = table.tick(1030.5)
    assert kinds(stale) == ["device_stale"] and stale[0]["thing"] == "d"
    assert table.tick(1040) == []  # reported once
    assert table.rows(stale_only=True)[0]["status"] == "STALE"
    back = table.ingest("dt/edgewatch/d/metrics", summary("d", 1_050_000), 1050.0)
    assert kinds(back) == ["device_seen", "batch"] and back[0]["first"] is False
    assert table.rows(stale_only=True) == []


def test_one_batch_only_uses_the_default_interval() -> None:
    table = FleetTable(default_interval_s=60)
    table.ingest("dt/edgewatch/d/metrics", summary("d", 5000), 0.0)
    assert table.tick(120.0) == [] and kinds(table.tick(120.1)) == ["device_stale"]


def test_parts_of_one_batch_and_redelivered_batches_do_not_count_twice() -> None:
    table = FleetTable()
    table.ingest("dt/edgewatch/d/metrics", summary("d", 5000), 1)
    again = table.ingest("dt/edgewatch/d/metrics", summary("d", 5000), 2)
    assert again[-1]["duplicate"] is True
    part1 = json.loads(summary("d", 5000))
    part1["part"] = 1
    assert table.ingest("dt/edgewatch/d/metrics", json.dumps(part1).encode(), 3)[-1]["duplicate"] is False
    assert table.device("d").batches == 2 and table.device("d").interval_s == 300  # same `to`: no interval


def test_alerts_firing_and_resolved_by_severity() -> None:
    table = FleetTable()
    events = table.ingest("dt/edgewatch/d/alerts", notification("d", ("HighCpu", "warning", "firing"),
                                                               ("DiskFull", "critical", "firing")), 1)
    assert kinds(events) == ["device_seen", "alert_firing", "alert_firing"]
    assert table.rows()[0]["alerts"] == {"warning": 1, "critical": 1}
    assert table.ingest("dt/edgewatch/d/alerts", notification("d", ("HighCpu", "warning", "firing")), 2) == []
    resolved = table.ingest("dt/edgewatch/d/alerts", notification("d", ("HighCpu", "warning", "resolved"),
                                                                 ("Never", "info", "resolved")), 3)
    assert kinds(resolved) == ["alert_resolved"] and resolved[0]["alertname"] == "HighCpu"
    assert table.rows(sort="alerts")[0]["alerts"] == {"critical": 1}


def test_firing_alerts_per_device_are_capped() -> None:
    table = FleetTable()
    many = [(f"A{i}", "warning", "firing") for i in range(MAX_ALERTS_PER_DEVICE + 10)]
    table.ingest("dt/edgewatch/d/alerts", notification("d", *many), 1)
    assert sum(table.rows()[0]["alerts"].values()) == MAX_ALERTS_PER_DEVICE


def test_presence_events_mark_known_devices() -> None:
    table = FleetTable()
    table.ingest("dt/edgewatch/d/metrics", summary("d", 1), 1)
    events = table.ingest("$aws/events/presence/disconnected/d", b'{"clientId":"d","eventType":"disconnected"}', 2)
    assert events == [{"event": "presence_disconnected", "ts": 2, "thing": "d", "known": True}]
    assert table.rows()[0]["connected"] is False


def test_bad_messages_are_rejected_with_the_reason_and_change_nothing() -> None:
    table = FleetTable()
    table.ingest("dt/edgewatch/d/metrics", summary("d", 1000, cpu=5), 1)
    before = table.rows()
    cases = {
        ("dt/edgewatch/d/metrics", b"{nope"): "not JSON",
        ("dt/edgewatch/d/metrics", b"[1]"): "expected a JSON object, got list",
        ("dt/edgewatch/d/metrics", summary("other", 2000)): "differs from the topic",
        ("dt/edgewatch/d/metrics", b'{"to": "x"}'): "no integer 'to'",
        ("dt/edgewatch/d/alerts", b'{"alerts": 3}'): "no 'alerts' list",
        ("dt/edgewatch/d/metrics", b" " * (MAX_PAYLOAD_BYTES + 1)): "bytes is over",
        ("dt/edgewatch/a/b/metrics", b"{}"): "not a fleet topic",
        ("elsewhere", b"{}"): "not a fleet topic",
    }
    for (topic, payload), reason in cases.items():
        events = table.ingest(topic, payload, 5)
        assert kinds(events) == ["rejected"] and reason in events[0]["reason"], (topic, events)
        assert events[0]["topic"] == topic
    assert table.rows() == before and table.rejected == len(cases)


@settings(max_examples=300, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=5),
                    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.sampled_from(
                        ["to", "part", "mode", "metrics", "samples", "alerts", "labels", "name", "last", "value",
                         "status", "thing", "fingerprint"]), c, max_size=5), max_leaves=20),
       st.sampled_from(["metrics", "alerts"]))
def test_any_json_value_is_accepted_or_rejected_never_raises(doc: Any, kind: str) -> None:
    table = FleetTable()
    events = table.ingest(f"dt/edgewatch/t/{kind}", json.dumps(doc).encode(), 1.0)
    assert all(isinstance(e["event"], str) for e in events)
    table.tick(10_000.0)
    table.rows(sort="cpu")
    json.dumps(events)  # every event is writable as a JSON line


def test_the_least_recently_seen_device_is_evicted_at_the_cap() -> None:
    table = FleetTable(max_devices=3)
    for i, thing in enumerate(("a", "b", "c")):
        table.ingest(f"dt/edgewatch/{thing}/metrics", summary(thing, 1000 + i), i)
    table.ingest("dt/edgewatch/a/metrics", summary("a", 5000), 10)  # a is fresh again
    events = table.ingest("dt/edgewatch/d/metrics", summary("d", 1), 11)
    assert events[0] == {"event": "device_evicted", "ts": 11, "thing": "b", "lastSeen": 1}
    assert sorted(r["thing"] for r in table.rows()) == ["a", "c", "d"] and table.evicted == 1


def test_ten_thousand_devices_stay_within_a_memory_bound() -> None:
    table = FleetTable(max_devices=10_000)
    doc = json.loads(summary("x", 1000))
    del doc["thing"]  # optional: the topic names the thing
    payload = json.dumps(doc).encode()
    tracemalloc.start()
    try:
        for i in range(12_000):
            thing = f"plant-{i:05d}-" + "x" * 100  # long names: the bound holds for the worst realistic case
            table.ingest(f"dt/edgewatch/{thing}/metrics", payload, float(i))
        current, _peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(table) == 10_000 and table.evicted == 2_000
    assert current < 40 * 1024 * 1024, f"{current / 1e6:.1f} MB for 10,000 devices"


def test_sort_and_group_filter() -> None:
    table = FleetTable()
    for thing, cpu in (("plant-a-1", 50), ("plant-a-2", 90), ("plant-b-1", 70)):
        table.ingest(f"dt/edgewatch/{thing}/metrics", summary(thing, 1, cpu=cpu), 1)
    assert [r["thing"] for r in table.rows(sort="cpu")] == ["plant-a-2", "plant-b-1", "plant-a-1"]
    assert [r["thing"] for r in table.rows(group="plant-a-*")] == ["plant-a-1", "plant-a-2"]
    assert [r["thing"] for r in table.rows(sort="cpu", group="plant-a-*", limit=1)] == ["plant-a-2"]


def test_the_rich_table_shows_values_status_and_alerts() -> None:
    from rich.console import Console

    table = FleetTable(default_interval_s=10)
    table.ingest("dt/edgewatch/dev-1/metrics", summary("dev-1", 1, cpu=12, temp=55), 100)
    table.ingest("dt/edgewatch/dev-1/alerts", notification("dev-1", ("DiskFull", "critical", "firing")), 100)
    table.ingest("dt/edgewatch/dev-2/metrics", summary("dev-2", 1), 50)
    table.tick(115)
    console = Console(width=120, record=True, color_system=None)
    console.print(render(table, 115, "thing", None, False, 50))
    text = console.export_text()
    lines = {line.split()[1]: line for line in text.splitlines() if "dev-" in line}
    assert "12%" in lines["dev-1"] and "55°C" in lines["dev-1"] and "1 critical" in lines["dev-1"]
    assert "OK" in lines["dev-1"] and "STALE" in lines["dev-2"] and "65s ago" in lines["dev-2"]


def test_the_watcher_drains_the_inbox_ticks_with_its_clock_and_writes_json_lines() -> None:
    import io

    now = [1000.0]
    inbox, out = Inbox(), io.StringIO()
    watcher = Watcher(FleetTable(default_interval_s=5), inbox, JsonLines(out), clock=lambda: now[0])
    inbox.put("dt/edgewatch/d/metrics", summary("d", 1), 1000.0)
    watcher.step(timeout=0)
    now[0] = 1011.0
    watcher.step(timeout=0)
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    assert kinds(events) == ["device_seen", "batch", "device_stale"] and watcher.messages == 1


def test_the_inbox_is_bounded_in_bytes() -> None:
    import threading

    inbox = Inbox(max_bytes=1000)
    inbox.put("t", b"x" * 900, 0)
    second = threading.Thread(target=inbox.put, args=("t", b"y" * 900, 0))
    second.start()
    second.join(0.2)  # a bounded wait that shows the producer is held back, not a synchronisation sleep
    assert second.is_alive()
    assert inbox.get(1)[1] == b"x" * 900
    second.join(5)
    assert not second.is_alive() and inbox.get(1)[1] == b"y" * 900


def test_json_lines_honour_group_and_stale() -> None:
    import io

    table = FleetTable(default_interval_s=5)
    events = [*table.ingest("dt/edgewatch/plant-a-1/metrics", summary("plant-a-1", 1), 0),
              *table.ingest("dt/edgewatch/plant-b-1/metrics", summary("plant-b-1", 1), 0),
              {"event": "connected", "ts": 0, "count": 1}, *table.tick(11),
              *table.ingest("dt/edgewatch/plant-a-1/metrics", summary("plant-a-1", 2), 12)]
    grouped, stale = io.StringIO(), io.StringIO()
    JsonLines(grouped, group="plant-a-*").events(events)
    JsonLines(stale, stale_only=True).events(events)
    assert [(e["event"], e.get("thing")) for e in map(json.loads, grouped.getvalue().splitlines())] == [
        ("device_seen", "plant-a-1"), ("batch", "plant-a-1"), ("connected", None), ("device_stale", "plant-a-1"),
        ("device_seen", "plant-a-1"), ("batch", "plant-a-1")]  # back from stale: device_seen(first=false), batch
    assert [(e["event"], e.get("thing")) for e in map(json.loads, stale.getvalue().splitlines())] == [
        ("connected", None), ("device_stale", "plant-a-1"), ("device_stale", "plant-b-1"), ("device_seen", "plant-a-1")]
