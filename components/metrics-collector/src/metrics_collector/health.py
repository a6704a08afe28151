"""The collector's own health: counters updated from several threads, read once per sample."""

from __future__ import annotations

import threading
from dataclasses import dataclass, fields, replace

from metrics_collector.metric_table import NO_LABELS, MetricSpec


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


class CollectorHealth:
    """Thread-safe holder: IPC callbacks and the uploader thread update it, the sampler reads it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts = HealthCounts()

    def add(self, **increments: int) -> None:
        with self._lock:
            self._counts = replace(
                self._counts, **{k: getattr(self._counts, k) + v for k, v in increments.items()}
            )

    def set(self, **values: int) -> None:
        with self._lock:
            self._counts = replace(self._counts, **values)

    def counts(self) -> HealthCounts:
        with self._lock:
            return self._counts


def _count(attr: str) -> MetricSpec[HealthCounts]:
    suffix = attr if attr in ("buffer_depth", "buffer_bytes") else f"{attr}_total"
    unit = "B" if attr == "buffer_bytes" else ""
    return MetricSpec(f"collector.{suffix}", unit, "collector", lambda h: [(NO_LABELS, float(getattr(h, attr)))])


HEALTH_METRICS: tuple[MetricSpec[HealthCounts], ...] = tuple(
    _count(f.name) for f in fields(HealthCounts)
)
