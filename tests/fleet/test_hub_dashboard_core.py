"""The dashboard's hub mode without processes: FleetBook, its bounds, and the new configuration keys."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from local_dashboard.config import DEFAULTS, parse_checked, validity_reason
from local_dashboard.state import DashboardState

from tests.fleet.hub_support import encoded, raw_batch, summary_batch

T0 = 1_800_000_000_000
HUB = {"fleetView": True, "fleetPublishIntervalSeconds": 10}


def hub(**overrides: Any) -> DashboardState:
    return DashboardState(parse_checked({**HUB, **overrides}), "hub-01")


def alerts(thing: str, *items: tuple[str, str, str]) -> dict[str, Any]:
    return {"schema": "edgewatch.alerts/1", "thing": thing, "id": "n1", "status": "firing",
            "alerts": [{"fingerprint": fp, "status": status, "labels": {"alertname": name, "severity": "critical"},
                        "annotations": {"summary": f"{name} on {thing}"}, "startsAt": T0}
                       for fp, name, status in items]}  # fmt: skip


def test_devices_with_key_values_status_and_alerts() -> None:
    s = hub()
    assert s.receive("fleet", encoded(summary_batch("gw-a", T0, cpu=12.5, mem=40, disk=80, temp=51)), T0,
                     topic="dt/edgewatch/gw-a/metrics")  # fmt: skip
    assert s.receive("fleet", raw_batch("gw-b", T0, cpu=33.0), T0, topic="dt/edgewatch/gw-b/metrics")
    assert s.receive("fleet", alerts("gw-b", ("f1", "HighCpu", "firing")), T0, topic="dt/edgewatch/gw-b/alerts")
    rows = {r["thing"]: r for r in s.fleet_list(T0 + 1000)["devices"]}
    assert rows["gw-a"]["status"] == "ok" and rows["gw-a"]["cpu"] == 12.5 and rows["gw-a"]["mem"] == 40
    assert (rows["gw-a"]["disk"], rows["gw-a"]["diskMount"], rows["gw-a"]["temp"]) == (80, "/", 51)
    assert rows["gw-b"]["status"] == "alerting" and rows["gw-b"]["cpu"] == 33.0
    assert [a["alertname"] for a in rows["gw-b"]["alerts"]] == ["HighCpu"]
    # Stale after 2 x the publish interval without news; a resolved alert leaves the list.
    assert s.receive("fleet", alerts("gw-b", ("f1", "HighCpu", "resolved")), T0 + 15_000,
                     topic="dt/edgewatch/gw-b/alerts")  # fmt: skip
    rows = {r["thing"]: r for r in s.fleet_list(T0 + 21_000)["devices"]}
    assert rows["gw-a"]["status"] == "stale" and rows["gw-b"]["status"] == "ok" and rows["gw-b"]["alerts"] == []
    assert [r["thing"] for r in s.fleet_list(T0 + 21_000)["devices"]] == ["gw-a", "gw-b"]  # stale first


def test_device_view_lists_recent_batches_newest_first_and_bounded() -> None:
    s = hub(fleetBatchesPerDevice=3)
    for i in range(5):
        s.receive("fleet", summary_batch("gw-a", T0 + i * 1000, cpu=float(i)), T0 + i * 1000,
                  topic="dt/edgewatch/gw-a/metrics")  # fmt: skip
    device = s.fleet.device("gw-a", T0 + 5000)
    assert device is not None
    assert [b["values"]["cpu"] for b in device["recentBatches"]] == [4.0, 3.0, 2.0]
    assert device["batches"] == 5 and device["recentBatches"][0]["mode"] == "summary"
    assert s.fleet.device("nobody", T0) is None


def test_stored_batches_are_bounded_in_bytes_oldest_first_across_devices() -> None:
    s = hub(fleetMaxBytes=64 * 1024, fleetBatchesPerDevice=1000)
    for i in range(400):
        thing = f"gw-{i % 4}"
        s.receive("fleet", summary_batch(thing, T0 + i), T0 + i, topic=f"dt/edgewatch/{thing}/metrics")
    assert s.fleet.stored_bytes <= 64 * 1024
    assert s.fleet.stats.evicted_batches > 0
    kept = [s.fleet.device(f"gw-{i}", T0 + 400) for i in range(4)]
    assert all(d is not None and d["recentBatches"] for d in kept)
    # The newest batches stay (each device kept a contiguous newest run).
    for d in kept:
        assert d is not None and d["recentBatches"][0]["to"] >= T0 + 396


def test_max_devices_and_malformed_messages_are_counted_never_fatal() -> None:
    s = hub(fleetMaxDevices=2)
    for thing in ("gw-a", "gw-b", "gw-c"):
        s.receive("fleet", summary_batch(thing, T0), T0, topic=f"dt/edgewatch/{thing}/metrics")
    assert len(s.fleet_list(T0)["devices"]) == 2 and s.fleet.stats.refused_devices == 1
    bad: list[tuple[Any, str]] = [
        (b"{not json", "dt/edgewatch/gw-a/metrics"),
        ({**summary_batch("gw-a", T0), "thing": "gw-b"}, "dt/edgewatch/gw-a/metrics"),  # speaks for another thing
        ({**summary_batch("gw-a", T0), "schema": "edgewatch.metrics/1"}, "dt/edgewatch/gw-a/metrics"),
        ({**summary_batch("gw-a", T0), "from": -1}, "dt/edgewatch/gw-a/metrics"),
        ({**summary_batch("gw-a", T0), "metrics": {}}, "dt/edgewatch/gw-a/metrics"),
        (summary_batch("gw-a", T0), "dt/other/gw-a/metrics"),
        ({"schema": "edgewatch.alerts/1", "thing": "gw-a", "alerts": [{"status": "firing"}]},
         "dt/edgewatch/gw-a/alerts"),
        (b"x" * (2 << 20), "dt/edgewatch/gw-a/metrics"),
    ]  # fmt: skip
    for doc, topic in bad:
        assert not s.receive("fleet", doc, T0, topic=topic)
    assert s.malformed["fleet"] == len(bad)


def test_fleet_keys_defaults_and_validation() -> None:
    config = parse_checked({})
    assert config.fleet_view is False and config.fleet_filters() == ()
    assert parse_checked({"fleetView": True}).fleet_filters() == ("dt/edgewatch/+/metrics", "dt/edgewatch/+/alerts")
    for raw, path in [({"fleetView": "yes"}, "fleetView"),
                      ({"fleetMetricsFilter": "dt/edgewatch/#"}, "fleetMetricsFilter"),
                      ({"fleetMetricsFilter": "dt/+/+/metrics"}, "fleetMetricsFilter"),
                      ({"fleetAlertsFilter": "dt/edgewatch/gw/alerts"}, "fleetAlertsFilter"),
                      ({"fleetAlertsFilter": "dt/edgewatch/+/metrics"}, "fleetAlertsFilter"),
                      ({"fleetMaxDevices": 0}, "fleetMaxDevices"),
                      ({"fleetBatchesPerDevice": 10**6}, "fleetBatchesPerDevice"),
                      ({"fleetMaxBytes": 10}, "fleetMaxBytes"),
                      ({"fleetPublishIntervalSeconds": 0}, "fleetPublishIntervalSeconds")]:  # fmt: skip
        reason = validity_reason(raw)
        assert reason is not None and reason.startswith(path + ":"), (raw, reason)


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                    max_leaves=20)  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from([k for k in DEFAULTS if k.startswith("fleet")]), JSON, max_size=4))
def test_fleet_key_validation_is_total(raw: dict[str, Any]) -> None:
    reason = validity_reason(raw)
    assert reason is None or ":" in reason


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["dt/edgewatch/gw-a/metrics", "dt/edgewatch/gw-a/alerts", "x"]), st.one_of(
    JSON, st.fixed_dictionaries({"schema": st.sampled_from(["edgewatch.metrics-batch/1", "edgewatch.alerts/1"]),
                                 "thing": st.just("gw-a")},
                                optional={"mode": st.sampled_from(["raw", "summary", "x"]), "from": JSON, "to": JSON,
                                          "samples": JSON, "metrics": JSON, "alerts": JSON})))  # fmt: skip
def test_any_fleet_message_is_applied_or_counted_and_the_list_still_encodes(topic: str, doc: Any) -> None:
    s = hub()
    ok = s.receive("fleet", doc, T0, topic=topic)
    assert ok or s.malformed["fleet"] == 1
    json.dumps(s.fleet_list(T0), allow_nan=False)
    for row in s.fleet_list(T0)["devices"]:
        json.dumps(s.fleet.device(row["thing"], T0), allow_nan=False)


@pytest.mark.parametrize("topic", ["dt/edgewatch/" + "x" * 200 + "/metrics", "dt/edgewatch//metrics"])
def test_bad_thing_levels_are_refused(topic: str) -> None:
    s = hub()
    assert not s.receive("fleet", summary_batch(topic.split("/")[2], T0), T0, topic=topic)
