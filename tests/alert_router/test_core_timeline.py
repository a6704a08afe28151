"""The pure core on scripted timelines ("push at t=1, want a notification between t=2 and t=2.5")."""

from __future__ import annotations

from tests.alert_router.timeline import Timeline, config

CPU = {"name": "HighCpu", "metric": "cpu.percent", "op": ">", "threshold": 90, "severity": "warning",
       "summary": "CPU {value:.0f}% on {thing}"}  # fmt: skip
DISK = {"name": "DiskAlmostFull", "metric": "disk.percent", "op": ">", "threshold": 90}


def statuses(n: object) -> list[tuple[str, str]]:
    return sorted((a["labels"]["alertname"], a["status"]) for a in n.alerts)  # type: ignore[attr-defined]


def test_for_keeps_an_alert_pending_then_fires_once() -> None:
    tl = Timeline(config([{**CPU, "for": "10s"}]))
    for t in range(0, 13):
        tl.push(t, "cpu.percent", 95)
        if t < 10:
            assert tl.states() == {"HighCpu": "pending"}
    assert tl.between(0, 9.9) == []
    sent = tl.between(10, 10.25)
    assert len(sent) == 1 and statuses(sent[0]) == [("HighCpu", "firing")]
    assert sent[0].alerts[0]["annotations"]["summary"] == "CPU 95% on gw-01"
    assert tl.between(10.3, 12) == []


def test_pending_that_clears_never_notifies() -> None:
    tl = Timeline(config([{**CPU, "for": "10s"}]))
    tl.push(0, "cpu.percent", 95)
    tl.push(5, "cpu.percent", 50)
    tl.advance(30)
    assert tl.states() == {} and tl.sent == []


def test_keep_firing_for_holds_the_alert_then_resolves() -> None:
    tl = Timeline(config([{**CPU, "keepFiringFor": "20s"}]))
    tl.push(0, "cpu.percent", 95)
    assert statuses(tl.between(0, 0)[0]) == [("HighCpu", "firing")]
    tl.push(5, "cpu.percent", 10)
    tl.push(15, "cpu.percent", 10)
    assert tl.states() == {"HighCpu": "firing"}
    tl.push(24, "cpu.percent", 10)
    assert tl.states() == {"HighCpu": "firing"}
    tl.push(25, "cpu.percent", 10)
    assert tl.states() == {}
    tl.advance(31)
    resolved = tl.between(25, 30.5)  # the next group interval after the resolve
    assert len(resolved) == 1 and statuses(resolved[0]) == [("HighCpu", "resolved")]


def test_condition_back_within_keep_firing_for_does_not_resolve() -> None:
    tl = Timeline(config([{**CPU, "keepFiringFor": "20s"}]))
    tl.push(0, "cpu.percent", 95)
    tl.push(5, "cpu.percent", 10)
    tl.push(15, "cpu.percent", 95)
    tl.push(30, "cpu.percent", 10)
    tl.advance(45)
    assert tl.states() == {"HighCpu": "firing"}
    tl.advance(50)
    assert tl.states() == {}


def test_hysteresis_clear_threshold() -> None:
    tl = Timeline(config([{**CPU, "clearThreshold": 80}]))
    tl.push(0, "cpu.percent", 85)
    assert tl.states() == {}  # below threshold: does not start
    tl.push(1, "cpu.percent", 91)
    tl.push(2, "cpu.percent", 85)
    tl.push(3, "cpu.percent", 81)
    assert tl.states() == {"HighCpu": "firing"}  # between clear and threshold: keeps firing
    tl.push(4, "cpu.percent", 79)
    assert tl.states() == {}
    tl.advance(15)
    assert [statuses(n) for n in tl.between(0, 15)] == [[("HighCpu", "firing")], [("HighCpu", "resolved")]]


