"""Faults in rule evaluation: non-finite values never reach an encoder, an inhibition that toggles
does not re-announce the inhibited alert, the inbox is bounded in bytes, and a RESOLVED survives
`kill -9` of the router (the real component on the local runtime)."""

from __future__ import annotations

import json
import math
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alert_router.config import parse_config
from alert_router.core import RouterCore
from alert_router.delivery import Deliverer
from alert_router.inbox import MetricsReceived, SilenceReceived
from alert_router.model import Alert, AlertState
from alert_router.outbox import Outbox
from alert_router.service import RouterService

from edgewatch.local.testing import ComponentSpec, ThreadedIpcRuntime, stop_process, wait_until
from edgewatch_shared.backoff import Backoff
from edgewatch_testkit.fake_slack import FakeSlack
from tests.alert_router.test_on_local_runtime import NAME, THING, cpu, pending, publish, recipe_defaults, start_router
from tests.alert_router.timeline import Timeline, config, metrics

AVG = {"name": "Huge", "metric": "cpu.percent", "value": "avg", "window": "1m", "op": ">", "threshold": 1e300,
       "summary": "avg {value}"}  # fmt: skip
RATE = {"name": "Fast", "metric": "net.bytes", "value": "rate", "window": "1m", "op": ">", "threshold": 0}
WARN = {"name": "DiskAlmostFull", "metric": "disk.percent", "op": ">", "threshold": 90, "severity": "warning"}
CRIT = {"name": "DiskFull", "metric": "disk.percent", "op": ">", "threshold": 97, "severity": "critical"}
INHIBIT = {"sourceMatchers": ["severity=critical"], "targetMatchers": ["severity=warning"], "equal": ["mount"]}


def test_avg_of_huge_samples_is_finite_and_every_notification_encodes() -> None:
    tl = Timeline(config([AVG]))
    for t in range(5):
        tl.push(t, "cpu.percent", 1e308)
    sent = [n for _, n in tl.sent]
    assert len(sent) == 1 and sent[0].alerts[0]["value"] == pytest.approx(1e308)
    for n in sent:
        json.loads(n.to_json())  # allow_nan=False: raises on inf/NaN


def test_overflowing_rate_is_no_value_not_inf() -> None:
    tl = Timeline(config([RATE]))
    tl.push(0, "net.bytes", -1.7e308)
    tl.push(1, "net.bytes", 1.7e308)  # the increase overflows to inf
    tl.advance(5)
    assert tl.sent == [] and tl.states() == {}


def test_a_non_finite_alert_value_is_encoded_as_null() -> None:
    alert = Alert({"alertname": "X", "thing": "t"}, {}, AlertState.FIRING, active_at=0.0, value=math.inf, starts_at=0)
    assert alert.snapshot()["value"] is None


