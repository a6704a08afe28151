"""Rule evaluation: samples in, alert state changes out (inactive → pending → firing → resolved).

Pure: time is the `now` argument of every call. Threshold rules are evaluated when a sample of one of
their series arrives and again on `tick(now)` (so `for`, `keepFiringFor` and aging windows advance
without samples); absence rules only on `tick`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from alert_router.model import Alert, AlertState
from alert_router.rules import Rule
from alert_router.windows import SeriesWindow
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


@dataclass
class EvaluatorStats:
    samples: int = 0
    series_refused: int = 0


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
        """Apply a new rule set; unchanged rules keep their state, removed or changed ones resolve."""
        self.rules = tuple(rules)
        self._index()
        kept = set(self.rules)
        for key, inst in list(self._instances.items()):
            if inst.rule not in kept:
                del self._instances[key]
                if inst.alert.state is AlertState.FIRING:
                    self._resolve(inst, now)
        for series in self._series.values():
            series.rules, series.absence_rules = self._rules_for(series.key[1], series.labels)
            series.window.keep = _keep(series.rules)

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
