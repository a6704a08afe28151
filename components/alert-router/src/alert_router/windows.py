"""Per-series sample windows and the aggregations rules ask for (last, avg, min, max, rate)."""

from __future__ import annotations

import itertools
import math
from collections import deque

# A "last" value older than this is stale: a series that stopped reporting must not keep an alert
# firing forever (absence rules cover the silence). Five minutes, as Prometheus' lookback.
STALE_AFTER_SECONDS = 300.0


class SeriesWindow:
    __slots__ = ("keep", "points")

    def __init__(self, keep: float) -> None:
        self.keep = keep
        self.points: deque[tuple[float, float]] = deque()

    def add(self, ts: float, value: float) -> None:
        points = self.points
        if points and ts < points[-1][0]:
            return  # out of order (a replay or clock step): the window only moves forward
        points.append((ts, value))
        cutoff = ts - self.keep
        while len(points) > 1 and points[0][0] < cutoff:
            points.popleft()

    def aggregate(self, how: str, window: float, now: float) -> float | None:
        """The aggregated value, or None when there is none; never inf or NaN (so never an encoder error)."""
        value = self._aggregate(how, window, now)
        return value if value is None or math.isfinite(value) else None

    def _aggregate(self, how: str, window: float, now: float) -> float | None:
        points = self.points
        if not points:
            return None
        if how == "last":
            ts, value = points[-1]
            return value if now - ts <= max(window, STALE_AFTER_SECONDS) else None
        cutoff = now - window
        values = [v for t, v in points if t >= cutoff]
        if not values:
            return None
        if how == "avg":
            count = len(values)
            return sum(v / count for v in values)  # scaled first: the mean of 1e308s is 1e308, not inf
        if how == "min":
            return min(values)
        if how == "max":
            return max(values)
        return _rate([(t, v) for t, v in points if t >= cutoff])


def _rate(points: list[tuple[float, float]]) -> float | None:
    """Per-second increase of a counter; a decrease is a reset, counted from zero (as Prometheus does)."""
    if len(points) < 2:
        return None
    increase = 0.0
    for (_, previous), (_, current) in itertools.pairwise(points):
        increase += current - previous if current >= previous else current
    elapsed = points[-1][0] - points[0][0]
    return increase / elapsed if elapsed > 0 else None
