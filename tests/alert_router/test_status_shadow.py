"""The status shadow's pure core (document, schedule, configuration) and the service driving it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from alert_router.config import parse_config, validity_reason
from alert_router.core import RouterCore
from alert_router.delivery import Deliverer
from alert_router.inbox import HealthReceived, MetricsReceived
from alert_router.outbox import Outbox
from alert_router.service import RouterService
from alert_router.shadow_publisher import ShadowPublisher
from alert_router.status_shadow import (
    ComponentBook,
    ShadowSchedule,
    ShadowSpec,
    parse_status_shadow,
    shadow_topic,
    status_document,
)

from edgewatch_shared import health_message
from edgewatch_shared.backoff import Backoff
from tests.alert_router.timeline import THING, config, metrics

HOT = {"name": "Hot", "metric": "cpu.percent", "op": ">", "threshold": 90, "severity": "critical"}


def collector_health(version: str | None = "0.3.1", depth: int = 4, thing: str = THING) -> dict[str, Any]:
    return health_message.build(component="com.edgewatch.MetricsCollector", thing=thing, ts_ms=1, interval_seconds=30,
                                counters={"buffer_depth": depth}, version=version).to_dict()  # fmt: skip


def document(**changes: Any) -> dict[str, Any]:
    book = ComponentBook(THING)
    book.on_health(collector_health())
    args: dict[str, Any] = {"own_component": "com.edgewatch.AlertRouter", "own_version": "0.2.0", "book": book,
                            "firing_severities": [], "last_sample_ms": 1000, "router_outbox_depth": 0}  # fmt: skip
    return status_document(**{**args, **changes})


def test_the_document_names_versions_alerts_by_severity_last_sample_and_depths() -> None:
    doc = document(firing_severities=["critical", "warning", "warning", "page.me"], router_outbox_depth=2)
    assert doc == {
        "schema": "edgewatch.status/1",
        "versions": {"AlertRouter": "0.2.0", "MetricsCollector": "0.3.1"},
        "firingAlerts": {"total": 4, "critical": 1, "warning": 2, "page_me": 1},
        "lastSampleTs": 1000,
        "outboxDepths": {"AlertRouter": 2, "MetricsCollector": 4},
    }
    assert document()["firingAlerts"] == {"total": 0, "critical": 0, "warning": 0}
    assert shadow_topic("gw-01") == "$aws/things/gw-01/shadow/name/edgewatch/update"


def test_the_book_takes_only_valid_health_of_this_thing() -> None:
    book = ComponentBook(THING)
    assert not book.on_health({"schema": "edgewatch.health/1"})
    assert not book.on_health(collector_health(thing="gw-other"))
    assert not book.on_health({**collector_health(), "version": ""})
    assert book.on_health(collector_health(version=None, depth=7))
    assert book.versions == {} and book.collector_buffer_depth == 7  # no version said: none reported


def test_published_when_it_changes_at_most_every_min_interval_and_sample_time_alone_waits() -> None:
    schedule = ShadowSchedule(ShadowSpec(min_interval=300, max_interval=3600))
    first = document()
    assert schedule.due(first, 0.0)
    schedule.published(first, 0.0)
    assert not schedule.due(first, 10_000.0)  # nothing changed: never again
    fired = document(firing_severities=["critical"])
    assert not schedule.due(fired, 299.0) and schedule.due(fired, 300.0)
    schedule.published(fired, 300.0)
    moved = document(firing_severities=["critical"], last_sample_ms=99_000)
    assert not schedule.due(moved, 3899.0) and schedule.due(moved, 3900.0)
    assert not ShadowSchedule(ShadowSpec(enabled=False)).due(first, 0.0)


def test_a_failed_publish_is_retried_with_backoff() -> None:
    schedule = ShadowSchedule(ShadowSpec(min_interval=1), Backoff(initial=10, maximum=40, random_fraction=lambda: 1.0))
    doc = document()
    assert schedule.failed(0.0) == 10.0
    assert not schedule.due(doc, 9.9) and schedule.due(doc, 10.0)
    assert schedule.failed(10.0) == 20.0
    schedule.published(doc, 31.0)
    assert schedule.failed(40.0) == 10.0  # a success resets the backoff


def test_configuration_defaults_and_errors_name_the_key() -> None:
    assert parse_config(None).status_shadow == ShadowSpec(True, 300.0, 3600.0)
    assert parse_status_shadow({"enabled": False}).enabled is False
    assert (validity_reason({"statusShadow": {"minIntervalSecs": 5}}) or "").startswith(
        "statusShadow.minIntervalSecs: unknown field")
    assert (validity_reason({"statusShadow": {"minIntervalSeconds": 600, "maxIntervalSeconds": 60}}) or "").startswith(
        "statusShadow.maxIntervalSeconds: must be at least minIntervalSeconds")
    assert (validity_reason({"statusShadow": {"minIntervalSeconds": 0}}) or "").startswith(
        "statusShadow.minIntervalSeconds")


def test_the_service_reports_a_firing_alert_and_nothing_while_nothing_changes(tmp_path: Path) -> None:
    raw = config([HOT], statusShadow={"minIntervalSeconds": 1, "maxIntervalSeconds": 3600})
    outbox = Outbox(tmp_path / "o.sqlite", 100)
    sent: list[tuple[str, dict[str, Any]]] = []
    publisher = ShadowPublisher(THING, lambda topic, payload: sent.append((topic, json.loads(payload))),
                                ShadowSchedule(parse_config(raw).status_shadow), clock=lambda: now)  # fmt: skip
    deliverer = Deliverer(outbox, Backoff(), str)
    service = RouterService(core=RouterCore(parse_config(raw), THING, 0.0), outbox=outbox, deliverer=deliverer,
                            integrations_for=lambda c: {}, clock=lambda: now, status_shadow=publisher,
                            version="0.2.0")  # fmt: skip
    try:
        now = 0.0
        service.submit(HealthReceived(collector_health()))
        service.submit(MetricsReceived(metrics(0.0, "cpu.percent", 10.0)))
        service.step(now)
        assert publisher.wait(5.0) and len(sent) == 1
        topic, update = sent[0]
        assert topic == f"$aws/things/{THING}/shadow/name/edgewatch/update"
        reported = update["state"]["reported"]
        assert reported["versions"] == {"AlertRouter": "0.2.0", "MetricsCollector": "0.3.1"}
        assert reported["firingAlerts"]["total"] == 0 and reported["lastSampleTs"] == 0
        for t in range(1, 30):  # samples keep coming: only their time moves
            now = float(t)
            service.submit(MetricsReceived(metrics(now, "cpu.percent", 10.0)))
            service.step(now)
        assert publisher.wait(5.0) and len(sent) == 1
        now = 30.0
        service.submit(MetricsReceived(metrics(now, "cpu.percent", 95.0)))
        service.step(now)
        assert publisher.wait(5.0) and len(sent) == 2
        assert sent[1][1]["state"]["reported"]["firingAlerts"] == {"total": 1, "critical": 1, "warning": 0}
        assert sent[1][1]["state"]["reported"]["lastSampleTs"] == 30_000
        assert service.health_document(now)["counters"]["status_shadow_updates_total"] == 2
        assert service.health_document(now)["version"] == "0.2.0"
    finally:
        deliverer.stop()
        outbox.close()


def test_a_disabled_shadow_is_never_published(tmp_path: Path) -> None:
    raw = config([HOT], statusShadow={"enabled": False})
    outbox = Outbox(tmp_path / "o.sqlite", 100)
    sent: list[str] = []
    publisher = ShadowPublisher(THING, lambda topic, payload: sent.append(topic),
                                ShadowSchedule(parse_config(raw).status_shadow), clock=lambda: 0.0)  # fmt: skip
    service = RouterService(core=RouterCore(parse_config(raw), THING, 0.0), outbox=outbox,
                            deliverer=Deliverer(outbox, Backoff(), str), integrations_for=lambda c: {},
                            clock=lambda: 0.0, status_shadow=publisher)  # fmt: skip
    try:
        service.submit(MetricsReceived(metrics(0.0, "cpu.percent", 95.0)))
        service.step(0.0)
        service.step(100.0)
        assert publisher.wait(5.0) and sent == []
    finally:
        service.deliverer.stop()
        outbox.close()
