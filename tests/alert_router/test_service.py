"""`RouterService.step(now)`, the router loop's test seam: real core, real outbox, injected clock,
no processes and no IPC (the inbox is fed as the IPC threads feed it)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from alert_router.config import parse_config
from alert_router.core import RouterCore
from alert_router.delivery import Deliverer
from alert_router.inbox import MetricsReceived, SilenceReceived, fleet_message, metrics_message, silence_message
from alert_router.outbox import Outbox
from alert_router.service import RouterService

from edgewatch_shared import health_message
from edgewatch_shared import silence_message as silence_doc
from edgewatch_shared.backoff import Backoff
from edgewatch_shared.config_handover import ConfigHandover
from tests.alert_router.timeline import THING, config, metrics

HOT = {"name": "Hot", "metric": "cpu.percent", "op": ">", "threshold": 90, "severity": "critical",
       "summary": "CPU {value} on {thing}"}  # fmt: skip
RAW = config([HOT], healthIntervalSeconds=30)


@dataclass
class Loop:
    service: RouterService
    outbox: Outbox
    updates: ConfigHandover[Any]
    work: Path
    published: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def queued(self) -> dict[str, int]:
        return self.outbox.depth()


@pytest.fixture
def loop(tmp_path: Path) -> Iterator[Loop]:
    outbox = Outbox(tmp_path / "o.sqlite", 100)
    core = RouterCore(parse_config(RAW), THING, 0.0)
    # No integrations: what the loop queues stays in the outbox, where the test can count it.
    deliverer = Deliverer(outbox, Backoff(), str)
    updates: ConfigHandover[Any] = ConfigHandover(parse_config)
    published: list[tuple[str, dict[str, Any]]] = []
    service = RouterService(
        core=core, outbox=outbox, deliverer=deliverer, integrations_for=lambda c: {}, clock=lambda: 0.0,
        health_path=tmp_path / "health.json", state_path=tmp_path / "state.json",
        publish_health=lambda topic, doc: published.append((topic, doc)), config_updates=updates,
        fallback_reason="running on the default configuration: the stored one is unusable (test)",
    )  # fmt: skip
    try:
        yield Loop(service, outbox, updates, tmp_path, published)
    finally:
        deliverer.stop()
        outbox.close()


def test_metrics_in_become_a_firing_alert_and_an_outbox_entry(loop: Loop) -> None:
    loop.service.step(0.0)
    assert loop.queued() == {}
    loop.service.submit(MetricsReceived(metrics(1.0, "cpu.percent", 95.0, {"cpu": "total"})))
    loop.service.step(1.0)
    assert loop.queued() == {"r/log": 1}
    assert loop.service.health()["firingAlerts"] == 1
    state = json.loads((loop.work / "state.json").read_text())
    assert [a["labels"]["alertname"] for a in state["alerts"]] == ["Hot"]
    loop.service.submit(MetricsReceived(metrics(2.0, "cpu.percent", 95.0, {"cpu": "total"})))
    loop.service.step(2.0)
    assert loop.queued() == {"r/log": 1}  # still firing: nothing new until the repeat interval


def test_a_configuration_update_is_applied_at_the_next_step_and_ends_the_fallback(loop: Loop) -> None:
    loop.service.step(0.0)
    assert loop.updates.offer(config([{**HOT, "threshold": 99}])) is None
    assert loop.service.config.rules[0].threshold == 90  # parked: nothing changes between steps
    loop.service.submit(MetricsReceived(metrics(1.0, "cpu.percent", 95.0)))
    loop.service.step(1.0)
    assert loop.service.config.rules[0].threshold == 99 and loop.service.fallback_reason is None
    assert loop.queued() == {}  # 95 is below the new threshold: the metrics were judged by it
    assert loop.updates.offer({"rules": "nope"}) is not None  # rejected: the loop never sees it
    loop.service.step(2.0)
    assert loop.service.config.rules[0].threshold == 99


def test_bad_messages_are_counted_and_dropped(loop: Loop) -> None:
    loop.service.submit(metrics_message(ValueError("not JSON: JSONDecodeError")))
    loop.service.submit(MetricsReceived({"schema": "edgewatch.metrics/0", "metrics": []}))
    loop.service.submit(silence_message(ValueError("message nested too deeply to parse")))
    loop.service.submit(SilenceReceived({"schema": "edgewatch.silence/1", "action": "create"}))
    loop.service.submit(fleet_message("dt/edgewatch/gw-9/metrics", ValueError("not JSON: JSONDecodeError")))
    loop.service.step(1.0)
    stats = loop.service.core.stats
    assert (stats.messages, stats.malformed_messages) == (1, 2)
    assert (stats.malformed_silences, stats.silences_applied) == (2, 0)
    assert (stats.fleet_messages, stats.malformed_fleet_messages) == (1, 1)
    assert loop.queued() == {} and loop.service.inbox_bytes == 0
    counters = loop.service.health_document(1.0)["counters"]
    assert counters["malformed_messages_total"] == 2 and counters["malformed_fleet_messages_total"] == 1


def test_a_silence_message_mutes_the_alert_it_matches(loop: Loop) -> None:
    silence = silence_doc.create(matchers=[silence_doc.matcher("alertname", "Hot")], ends_at_ms=10**13, author="ana",
                                 comment="maintenance")  # fmt: skip
    loop.service.submit(SilenceReceived(silence))
    loop.service.submit(MetricsReceived(metrics(1.0, "cpu.percent", 95.0)))
    loop.service.step(1.0)
    assert loop.service.core.stats.silences_applied == 1
    assert loop.service.health()["firingAlerts"] == 1 and loop.queued() == {}


def test_health_is_reported_when_due_and_not_between(loop: Loop) -> None:
    loop.service.step(0.0)
    loop.service.step(10.0)
    loop.service.step(29.0)
    loop.service.step(30.0)
    assert loop.service.wait_for_health_publish(5.0)  # the publish runs on its own short thread
    assert [topic for topic, _ in loop.published] == ["edgewatch/health", "edgewatch/health"]
    first = health_message.from_dict(loop.published[0][1])
    assert first.component == "com.edgewatch.AlertRouter" and first.status == "degraded"  # the fallback
    assert json.loads((loop.work / "health.json").read_text())["firingAlerts"] == 0
