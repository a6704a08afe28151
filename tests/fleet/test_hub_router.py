"""DeviceSilent on the router's pure core, on a scripted timeline (injected clock), plus its config."""

from __future__ import annotations

from typing import Any

import pytest
from alert_router.config import parse_config, validity_reason
from alert_router.core import RouterCore
from alert_router.fleet import match_thing
from alert_router.notification import Notification

from tests.fleet.hub_support import raw_batch, summary_batch

HUB = "hub-01"
FLEET = {"iotCoreInputs": ["dt/edgewatch/+/metrics"], "deviceSilent": {"publishIntervalSeconds": 10}}


def hub_config(**extra: Any) -> dict[str, Any]:
    return {"rules": [], "inhibitRules": [], "receivers": [{"name": "r", "log": {}}],
            "route": {"receiver": "r", "groupWait": 0, "groupInterval": 1, "repeatInterval": 3600}, **FLEET, **extra}


class Hub:
    def __init__(self, raw: dict[str, Any] | None = None, restored: dict[str, Any] | None = None,
                 now: float = 0.0) -> None:  # fmt: skip
        self.now = now
        self.core = RouterCore(parse_config(raw or hub_config()), HUB, now, restored=restored)
        self.sent: list[tuple[float, Notification]] = []

    def batch(self, t: float, thing: str, doc: Any = None, topic: str | None = None) -> None:
        self.advance(t)
        doc = summary_batch(thing, int(t * 1000)) if doc is None else doc
        self.sent += [(t, n) for n in self.core.on_fleet(topic or f"dt/edgewatch/{thing}/metrics", doc, t)]

    def advance(self, t: float) -> None:
        while self.now + 0.5 <= t:
            self.now += 0.5
            self.sent += [(self.now, n) for n in self.core.tick(self.now)]
        self.now = t

    def events(self) -> list[tuple[float, str, str]]:
        return [(t, a["labels"]["thing"], a["status"]) for t, n in self.sent for a in n.alerts
                if a["labels"]["alertname"] == "DeviceSilent"]  # fmt: skip


def test_device_silent_fires_after_twice_the_interval_for_that_thing_only_and_resolves_on_return() -> None:
    hub = Hub()
    for t in range(0, 60, 10):
        hub.batch(t, "gw-a")
        hub.batch(t, "gw-b")
        if t < 30:
            hub.batch(t, "gw-c")
    # gw-c's last batch was at t=20: silent from 20 + 2 x 10 = 40.
    assert hub.events() == [(40.0, "gw-c", "firing")]
    alert = next(a for _, n in hub.sent for a in n.alerts)
    assert alert["labels"] == {"alertname": "DeviceSilent", "severity": "critical", "kind": "device",
                               "thing": "gw-c"}  # fmt: skip
    assert "gw-c" in alert["annotations"]["summary"]
    hub.batch(61, "gw-c")
    hub.advance(63)
    t, thing, status = hub.events()[-1]
    assert (thing, status) == ("gw-c", "resolved") and 61 <= t <= 62.5  # at the group's next flush
    assert [e[1] for e in hub.events()] == ["gw-c", "gw-c"]


def test_a_device_publishing_less_often_than_configured_is_judged_by_its_own_interval() -> None:
    hub = Hub()  # publishIntervalSeconds 10
    for t in (0, 30, 60, 90):  # this one sends every 30 s: three gaps of 30 s
        hub.advance(t)
        if t == 30:
            assert hub.events() == [(20.0, "gw-slow", "firing")]  # before its interval is known: 2 x 10 s
        hub.batch(t, "gw-slow")
    hub.advance(120)
    assert hub.events()[-1][1:] == ("gw-slow", "resolved")
    fired = len(hub.events())
    hub.batch(120, "gw-slow")
    hub.advance(179)
    assert len(hub.events()) == fired  # 59 s of silence < 2 x 30 s
    hub.advance(180.5)
    assert hub.events()[-1] == (180.0, "gw-slow", "firing")
    alert = [a for _, n in hub.sent for a in n.alerts][-1]
    assert "expected every 30 s" in alert["annotations"]["summary"]


def test_a_thing_never_seen_is_not_silent_and_split_parts_count_as_one_arrival() -> None:
    hub = Hub()
    hub.advance(100)
    assert hub.events() == []
    hub.batch(100, "gw-a", summary_batch("gw-a", 100_000, part=1, parts=2))
    hub.batch(100, "gw-a", summary_batch("gw-a", 100_000, part=2, parts=2))
    hub.batch(105, "gw-a", raw_batch("gw-a", 105_000))
    hub.advance(124.5)
    assert hub.events() == []
    hub.advance(125)
    assert hub.events() == [(125.0, "gw-a", "firing")]


@pytest.mark.parametrize("doc, topic", [
    ("not a batch", None),
    ({"schema": "edgewatch.metrics/1", "thing": "gw-a", "ts": 1, "metrics": []}, None),
    ({**summary_batch("gw-a", 1000), "thing": "gw-b"}, None),  # speaks for another thing
    ({**summary_batch("gw-a", 1000), "to": "late"}, None),
    ({**summary_batch("gw-a", 1000), "mode": "weird"}, None),
    ({k: v for k, v in summary_batch("gw-a", 1000).items() if k != "metrics"}, None),
    (summary_batch("gw-a", 1000), "dt/other/gw-a/metrics"),
    (ValueError("not JSON"), None),
])  # fmt: skip
def test_malformed_batches_are_counted_and_never_watched(doc: Any, topic: str | None) -> None:
    hub = Hub()
    hub.batch(1, "gw-a", doc, topic)
    assert hub.core.stats.malformed_fleet_messages == 1
    assert hub.core.fleet.device_count() == 0
    hub.advance(60)
    assert hub.events() == []