def test_toggling_inhibition_does_not_re_announce_the_steadily_firing_alert() -> None:
    tl = Timeline(config([WARN, CRIT], route={"groupBy": ["alertname"], "repeatInterval": 1000},
                         inhibitRules=[INHIBIT]))  # fmt: skip
    for t in range(0, 120):
        tl.push(t, "disk.percent", 98 if (t // 10) % 2 else 95, {"mount": "/"})  # critical flaps every 10 s
    tl.advance(125)
    warning = [(t, n) for t, n in tl.sent if n.common_labels.get("alertname") == "DiskAlmostFull"]
    assert [(t, n.status, n.repeat) for t, n in warning] == [(0, "firing", False)], warning
    critical = [n.status for _, n in tl.sent if n.common_labels.get("alertname") == "DiskFull"]
    assert critical.count("firing") == 6 and critical.count("resolved") == 5  # the source itself is news
    assert tl.core.dispatcher.stats.muted_inhibited > 0


def test_inhibited_alert_that_resolves_while_muted_is_reported_resolved() -> None:
    tl = Timeline(config([WARN, CRIT], route={"groupBy": ["alertname"]}, inhibitRules=[INHIBIT]))
    tl.push(0, "disk.percent", 95, {"mount": "/"})
    tl.push(5, "disk.percent", 98, {"mount": "/"})  # critical: the warning is muted from now on
    tl.push(15, "disk.percent", 50, {"mount": "/"})  # both resolve
    tl.advance(40)
    warning = [n.status for _, n in tl.sent if n.common_labels.get("alertname") == "DiskAlmostFull"]
    assert warning == ["firing", "resolved"]


def test_inbox_is_bounded_in_bytes_and_oversize_messages_are_refused(tmp_path: Path) -> None:
    raw = {**config([AVG]), "maxMessageBytes": 65536, "inboxMaxBytes": 262144}
    core = RouterCore(parse_config(raw), "gw-01", 0.0)
    outbox = Outbox(tmp_path / "o.sqlite", 100)
    service = RouterService(core=core, outbox=outbox, deliverer=Deliverer(outbox, Backoff(), lambda s: s),
                            integrations_for=lambda c: {}, clock=lambda: 0.0)  # fmt: skip
    try:
        big = metrics(0, "cpu.percent", 1.0, {"pad": "x" * 50_000})  # ~50 KB each
        for _ in range(10):
            service.submit(MetricsReceived(big))
            assert service.inbox_bytes <= 262144
        assert service.dropped_messages == 5 and service.inbox_bytes > 200_000
        service.submit(MetricsReceived(metrics(0, "cpu.percent", 1.0, {"pad": "y" * 2_000_000})))
        service.submit(SilenceReceived({"schema": "edgewatch.silence/1", "comment": "z" * 100_000}))
        assert service.oversize_messages == 2
        service.step(1.0)
        assert service.inbox_bytes == 0 and core.stats.messages == 5
        doc = service.health_document(1.0)
        assert doc["status"] == "degraded" and doc["counters"]["oversize_messages_total"] == 2
    finally:
        outbox.close()


def test_health_is_degraded_for_slack_permanent_failures_outbox_depth_and_a_quarantined_store(tmp_path: Path) -> None:
    from edgewatch_shared import health_message

    raw = {**config([AVG]), "outboxMaxNotifications": 10}
    core = RouterCore(parse_config(raw), "gw-01", 0.0)
    outbox = Outbox(tmp_path / "o.sqlite", 10)
    service = RouterService(core=core, outbox=outbox, deliverer=Deliverer(outbox, Backoff(), lambda s: s),
                            integrations_for=lambda c: {}, clock=lambda: 0.0)  # fmt: skip
    try:
        healthy = health_message.from_dict(service.health_document(0.0))
        assert healthy.status == "healthy" and healthy.reasons == ()
        slack = service.deliverer.health.of("r/slack")
        slack.permanent_failures, slack.last_error = 2, "invalid_auth"
        for _ in range(8):
            outbox.add(["r/log"], _one_notification(), 0.0)
        outbox.quarantined_to = tmp_path / "o.sqlite.corrupt-x"  # as the outbox sets it after moving a file
        reasons = " | ".join(health_message.from_dict(service.health_document(1.0)).reasons)
        assert "Slack receiver r/slack: 2 permanent failure(s), last: invalid_auth" in reasons
        assert "outbox depth 8 >= 80% of 10" in reasons and "o.sqlite.corrupt-x" in reasons
        later = health_message.from_dict(service.health_document(1.0 + 3600))
        assert not any("Slack" in r for r in later.reasons)  # an old permanent failure stops counting
    finally:
        outbox.close()


def _one_notification() -> Any:
    tl = Timeline(config([AVG]))
    tl.push(0, "cpu.percent", 1e308)
    return tl.sent[0][1]


def test_a_corrupt_alert_state_file_is_moved_aside(tmp_path: Path) -> None:
    from edgewatch_shared.private_files import read_json, write_json_atomic

    path = tmp_path / "alert-router-state.json"
    write_json_atomic(path, {"version": 1})
    assert read_json(path, "alert state") == {"version": 1} and path.stat().st_mode & 0o777 == 0o600
    path.write_bytes(b"\x00garbage{")
    assert read_json(path, "alert state") is None
    assert not path.exists() and len(list(tmp_path.glob("alert-router-state.json.corrupt-*"))) == 1


# -- the real component on the local runtime


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as server:
        yield server


@pytest.fixture
def runtime(tmp_path: Path, fake: FakeSlack) -> Iterator[ThreadedIpcRuntime]:
    defaults = recipe_defaults()
    router = {
        "rules": [{"name": "HighCpu", "metric": "cpu.percent", "op": ">", "threshold": 90}], "inhibitRules": [],
        "route": {"receiver": "default", "groupWait": 0, "groupInterval": "1s", "repeatInterval": "1h"},
        "receivers": [{"name": "default", "slack": {"webhookUrl": fake.webhook_url, "minIntervalSeconds": 0}}],
        "evaluationIntervalSeconds": 0.1, "retryInitialSeconds": 0.1, "retryMaxSeconds": 0.5,
        "maxMessageBytes": 65536, "healthIntervalSeconds": 1,
    }  # fmt: skip
    components = {
        NAME: ComponentSpec(access_control=defaults["accessControl"], configuration={**defaults, **router}),
        "test.Peer": ComponentSpec(
            access_control={"aws.greengrass.ipc.pubsub": {"p": {"operations": ["*"], "resources": ["*"]}}}
        ),
    }
    rt = ThreadedIpcRuntime(tmp_path / "runtime", components, thing_name=THING).start()
    yield rt
    rt.stop()



def posts(fake: FakeSlack, word: str) -> int:
    return sum(word in r.body.get("text", "").lower() for r in fake.delivered())


def test_resolved_is_sent_after_kill_9_while_the_alert_fires(
    runtime: ThreadedIpcRuntime, fake: FakeSlack, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    state = work / "alert-router-state.json"
    peer = runtime.client("test.Peer")
    router = start_router(runtime, work)
    try:
        wait_until(lambda: (publish(peer, cpu(97)), posts(fake, "firing"))[1], timeout=20, interval=0.2,
                   what="the firing on Slack")  # fmt: skip
        wait_until(lambda: pending(work / "alert-router.sqlite") == 0, what="the outbox to drain")
        wait_until(lambda: state.exists() and json.loads(state.read_text())["log"], what="the saved alert state")
        assert state.stat().st_mode & 0o777 == 0o600
    finally:
        stop_process(router, signal.SIGKILL)
    assert router.returncode == -signal.SIGKILL

    router = start_router(runtime, work)
    try:
        wait_until(lambda: (publish(peer, cpu(10)), posts(fake, "resolved"))[1], timeout=20, interval=0.2,
                   what="the RESOLVED after the restart")  # fmt: skip
        wait_until(lambda: json.loads(state.read_text())["alerts"] == [], what="the state to forget the alert")
    finally:
        stop_process(router)
    assert posts(fake, "firing") == 1  # restored as announced: not announced again
    assert "restored 1 firing alert(s)" in (work / "alert_router.log").read_text()


def test_oversize_metric_messages_are_refused_and_the_router_keeps_alerting(
    runtime: ThreadedIpcRuntime, fake: FakeSlack, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    peer = runtime.client("test.Peer")
    health: list[dict[str, Any]] = []
    peer.subscribe_to_topic(topic="edgewatch/health", on_stream_event=lambda e: health.append(e.json_message.message))
    router = start_router(runtime, work)
    try:
        wait_until(lambda: health, timeout=20, what="the first health document")
        huge = {**cpu(97), "padding": "p" * 1_000_000}  # 1 MB: above maxMessageBytes (64 KiB)
        for _ in range(3):
            publish(peer, huge)
        wait_until(lambda: any(h["counters"].get("oversize_messages_total") == 3 for h in health), timeout=20,
                   what="three oversize messages counted in health")  # fmt: skip
        assert fake.delivered() == []  # the oversize samples were not evaluated
        wait_until(lambda: (publish(peer, cpu(97)), fake.delivered())[1], timeout=20, interval=0.2,
                   what="an alert from a normal sample")  # fmt: skip
    finally:
        stop_process(router)
    assert "larger than maxMessageBytes" in (work / "alert_router.log").read_text()
