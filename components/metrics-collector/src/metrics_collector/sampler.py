"""One tick: read a snapshot, evaluate the metric tables, turn counters into rates, build a message."""

from __future__ import annotations

import logging
import math
from collections.abc import Hashable, Iterable
from typing import TypeVar

from edgewatch_shared.metrics_message import Metric, MetricsMessage
from metrics_collector.config import CollectorConfig
from metrics_collector.health import HEALTH_METRICS, CollectorHealth
from metrics_collector.history import TickHistory
from metrics_collector.metric_table import SYSTEM_METRICS, MetricSpec
from metrics_collector.rates import RateTracker
from metrics_collector.snapshot import ReadPlan, SystemSnapshot, take_snapshot
from metrics_collector.system_source import SystemSource

logger = logging.getLogger(__name__)

S = TypeVar("S")


def evaluate(
    specs: Iterable[MetricSpec[S]],
    state: S,
    groups: frozenset[str],
    rates: RateTracker | None = None,
    now: float = 0.0,
) -> list[Metric]:
    """Metrics of the enabled groups; a value function that raises drops only its own metric."""
    metrics: list[Metric] = []
    append = metrics.append
    counters: dict[Hashable, float] = {}
    isfinite = math.isfinite
    for spec in specs:
        if spec.group not in groups:
            continue
        try:
            readings = spec.values(state)
            if spec.counter:
                for labels, value in readings:
                    if isfinite(value):
                        # A spec builds its labels in one fixed order, so the items are a stable key.
                        counters[(spec.name, spec.unit, spec.scale, tuple(labels.items()))] = value
                continue
            name, unit, scale = spec.name, spec.unit, spec.scale
            for labels, value in readings:
                if isfinite(value):
                    append(Metric(name, value * scale if scale != 1.0 else value, unit, labels))
        except Exception as err:  # contained: one bad metric never stops the others
            logger.debug("metric %s unavailable this tick: %s", spec.name, err)
            continue
    if counters and rates is not None:
        for key, rate in rates.rates(counters, now).items():
            name, unit, scale, labels = key  # type: ignore[misc]
            append(Metric(name, rate * scale, unit, dict(labels)))
    return metrics


class Sampler:
    """Owns the state that spans ticks: counter baselines and the temperature cadence."""

    def __init__(self, source: SystemSource, thing: str, health: CollectorHealth) -> None:
        self._source = source
        self._thing = thing
        self._health = health
        self._rates = RateTracker()
        self._history = TickHistory()
        self._temperatures_due = float("-inf")
        self._reported_failures: set[str] = set()

    def read_plan(self, config: CollectorConfig, now: float) -> ReadPlan:
        # Temperatures cost 10-25 ms per read on some boards, so they have their own slower cadence.
        read_temperatures = "temperature" in config.metric_groups and now >= self._temperatures_due
        if read_temperatures:
            self._temperatures_due = now + config.temperature_interval
        return ReadPlan(
            groups=config.metric_groups,
            read_temperatures=read_temperatures,
            top_processes=config.top_processes,
            disk_include_mounts=config.disk_include_mounts,
            disk_exclude_mounts=config.disk_exclude_mounts,
            disk_io_exclude_devices=config.disk_io_exclude_devices,
            network_include_interfaces=config.network_include_interfaces,
            network_exclude_interfaces=config.network_exclude_interfaces,
            nucleus_pid=config.nucleus_pid,
            nucleus_match=config.nucleus_process_match,
        )

    def sample(self, config: CollectorConfig, now: float, wall_time: float) -> MetricsMessage:
        """`now` is the schedule clock (seconds, for rates); `wall_time` is epoch seconds (for ts)."""
        snapshot = self.snapshot(config, now, wall_time)
        self._report(snapshot.failures)
        metrics = evaluate(SYSTEM_METRICS, snapshot, config.metric_groups, self._rates, now)
        self._health.add(samples_taken=1, read_failures=len(snapshot.failures))
        metrics += evaluate(HEALTH_METRICS, self._health.counts(), config.metric_groups)
        return MetricsMessage(thing=self._thing, ts=int(wall_time * 1000), metrics=tuple(metrics))

    def snapshot(self, config: CollectorConfig, now: float, wall_time: float) -> SystemSnapshot:
        """This tick's reads (advancing the temperature cadence) with what the previous ticks tell."""
        return self._history.derive(take_snapshot(self._source, self.read_plan(config, now), wall_time))

    def _report(self, failures: Iterable[str]) -> None:
        # Warn once per failing read (a permission error repeats every tick), then stay at debug.
        for failure in failures:
            what = failure.split(":", 1)[0]
            if what in self._reported_failures:
                logger.debug("read failed again: %s", failure)
            else:
                self._reported_failures.add(what)
                logger.warning("read failed, its metrics are missing: %s", failure)
