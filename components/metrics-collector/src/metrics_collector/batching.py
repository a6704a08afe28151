"""Batches for AWS IoT Core: the raw samples of a publish interval, or a min/max/avg/last summary.

Batch document (`edgewatch.metrics-batch/1`), before splitting into payloads:
  raw:     {"schema", "thing", "mode": "raw", "from", "to", "samples": [{"ts", "metrics": [...]}]}
  summary: {"schema", "thing", "mode": "summary", "from", "to", "sampleCount",
            "metrics": [{"name", "unit", "labels", "min", "max", "avg", "last", "count"}]}
`from`/`to` are the first and last sample timestamps (epoch ms). Summary mode keeps running
statistics instead of the samples, so its memory does not grow with the publish interval.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from edgewatch_shared.metrics_message import MetricsMessage
from metrics_collector.sample_encoding import Series, SeriesCatalog

BATCH_SCHEMA = "edgewatch.metrics-batch/1"


@dataclass(slots=True)
class _Stats:
    min: float
    max: float
    total: float
    count: int
    last: float

    def add(self, value: float) -> None:
        # Comparisons, not min()/max(): this runs for every series of every sample.
        if value < self.min:
            self.min = value
        if value > self.max:
            self.max = value
        self.total += value
        self.count += 1
        self.last = value


@dataclass(frozen=True)
class Batch:
    """What one publish interval produced: a header plus the list to split across payloads."""

    header: dict[str, Any]
    items_key: str
    items: list[dict[str, Any]]


class Batcher(Protocol):
    # `series`: those of the message's metrics, in order, from the tick's SeriesCatalog (found here if not given).
    def add(self, message: MetricsMessage, series: Sequence[Series] | None = None) -> None: ...
    def take(self, thing: str) -> Batch | None: ...


class _Window:
    def __init__(self) -> None:
        self.first_ts: int | None = None
        self.last_ts: int | None = None
        self.count = 0

    def add(self, ts: int) -> None:
        self.first_ts = ts if self.first_ts is None else self.first_ts
        self.last_ts = ts
        self.count += 1


class RawBatcher:
    def __init__(self) -> None:
        self._samples: list[dict[str, Any]] = []
        self._window = _Window()

    def add(self, message: MetricsMessage, series: Sequence[Series] | None = None) -> None:
        self._window.add(message.ts)
        self._samples.append({"ts": message.ts, "metrics": [m.to_dict() for m in message.metrics]})

    def take(self, thing: str) -> Batch | None:
        if not self._samples:
            return None
        header = _header(thing, "raw", self._window)
        samples, self._samples, self._window = self._samples, [], _Window()
        return Batch(header, "samples", samples)


class SummaryBatcher:
    def __init__(self) -> None:
        self._series: dict[Series, _Stats] = {}
        self._window = _Window()
        self._catalog: SeriesCatalog | None = None  # for callers that pass no series

    def add(self, message: MetricsMessage, series: Sequence[Series] | None = None) -> None:
        self._window.add(message.ts)
        if series is None:
            self._catalog = self._catalog or SeriesCatalog()
            series = self._catalog.series_of(message.metrics)
        stats_of = self._series
        for s, m in zip(series, message.metrics, strict=True):
            stats = stats_of.get(s)
            if stats is None:
                stats_of[s] = _Stats(m.value, m.value, m.value, 1, m.value)
            else:
                stats.add(m.value)

    def take(self, thing: str) -> Batch | None:
        if self._window.count == 0:
            return None
        header = {**_header(thing, "summary", self._window), "sampleCount": self._window.count}
        items = [_summary_item(series, stats) for series, stats in self._series.items()]
        self._series, self._window = {}, _Window()
        return Batch(header, "metrics", items)


def _header(thing: str, mode: str, window: _Window) -> dict[str, Any]:
    return {"schema": BATCH_SCHEMA, "thing": thing, "mode": mode, "from": window.first_ts, "to": window.last_ts}


def _summary_item(series: Series, stats: _Stats) -> dict[str, Any]:
    name, unit, labels = series.key
    return {
        "name": name,
        "unit": unit,
        "labels": dict(labels),
        "min": stats.min,
        "max": stats.max,
        "avg": stats.total / stats.count,
        "last": stats.last,
        "count": stats.count,
    }


def new_batcher(mode: str) -> Batcher:
    return SummaryBatcher() if mode == "summary" else RawBatcher()


def summarize(messages: Iterable[MetricsMessage], thing: str) -> Batch | None:
    """Convenience for tests and tools: the summary batch of `messages`."""
    batcher = SummaryBatcher()
    for message in messages:
        batcher.add(message)
    return batcher.take(thing)
