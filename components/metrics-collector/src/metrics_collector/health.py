"""The collector's own health: counters updated from several threads, read once per sample, and
the `edgewatch.health/1` document published every `healthIntervalSeconds`.

Besides counters, the holder keeps named conditions (a sentence each) that make the collector
degraded until cleared: running on a fallback configuration, an offline buffer that was corrupt.
`health_reasons` is the pure verdict over a counts snapshot, the conditions and the last report.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, fields, replace

from edgewatch_shared import health_message
from edgewatch_shared.component_env import component_version
from edgewatch_shared.health_message import HealthMessage
from metrics_collector.metric_table import NO_LABELS, MetricSpec

COMPONENT_NAME = "com.edgewatch.MetricsCollector"
VERSION = component_version(COMPONENT_NAME, __file__)  # None when run from a source tree
# Degraded thresholds: the outbox this full (fraction of bufferMaxBytes), this many failed IoT publishes in a row.
BUFFER_NEAR_FULL_FRACTION = 0.8
IOT_FAILURES_IN_A_ROW = 3
# Gauges (current values); every other count is a running total.
GAUGES = frozenset({"buffer_depth", "buffer_bytes", "pending_payloads", "pending_bytes", "iot_failures_in_a_row"})


@dataclass(frozen=True)
class HealthCounts:
    samples_taken: int = 0
    read_failures: int = 0
    local_publish_failures: int = 0
    iot_batches_published: int = 0
    iot_publish_failures: int = 0
    dropped_batches: int = 0
    skipped_ticks: int = 0
    buffer_depth: int = 0
    buffer_bytes: int = 0
    # Payloads held in memory because the outbox could not store them (full disk).
    pending_payloads: int = 0
    pending_bytes: int = 0
    iot_failures_in_a_row: int = 0
    store_quarantines: int = 0


class CollectorHealth:
    """Thread-safe holder: IPC callbacks and the uploader thread update it, the sampler reads it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts = HealthCounts()
        self._conditions: dict[str, str] = {}

    def set_condition(self, name: str, sentence: str | None) -> None:
        """A reason to be degraded (None clears it); `name` lets its source replace or clear it."""
        with self._lock:
            if sentence is None:
                self._conditions.pop(name, None)
            else:
                self._conditions[name] = sentence

    def conditions(self) -> dict[str, str]:
        with self._lock:
            return dict(self._conditions)

    # Called several times a tick, mostly with nothing new: replace() of the frozen counts costs
    # more than the comparison, so an unchanged value makes no new snapshot.
    def add(self, **increments: int) -> None:
        with self._lock:
            self._replace({k: getattr(self._counts, k) + v for k, v in increments.items() if v})

    def set(self, **values: int) -> None:
        with self._lock:
            self._replace({k: v for k, v in values.items() if getattr(self._counts, k) != v})

    def _replace(self, changed: dict[str, int]) -> None:  # under the lock
        if changed:
            self._counts = replace(self._counts, **changed)

    def counts(self) -> HealthCounts:
        with self._lock:
            return self._counts


def _counter_name(attr: str) -> str:
    return attr if attr in GAUGES else f"{attr}_total"


def _count(attr: str) -> MetricSpec[HealthCounts]:
    suffix = _counter_name(attr)
    unit = "B" if attr.endswith("_bytes") else ""
    return MetricSpec(f"collector.{suffix}", unit, "collector", lambda h: [(NO_LABELS, float(getattr(h, attr)))])


HEALTH_METRICS: tuple[MetricSpec[HealthCounts], ...] = tuple(
    _count(f.name) for f in fields(HealthCounts)
)


def health_reasons(
    counts: HealthCounts, conditions: dict[str, str], previous: HealthCounts | None, buffer_max_bytes: int
) -> list[str]:
    """Why the collector is degraded now (empty when healthy); `previous` is the counts at the last report."""
    reasons = list(conditions.values())
    dropped = counts.dropped_batches - (previous.dropped_batches if previous else 0)
    if dropped > 0:
        reasons.append(f"dropped {dropped} IoT Core payload(s) since the last report (buffer bounds exceeded)")
    if counts.buffer_bytes >= BUFFER_NEAR_FULL_FRACTION * buffer_max_bytes:
        reasons.append(f"offline buffer near full: {counts.buffer_bytes} of {buffer_max_bytes} bytes")
    if counts.pending_payloads > 0:
        reasons.append(
            f"{counts.pending_payloads} payload(s) ({counts.pending_bytes} bytes) held in memory: "
            "the offline buffer cannot store them (disk full?)"
        )
    if counts.iot_failures_in_a_row >= IOT_FAILURES_IN_A_ROW:
        reasons.append(f"{counts.iot_failures_in_a_row} IoT Core publishes failed in a row")
    return reasons


def health_document(
    *, thing: str, ts_ms: int, interval_seconds: float, counts: HealthCounts, reasons: list[str]
) -> HealthMessage:
    return health_message.build(
        component=COMPONENT_NAME, thing=thing, ts_ms=ts_ms, interval_seconds=interval_seconds, reasons=reasons,
        counters={_counter_name(f.name): getattr(counts, f.name) for f in fields(HealthCounts)}, version=VERSION,
    )  # fmt: skip