def test_presence_disconnected_fires_at_once_and_the_next_batch_resolves() -> None:
    hub = Hub(hub_config(deviceSilent={"publishIntervalSeconds": 300, "presence": True}))
    assert hub.core.config.fleet.filters() == ("dt/edgewatch/+/metrics", "$aws/events/presence/connected/+",
                                              "$aws/events/presence/disconnected/+")
    hub.batch(0, "gw-a")
    hub.advance(5)
    hub.sent += [(5, n) for n in hub.core.on_fleet("$aws/events/presence/disconnected/gw-a",
                                                    {"clientId": "gw-a", "eventType": "disconnected"}, 5)]
    hub.sent += [(5, n) for n in hub.core.on_fleet("$aws/events/presence/disconnected/unknown", {}, 5)]
    hub.advance(6)
    assert hub.events() == [(5, "gw-a", "firing")]  # not at 600 s (2 x 300)
    hub.batch(30, "gw-a")
    hub.advance(32)
    assert hub.events()[-1][1:] == ("gw-a", "resolved")


def test_a_silence_on_the_thing_mutes_device_silent() -> None:
    hub = Hub()
    hub.core.on_silence({"schema": "edgewatch.silence/1", "action": "create", "id": "s1", "author": "ops",
                         "matchers": ['thing="gw-a"'], "endsAt": 3_600_000, "comment": "maintenance"}, 0)
    hub.batch(0, "gw-a")
    hub.batch(0, "gw-b")
    hub.advance(30)
    assert [e[1] for e in hub.events()] == ["gw-b"]


def test_state_survives_a_restart_and_the_resolved_still_follows() -> None:
    hub = Hub()
    hub.batch(0, "gw-a")
    hub.batch(0, "gw-b")
    hub.advance(25)
    assert {e[1] for e in hub.events()} == {"gw-a", "gw-b"}
    hub.batch(26, "gw-b")
    state = hub.core.state()
    again = Hub(restored=state, now=100)
    # gw-a's DeviceSilent is restored firing (not announced again); gw-b gets a fresh period from t=100.
    again.advance(119)
    assert again.events() == []
    again.batch(119.5, "gw-a")
    again.advance(120.6)
    assert sorted(e[1:] for e in again.events()) == [("gw-a", "resolved"), ("gw-b", "firing")]
    assert all(119.5 <= e[0] <= 120.5 for e in again.events())


def test_switching_the_fleet_input_off_resolves_what_was_announced() -> None:
    hub = Hub()
    hub.batch(0, "gw-a")
    hub.advance(21)
    assert hub.events() == [(20.0, "gw-a", "firing")]
    hub.core.apply_config(parse_config(hub_config(iotCoreInputs=[])), 22)
    hub.advance(24)
    assert hub.events()[-1][1:] == ("gw-a", "resolved")


def test_max_devices_bounds_the_things_watched() -> None:
    hub = Hub(hub_config(deviceSilent={"publishIntervalSeconds": 10, "maxDevices": 2}))
    for thing in ("gw-a", "gw-b", "gw-c"):
        hub.batch(0, thing)
    assert hub.core.fleet.device_count() == 2 and hub.core.fleet.stats.devices_refused == 1


def test_topic_matching() -> None:
    assert match_thing("dt/edgewatch/+/metrics", "dt/edgewatch/gw-1/metrics") == "gw-1"
    assert match_thing("dt/edgewatch/+/metrics", "dt/edgewatch/gw-1/alerts") is None
    assert match_thing("dt/edgewatch/+/#", "dt/edgewatch/gw-1/metrics/x") == "gw-1"
    assert match_thing("dt/edgewatch/+/metrics", "dt/edgewatch/gw-1/metrics/x") is None


@pytest.mark.parametrize("raw, path", [
    ({"iotCoreInputs": "dt/edgewatch/+/metrics"}, "iotCoreInputs"),
    ({"iotCoreInputs": ["dt/edgewatch/gw-1/metrics"]}, "iotCoreInputs[0]"),
    ({"iotCoreInputs": ["dt/#/+/metrics"]}, "iotCoreInputs[0]"),
    ({"iotCoreInputs": ["dt/edge+/+/metrics"]}, "iotCoreInputs[0]"),
    ({"iotCoreInputs": ["dt//+"]}, "iotCoreInputs[0]"),
    ({"iotCoreInputs": ["a/+"] * 2}, "iotCoreInputs"),
    ({"iotCoreInputs": [None]}, "iotCoreInputs[0]"),
    ({"deviceSilent": []}, "deviceSilent"),
    ({"deviceSilent": {"publishIntervalSecs": 1}}, "deviceSilent.publishIntervalSecs"),
    ({"deviceSilent": {"publishIntervalSeconds": 0}}, "deviceSilent.publishIntervalSeconds"),
    ({"deviceSilent": {"factor": 0.5}}, "deviceSilent.factor"),
    ({"deviceSilent": {"presence": "yes"}}, "deviceSilent.presence"),
    ({"deviceSilent": {"maxDevices": 0}}, "deviceSilent.maxDevices"),
])  # fmt: skip
def test_fleet_keys_are_validated_with_their_path(raw: dict[str, Any], path: str) -> None:
    reason = validity_reason(raw)
    assert reason is not None and reason.startswith(path + ":"), reason
