"""Bounded in-memory history of every metric series: a raw tier and a downsampled tier.

Raw tier: every sample for `history_s` (the 5m/15m/1h ranges). Downsampled tier: means over
`downsample_s` buckets for `long_history_s` (the 6h/24h ranges). At most `max_series` series; a new
series beyond that is refused and counted. Appended points also go into a bounded journal with a
sequence number, from which each WebSocket client takes the points it has not seen (`points_since`);
a client that falls behind the journal is resynchronised with a snapshot. Pure: time is passed in.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from edgewatch_shared.metrics_message import MetricsMessage

# One journal entry per appended point; enough for a few push intervals of a large metric set.
JOURNAL_MIN_ENTRIES = 4096


def series_key(name: str, labels: Mapping[str, str]) -> str:
    """`name{a=1,b=2}` with labels sorted: stable across processes and messages."""
    if not labels:
        return name
    return name + "{" + ",".join(f"{k}={labels[k]}" for k in sorted(labels)) + "}"


@dataclass
class _Bucket:
    start_ms: int
    total: float = 0.0
    count: int = 0


@dataclass
class Series:
    key: str
    name: str
    unit: str
    labels: dict[str, str]
    raw: deque[tuple[int, float]] = field(default_factory=deque)
    coarse: deque[tuple[int, float]] = field(default_factory=deque)
    bucket: _Bucket | None = None

    def header(self) -> dict[str, Any]:
        return {"key": self.key, "name": self.name, "unit": self.unit, "labels": dict(self.labels)}


@dataclass
class StoreStats:
    points_total: int = 0
    refused_series_total: int = 0
    out_of_order_total: int = 0
    non_finite_total: int = 0


class HistoryStore:
    def __init__(self, *, history_s: float, downsample_s: float, long_history_s: float, max_series: int) -> None:
        self.history_ms = int(history_s * 1000)
        self.downsample_ms = max(1, int(downsample_s * 1000))
        self.long_history_ms = int(long_history_s * 1000)
        self.max_series = max_series
        self.series: dict[str, Series] = {}
        self.stats = StoreStats()
        self.seq = 0
        self._journal: deque[tuple[int, str, int, float]] = deque(maxlen=max(JOURNAL_MIN_ENTRIES, 4 * max_series))
        self._keys: dict[tuple[str, tuple[tuple[str, str], ...]], str] = {}

    def reconfigure(self, *, history_s: float, downsample_s: float, long_history_s: float, max_series: int) -> None:
        """New bounds; kept points outside them go at the next trim. A new bucket size starts afresh."""
        if max(1, int(downsample_s * 1000)) != self.downsample_ms:
            for series in self.series.values():
                series.coarse.clear()
                series.bucket = None
        self.history_ms = int(history_s * 1000)
        self.downsample_ms = max(1, int(downsample_s * 1000))
        self.long_history_ms = int(long_history_s * 1000)
        self.max_series = max_series
        self._journal = deque(self._journal, maxlen=max(JOURNAL_MIN_ENTRIES, 4 * max_series))

    # -- in
    def ingest(self, message: MetricsMessage, now_ms: int) -> int:
        """Add a sample's metrics (timestamped by the message); returns how many points were kept."""
        kept = 0
        for metric in message.metrics:
            if not math.isfinite(metric.value):
                self.stats.non_finite_total += 1
                continue
            labels = metric.labels
            # The same series arrive every second: their keys are remembered, not built again.
            lookup = (metric.name, tuple(labels.items()))
            key = self._keys.get(lookup)
            if key is None:
                if len(self._keys) >= 4 * self.max_series:
                    self._keys.clear()
                key = self._keys[lookup] = series_key(metric.name, labels)
            series = self.series.get(key)
            if series is None:
                if len(self.series) >= self.max_series:
                    self.stats.refused_series_total += 1
                    continue
                series = Series(key, metric.name, metric.unit or "", dict(metric.labels))
                self.series[key] = series
            if self._append(series, message.ts, float(metric.value)):
                kept += 1
        self.trim(now_ms)
        return kept

    def _append(self, series: Series, ts: int, value: float) -> bool:
        if series.raw and ts <= series.raw[-1][0]:
            self.stats.out_of_order_total += 1  # a replay or clock step back: keep the series ascending
            return False
        series.raw.append((ts, value))
        self._fold(series, ts, value)
        self.seq += 1
        self._journal.append((self.seq, series.key, ts, value))
        self.stats.points_total += 1
        return True

    def _fold(self, series: Series, ts: int, value: float) -> None:
        if not self.long_history_ms:
            return
        start = ts - ts % self.downsample_ms
        bucket = series.bucket
        if bucket is not None and bucket.start_ms != start:
            series.coarse.append((bucket.start_ms, bucket.total / bucket.count))
            bucket = None
        if bucket is None:
            bucket = series.bucket = _Bucket(start)
        bucket.total += value
        bucket.count += 1

    def trim(self, now_ms: int) -> None:
        raw_floor = now_ms - self.history_ms
        coarse_floor = now_ms - self.long_history_ms
        for key in list(self.series):
            series = self.series[key]
            while series.raw and series.raw[0][0] < raw_floor:
                series.raw.popleft()
            while series.coarse and series.coarse[0][0] < coarse_floor:
                series.coarse.popleft()
            if not self.long_history_ms:
                series.coarse.clear()
                series.bucket = None
            if not series.raw and not series.coarse:
                del self.series[key]  # gone quiet for longer than we keep: frees its slot

    # -- out
    def snapshot(self, range_s: float, now_ms: int) -> list[dict[str, Any]]:
        """Every series with its points in the range, ascending; raw points when the raw tier covers it."""
        floor = now_ms - int(range_s * 1000)
        use_raw = range_s * 1000 <= self.history_ms or not self.long_history_ms
        out = []
        for series in self.series.values():
            if use_raw:
                points = [[ts, v] for ts, v in series.raw if ts >= floor]
            else:
                points = [[ts, v] for ts, v in series.coarse if ts >= floor]
                if series.bucket is not None and series.bucket.count:
                    points.append([series.bucket.start_ms, series.bucket.total / series.bucket.count])
            if points:
                out.append({**series.header(), "points": points})
        return out

    def points_since(self, seq: int) -> list[dict[str, Any]] | None:
        """New points after journal position `seq`, grouped by series; None when `seq` fell out of the journal."""
        if seq >= self.seq:
            return []
        if not self._journal or self._journal[0][0] > seq + 1:
            return None
        grouped: dict[str, list[list[float]]] = {}
        for entry_seq, key, ts, value in reversed(self._journal):
            if entry_seq <= seq:
                break
            grouped.setdefault(key, []).append([ts, value])
        out = []
        for key, points in grouped.items():
            series = self.series.get(key)
            if series is not None:
                points.reverse()
                out.append({**series.header(), "points": points})
        return out

    def latest(self) -> Iterable[tuple[Series, int, float]]:
        for series in self.series.values():
            if series.raw:
                ts, value = series.raw[-1]
                yield series, ts, value

    def point_count(self) -> int:
        return sum(len(s.raw) + len(s.coarse) for s in self.series.values())
