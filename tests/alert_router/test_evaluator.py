"""alert_router.evaluator: samples in, alert state changes out, on an injected clock (no dispatcher)."""

from __future__ import annotations

from typing import Any

from alert_router.evaluator import MAX_SERIES, Evaluator
from alert_router.model import AlertState
from alert_router.rules import parse_rules

from edgewatch_shared.metrics_message import Metric, MetricsMessage

THING = "gw-01"
CPU = {"name": "HighCpu", "metric": "cpu.percent", "threshold": 90, "clearThreshold": 80, "for": "10s",
       "labels": {"kind": "cpu"}, "summary": "CPU {value:.0f}% on {thing}"}  # fmt: skip
SILENT = {"name": "CollectorSilent", "metric": "collector.samples_taken_total", "absentFor": "30s",
          "severity": "critical"}  # fmt: skip


def evaluator(*rules: dict[str, Any], started_at: float = 0.0) -> Evaluator:
    return Evaluator(parse_rules("rules", list(rules)), THING, started_at)


def sample(ev: Evaluator, t: float, value: float, name: str = "cpu.percent", **labels: str) -> None:
    ev.ingest(MetricsMessage(THING, round(t * 1000), (Metric(name, value, "%", labels),)), t)
    ev.tick(t)


def changes(ev: Evaluator) -> list[tuple[str, str]]:
    return [(a.labels["alertname"], a.state.value) for a in ev.take_changes()]


def test_pending_for_then_firing_once_then_resolved_past_the_clear_threshold() -> None:
    ev = evaluator(CPU)
    sample(ev, 0, 95, cpu="total")
    assert [a.state for a in ev.alerts()] == [AlertState.PENDING] and changes(ev) == []
    sample(ev, 5, 85, cpu="total")  # above the clear threshold: still pending
    sample(ev, 10, 95, cpu="total")
    assert changes(ev) == [("HighCpu", "firing")]
    firing = ev.firing()[0]
    assert dict(firing.labels) == {"cpu": "total", "kind": "cpu", "alertname": "HighCpu", "severity": "warning",
                                   "thing": THING}  # fmt: skip
    assert firing.annotations == {"summary": f"CPU 95% on {THING}"} and firing.starts_at == 10
    sample(ev, 20, 85, cpu="total")
    assert changes(ev) == []
    sample(ev, 30, 50, cpu="total")
    assert changes(ev) == [("HighCpu", "resolved")] and ev.alerts() == []


def test_each_series_is_its_own_alert() -> None:
    ev = evaluator({**CPU, "for": 0})
    sample(ev, 0, 95, cpu="0")
    sample(ev, 0, 95, cpu="1")
    sample(ev, 0, 10, cpu="2")
    assert sorted(a.labels["cpu"] for a in ev.firing()) == ["0", "1"]
    assert len({a.fingerprint for a in ev.firing()}) == 2


def test_metrics_of_no_rule_are_counted_but_not_kept() -> None:
    ev = evaluator(CPU)
    sample(ev, 0, 99, name="memory.percent")
    assert ev.stats.samples == 1 and ev.alerts() == []
    assert ev.export_firing() == []


def test_too_many_series_are_refused_not_evaluated() -> None:
    ev = evaluator({**CPU, "for": 0})
    metrics = tuple(Metric("cpu.percent", 95, "%", {"cpu": str(i)}) for i in range(MAX_SERIES + 5))
    ev.ingest(MetricsMessage(THING, 0, metrics), 0)
    assert ev.stats.series_refused == 5 and len(ev.firing()) == MAX_SERIES


def test_absence_rule_counts_from_start_and_resolves_when_a_sample_arrives() -> None:
    ev = evaluator(SILENT, started_at=100)
    ev.tick(129)
    assert changes(ev) == []
    ev.tick(130)
    assert changes(ev) == [("CollectorSilent", "firing")]
    assert ev.firing()[0].value == 30 and ev.firing()[0].labels["thing"] == THING
    sample(ev, 131, 1, name="collector.samples_taken_total")
    assert changes(ev) == [("CollectorSilent", "resolved")]


def test_set_rules_keeps_an_alert_whose_labels_stay_and_judges_it_by_the_new_rule() -> None:
    ev = evaluator({**CPU, "for": 0})
    sample(ev, 0, 95, cpu="total")
    changes(ev)
    ev.set_rules(parse_rules("rules", [{**CPU, "for": 0, "summary": "new text"}]), 1)
    assert changes(ev) == [] and len(ev.firing()) == 1  # same labels: not resolved and re-announced
    ev.set_rules(parse_rules("rules", [{**CPU, "for": 0, "threshold": 99, "clearThreshold": 98}]), 2)
    assert changes(ev) == []
    ev.tick(3)  # the next evaluation applies the raised threshold
    assert changes(ev) == [("HighCpu", "resolved")]


def test_set_rules_resolves_alerts_of_removed_rules_or_changed_labels_at_once() -> None:
    ev = evaluator({**CPU, "for": 0}, {**CPU, "name": "Other", "for": 0})
    sample(ev, 0, 95, cpu="total")
    changes(ev)
    ev.set_rules(parse_rules("rules", [{**CPU, "for": 0, "labels": {"kind": "compute"}}]), 1)
    assert sorted(changes(ev)) == [("HighCpu", "resolved"), ("Other", "resolved")]


def test_export_and_restore_keep_a_firing_alert_across_a_restart() -> None:
    ev = evaluator({**CPU, "for": 0})
    sample(ev, 0, 95, cpu="total")
    exported = ev.export_firing()
    assert [r["rule"] for r in exported] == ["HighCpu"] and "value" not in exported[0]

    after = evaluator({**CPU, "for": 0}, started_at=50)
    restored = after.restore_firing(exported, 50)
    assert [a.fingerprint for a in restored] == [exported[0]["fingerprint"]]
    assert after.take_changes() == []  # still firing: nothing new to say
    after.tick(60)  # no sample yet since the restart: kept as it was
    assert len(after.firing()) == 1 and after.take_changes() == []
    sample(after, 61, 10, cpu="total")
    assert changes(after) == [("HighCpu", "resolved")]


def test_a_restored_alert_whose_rule_is_gone_resolves_at_once_and_junk_is_skipped() -> None:
    ev = evaluator({**CPU, "for": 0})
    sample(ev, 0, 95, cpu="total")
    exported = ev.export_firing()
    after = evaluator(SILENT)
    restored = after.restore_firing([*exported, {"rule": "HighCpu"}, {"nonsense": 1}], 10)
    assert [a.state for a in restored] == [AlertState.RESOLVED]
    assert changes(after) == [("HighCpu", "resolved")] and after.stats.restored_alerts == 1