def test_grouping_group_wait_and_group_interval() -> None:
    tl = Timeline(config([DISK], route={"groupBy": ["alertname"], "groupWait": 2, "groupInterval": 10}))
    tl.push(1, "disk.percent", 95, {"mount": "/"})
    tl.push(1.5, "disk.percent", 96, {"mount": "/data"})
    tl.advance(3.25)
    assert tl.between(0, 2.9) == []
    first = tl.between(3, 3.25)
    assert len(first) == 1 and sorted(a["labels"]["mount"] for a in first[0].alerts) == ["/", "/data"]
    assert first[0].group_labels == {"alertname": "DiskAlmostFull"}
    # A third disk joins the existing group: it waits for the group interval (t=13), not group_wait.
    tl.push(4, "disk.percent", 97, {"mount": "/var"})
    tl.advance(13.25)
    assert tl.between(3.3, 12.9) == []
    second = tl.between(13, 13.25)
    assert len(second) == 1 and len(second[0].alerts) == 3 and not second[0].repeat


def test_group_by_all_labels_gives_one_notification_per_alert() -> None:
    tl = Timeline(config([DISK], route={"groupBy": ["..."]}))
    tl.push(1, "disk.percent", 95, {"mount": "/"})
    tl.push(1, "disk.percent", 95, {"mount": "/data"})
    assert len(tl.between(1, 1)) == 2


def test_repeat_interval_resends_the_same_news_with_the_same_id() -> None:
    tl = Timeline(config([CPU], route={"groupInterval": 10, "repeatInterval": 60}))
    for t in range(0, 130, 5):
        tl.push(t, "cpu.percent", 95)
    times = [t for t, _ in tl.sent]
    assert times == [0, 60, 120]
    ids = {n.id for _, n in tl.sent}
    assert len(ids) == 1, "a repeat must carry the same notification id"
    assert [n.repeat for _, n in tl.sent] == [False, True, True]


def test_resolved_is_sent_only_with_send_resolved() -> None:
    for send_resolved, expected in ((True, 2), (False, 1)):
        tl = Timeline(config([CPU], route={"sendResolved": send_resolved}))
        tl.push(0, "cpu.percent", 95)
        tl.push(5, "cpu.percent", 10)
        tl.advance(40)
        assert len(tl.sent) == expected
        assert tl.core.dispatcher.groups() == []  # resolved alerts leave the group, empty groups go


def test_refire_after_resolve_is_new_news() -> None:
    tl = Timeline(config([CPU]))
    tl.push(0, "cpu.percent", 95)
    tl.push(5, "cpu.percent", 10)
    tl.advance(15)
    tl.push(20, "cpu.percent", 95)
    tl.advance(25)
    firing = [n for _, n in tl.sent if n.status == "firing"]
    assert len(firing) == 2 and firing[0].id != firing[1].id


def test_inhibition_critical_mutes_warning_for_the_same_mount() -> None:
    rules = [DISK, {"name": "DiskFull", "metric": "disk.percent", "op": ">", "threshold": 97, "severity": "critical"}]
    inhibit = {"sourceMatchers": ["severity=critical"], "targetMatchers": ["severity=warning"], "equal": ["mount"]}
    raw = config(rules, route={"groupBy": ["..."]}, inhibitRules=[inhibit])
    tl = Timeline(raw)
    tl.push(0, "disk.percent", 99, {"mount": "/"})
    tl.push(0, "disk.percent", 95, {"mount": "/data"})
    names = sorted((n.alerts[0]["labels"]["alertname"], n.alerts[0]["labels"]["mount"]) for n in tl.between(0, 0))
    # "/" warning is inhibited by "/" critical; "/data" warning is not (different mount).
    assert names == [("DiskAlmostFull", "/data"), ("DiskFull", "/")]
    assert tl.core.dispatcher.stats.muted_inhibited >= 1


