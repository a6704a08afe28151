"""Rule evaluation: samples in, alert state changes out (inactive → pending → firing → resolved).

Pure: time is the `now` argument of every call. Threshold rules are evaluated when a sample of one of
their series arrives and again on `tick(now)` (so `for`, `keepFiringFor` and aging windows advance
without samples); absence rules only on `tick`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from alert_router.model import Alert, AlertState
from alert_router.rules import Rule
from alert_router.windows import STALE_AFTER_SECONDS, SeriesWindow
from edgewatch_shared.metrics_message import MetricsMessage

logger = logging.getLogger(__name__)

SeriesKey = tuple[str, str, tuple[tuple[str, str], ...]]  # thing, metric name, sorted labels
MAX_SERIES = 20_000


@dataclass
class _Series:
    key: SeriesKey
    labels: dict[str, str]
    window: SeriesWindow
    rules: list[Rule]
    absence_rules: list[Rule]


@dataclass
class _Instance:
    rule: Rule
    alert: Alert
    series: _Series | None = None
    false_since: float | None = None
    # Restored after a restart: its window is empty, so "no value" must not resolve it until then.
    restored_until: float | None = None


@dataclass
class EvaluatorStats:
    samples: int = 0
    series_refused: int = 0
    restored_alerts: int = 0


@dataclass
class Evaluator:
    rules: tuple[Rule, ...]
    thing: str
    started_at: float
    stats: EvaluatorStats = field(default_factory=EvaluatorStats)

    def __post_init__(self) -> None:
        self._series: dict[SeriesKey, _Series] = {}
        self._instances: dict[tuple[str, object], _Instance] = {}
        self._last_seen: dict[str, float] = {}
        self._changes: list[Alert] = []
        self._index()

    def _index(self) -> None:
        self._threshold_rules = [r for r in self.rules if not r.is_absence]
        self._absence_rules = [r for r in self.rules if r.is_absence]
        self._metric_names = {r.metric for r in self.rules}

    # -- inputs
    def set_rules(self, rules: Iterable[Rule], now: float) -> None:
        """Apply a new rule set. As Prometheus does on a reload, an alert keeps its state when its rule
        (same name) still gives it the same labels: the next evaluation uses the new rule, so a raised
        threshold resolves it there, and a steadily breaching alert is not resolved and re-announced.
        Alerts of removed rules, or whose labels change, resolve now."""
        self.rules = tuple(rules)
        self._index()
        by_name = {r.name: r for r in self.rules}
        for key, inst in list(self._instances.items()):
            new = by_name.get(inst.rule.name)
            if new is not None and new == inst.rule:
                continue
            if new is not None and self._same_alert(new, inst):
                inst.rule = new
                continue
            del self._instances[key]
            if inst.alert.state is AlertState.FIRING:
                self._resolve(inst, now)
        for series in self._series.values():
            series.rules, series.absence_rules = self._rules_for(series.key[1], series.labels)
            series.window.keep = _keep(series.rules)

    def _same_alert(self, rule: Rule, inst: _Instance) -> bool:
        """Would `rule` produce exactly this alert (same kind, selects the same series, same labels)?"""
        if rule.is_absence != inst.rule.is_absence:
            return False
        base: dict[str, str] = {"thing": self.thing}
        if inst.series is not None:
            if not rule.selects(inst.series.key[1], inst.series.labels):
                return False
            base = {**inst.series.labels, "thing": inst.series.key[0]}
        expected = {**base, **rule.labels, "alertname": rule.name, "severity": rule.severity}
        return expected == inst.alert.labels

    def ingest(self, message: MetricsMessage, now: float) -> None:
        ts = message.ts / 1000.0
        for metric in message.metrics:
            self.stats.samples += 1
            if metric.name not in self._metric_names:
                continue  # most metrics concern no rule: the cheapest path first
            key: SeriesKey = (message.thing, metric.name, tuple(sorted(metric.labels.items())))
            series = self._series.get(key) or self._new_series(key, metric.labels)
            if series is None:
                continue
            for rule in series.absence_rules:
                self._last_seen[rule.name] = max(ts, self._last_seen.get(rule.name, ts))
            if not series.rules:
                continue
            series.window.add(ts, metric.value)
            for rule in series.rules:
                self._evaluate(rule, series, now)

    def tick(self, now: float) -> None:
        for inst in list(self._instances.values()):
            if inst.series is not None:
                self._evaluate(inst.rule, inst.series, now)
        for rule in self._absence_rules:
            self._evaluate_absence(rule, now)
        for inst in self._instances.values():
            if inst.alert.state is AlertState.FIRING:
                self._annotate(inst)  # current values in the text, refreshed once per tick, not per sample

    # -- outputs
    def take_changes(self) -> list[Alert]:
        """Alerts that started firing or resolved since the last call (each an object the dispatcher keeps)."""
        changes, self._changes = self._changes, []
        return changes

    def export_firing(self) -> list[dict[str, Any]]:
        """What must survive a restart to resolve what was announced: every firing alert, without its
        volatile value/annotations (recomputed), so the export only changes when an alert starts or ends."""
        out = []
        for (rule_name, series_key), inst in self._instances.items():
            alert = inst.alert
            if alert.state is not AlertState.FIRING:
                continue
            series = None if series_key is None else [series_key[0], series_key[1], [list(p) for p in series_key[2]]]
            out.append({"rule": rule_name, "series": series, "labels": dict(alert.labels), "activeAt": alert.active_at,
                        "startsAt": alert.starts_at, "fingerprint": alert.fingerprint})  # fmt: skip
        return sorted(out, key=lambda r: r["fingerprint"])

    def restore_firing(self, records: Iterable[Mapping[str, Any]], now: float) -> list[Alert]:
        """Firing alerts from before a restart. One whose rule no longer exists or gives other labels is
        resolved at once (it was announced; it must not stay firing forever on the receiver)."""
        by_name = {r.name: r for r in self.rules}
        restored = []
        for record in records:
            try:
                alert, inst_key, inst = self._restored(record, by_name, now)
            except (KeyError, TypeError, ValueError, IndexError, OverflowError) as err:
                logger.warning("stored alert state entry ignored (%s)", err)
                continue
            if inst is None:
                alert.state, alert.ends_at = AlertState.RESOLVED, now
                self._changes.append(alert)
                logger.info("alert %s (%s) restored and resolved: its rule changed while the router was down",
                            alert.name, alert.fingerprint)  # fmt: skip
            else:
                self._instances[inst_key] = inst
                self._annotate(inst)
            restored.append(alert)
            self.stats.restored_alerts += 1
        return restored

    def _restored(
        self, record: Mapping[str, Any], by_name: Mapping[str, Rule], now: float
    ) -> tuple[Alert, tuple[str, object], _Instance | None]:
        labels = {str(k): str(v) for k, v in dict(record["labels"]).items()}
        starts = float(record["startsAt"]) if record.get("startsAt") is not None else now
        summary = {"summary": f"{labels.get('alertname', '')} on {labels.get('thing', '')}"}
        active_at = float(record.get("activeAt") or starts)
        alert = Alert(labels, summary, AlertState.FIRING, active_at=active_at, starts_at=starts)
        rule = by_name.get(str(record["rule"]))
        raw_series = record.get("series")
        if raw_series is None:
            if rule is None or not rule.is_absence:
                return alert, (str(record["rule"]), None), None
            expected = {**rule.labels, "alertname": rule.name, "severity": rule.severity, "thing": self.thing}
            inst = _Instance(rule, alert, None, restored_until=now + (rule.absent_for or 0.0))
            return alert, (rule.name, None), (inst if expected == labels else None)
        thing, metric, pairs = raw_series
        key: SeriesKey = (str(thing), str(metric), tuple((str(k), str(v)) for k, v in pairs))
        if rule is None or rule.is_absence or not rule.selects(key[1], dict(key[2])):
            return alert, (str(record["rule"]), key), None
        expected = {**dict(key[2]), **rule.labels, "alertname": rule.name, "severity": rule.severity, "thing": key[0]}
        series = self._series.get(key) or self._new_series(key, dict(key[2]))
        if series is None or expected != labels:
            return alert, (rule.name, key), None
        grace = max(STALE_AFTER_SECONDS, rule.window)
        return alert, (rule.name, key), _Instance(rule, alert, series, restored_until=now + grace)

    def alerts(self) -> list[Alert]:
        return [inst.alert for inst in self._instances.values()]

    def firing(self) -> list[Alert]:
        return [i.alert for i in self._instances.values() if i.alert.state is AlertState.FIRING]

    # -- internals
    def _rules_for(self, name: str, labels: Mapping[str, str]) -> tuple[list[Rule], list[Rule]]:
        return (
            [r for r in self._threshold_rules if r.selects(name, labels)],
            [r for r in self._absence_rules if r.selects(name, labels)],
        )

    def _new_series(self, key: SeriesKey, labels: Mapping[str, str]) -> _Series | None:
        if len(self._series) >= MAX_SERIES:
            self.stats.series_refused += 1
            if self.stats.series_refused == 1:
                logger.warning("more than %d series; new series are not evaluated (label churn?)", MAX_SERIES)
            return None
        rules, absence = self._rules_for(key[1], labels)
        series = _Series(key, dict(labels), SeriesWindow(_keep(rules)), rules, absence)
        self._series[key] = series
        return series

    def _evaluate(self, rule: Rule, series: _Series, now: float) -> None:
        key = (rule.name, series.key)
        inst = self._instances.get(key)
        value = series.window.aggregate(rule.value, rule.window, now)
        if inst is not None and inst.restored_until is not None:
            if value is None and now < inst.restored_until:
                return  # restored firing alert, no sample yet since the restart: keep it as it was
            inst.restored_until = None
        if value is None:
            holds = False
        elif inst is not None:
            holds = rule.still_active(value)
        else:
            holds = rule.breached(value)
        if inst is None:
            if not holds:
                return
            labels = {**series.labels, **rule.labels, "alertname": rule.name, "severity": rule.severity,
                      "thing": series.key[0]}  # fmt: skip
            inst = _Instance(rule, Alert(labels, {}, AlertState.PENDING, active_at=now, value=value), series)
            self._instances[key] = inst
        self._advance(key, inst, holds, value, now)

    def _evaluate_absence(self, rule: Rule, now: float) -> None:
        assert rule.absent_for is not None
        key = (rule.name, None)
        inst = self._instances.get(key)
        if inst is not None and inst.restored_until is not None:
            if rule.name not in self._last_seen and now < inst.restored_until:
                return  # restored: the silence before the restart counts, so do not resolve on no news
            inst.restored_until = None
        silent_for = now - self._last_seen.get(rule.name, self.started_at)
        holds = silent_for >= rule.absent_for
        if inst is None:
            if not holds:
                return
            labels = {**rule.labels, "alertname": rule.name, "severity": rule.severity, "thing": self.thing}
            inst = _Instance(rule, Alert(labels, {}, AlertState.PENDING, active_at=now, value=silent_for))
            self._instances[key] = inst
        self._advance(key, inst, holds, silent_for, now)

    def _advance(self, key: tuple[str, object], inst: _Instance, holds: bool, value: float | None, now: float) -> None:
        alert, rule = inst.alert, inst.rule
        if value is not None:
            alert.value = value
        if alert.state is AlertState.PENDING:
            if not holds:
                del self._instances[key]  # back to inactive: nobody was told, nobody needs to be
            elif now - alert.active_at >= rule.for_:
                alert.state, alert.starts_at = AlertState.FIRING, now
                self._annotate(inst)
                self._changes.append(alert)
            return
        if holds:
            inst.false_since = None
            return
        if inst.false_since is None:
            inst.false_since = now
        if now - inst.false_since >= rule.keep_firing_for:
            del self._instances[key]
            self._resolve(inst, now)

    def _resolve(self, inst: _Instance, now: float) -> None:
        inst.alert.state, inst.alert.ends_at = AlertState.RESOLVED, now
        self._annotate(inst)
        self._changes.append(inst.alert)

    def _annotate(self, inst: _Instance) -> None:
        rule, alert = inst.rule, inst.alert
        values = {
            "value": alert.value, "threshold": rule.threshold, "metric": rule.metric, "thing": alert.labels["thing"],
            "rule": rule.name, "severity": rule.severity, "window": rule.window,
        }  # fmt: skip
        alert.annotations = {"summary": rule.summary.render(values, alert.labels)}
        description = rule.description.render(values, alert.labels)
        if description:
            alert.annotations["description"] = description


def _keep(rules: list[Rule]) -> float:
    return max((r.window for r in rules), default=0.0)