def test_silence_mutes_until_it_ends_then_is_pruned() -> None:
    tl = Timeline(config([CPU]))
    tl.core.on_silence({"schema": "edgewatch.silence/1", "action": "create", "id": "s1",
                        "matchers": ['alertname="HighCpu"'], "endsAt": 30_000, "author": "ana",
                        "comment": "maintenance"}, 0)  # fmt: skip
    for t in range(0, 30, 5):
        tl.push(t, "cpu.percent", 95)
    assert tl.sent == []
    assert [s.id for s in tl.core.silences.all()] == ["s1"]
    tl.push(30, "cpu.percent", 95)
    tl.advance(41)
    assert len(tl.sent) == 1 and 30 <= tl.sent[0][0] <= 40
    assert tl.core.silences.all() == []


def test_expire_command_lifts_a_silence() -> None:
    tl = Timeline(config([CPU]))
    silence = {"schema": "edgewatch.silence/1", "id": "s2", "matchers": ["severity=warning"], "endsAt": 10**9,
               "author": "ana", "comment": "x"}  # fmt: skip
    tl.core.on_silence(silence, 0)
    tl.push(0, "cpu.percent", 95)
    assert tl.sent == []
    tl.core.on_silence({"schema": "edgewatch.silence/1", "action": "expire", "id": "s2"}, 1)
    tl.advance(11)
    assert len(tl.sent) == 1


def test_absence_fires_when_the_collector_is_silent_and_resolves_when_it_returns() -> None:
    silent = {"name": "CollectorSilent", "metric": "collector.samples_taken_total", "absentFor": "60s",
              "severity": "critical", "summary": "silent for {value:.0f} s"}  # fmt: skip
    tl = Timeline(config([silent]))
    tl.advance(59)
    assert tl.sent == []
    tl.advance(61)
    fired = tl.between(60, 60.25)
    assert len(fired) == 1 and fired[0].alerts[0]["labels"]["thing"] == "gw-01"
    assert fired[0].alerts[0]["annotations"]["summary"] == "silent for 60 s"
    tl.push(70, "collector.samples_taken_total", 1)
    tl.advance(80)
    assert [n.status for _, n in tl.sent] == ["firing", "resolved"]
    tl.push(100, "collector.samples_taken_total", 2)
    tl.advance(150)
    assert len(tl.sent) == 2


def test_route_tree_with_continue_and_matchers() -> None:
    route = {"routes": [
        {"matchers": ["severity=critical"], "receiver": "pager", "continue": True},
        {"matchers": ['alertname=~"Disk.*"'], "receiver": "r", "groupBy": ["mount"]},
    ]}  # fmt: skip
    rules = [{**DISK, "severity": "critical"}]
    tl = Timeline(config(rules, route=route))
    tl.push(0, "disk.percent", 95, {"mount": "/"})
    receivers = sorted((n.receiver, tuple(n.group_labels.items())) for n in tl.between(0, 0))
    assert receivers == [("pager", (("alertname", "DiskAlmostFull"),)), ("r", (("mount", "/"),))]


def test_aggregations_over_a_window() -> None:
    avg = {"name": "AvgCpu", "metric": "cpu.percent", "value": "avg", "window": "30s", "op": ">", "threshold": 50}
    rate = {"name": "Errors", "metric": "net.errors_in", "value": "rate", "window": "20s", "op": ">=", "threshold": 1}
    tl = Timeline(config([avg, rate]))
    tl.push(0, "cpu.percent", 100)
    tl.push(0, "net.errors_in", 1000)
    assert "AvgCpu" in tl.states()
    tl.push(10, "cpu.percent", 0)
    tl.push(10, "net.errors_in", 1005)  # 0.5/s: below
    assert tl.states() == {}  # avg(100, 0) = 50 is not > 50; rate 0.5/s is below 1/s
    tl.push(20, "net.errors_in", 1030)
    assert tl.states() == {"Errors": "firing"}  # (1030 - 1000) / 20 s = 1.5/s
    tl.push(30, "net.errors_in", 5)  # a counter reset counts from zero, never as a negative rate
    assert tl.states() == {"Errors": "firing"}
    assert tl.core.evaluator.alerts()[0].value == 1.5
