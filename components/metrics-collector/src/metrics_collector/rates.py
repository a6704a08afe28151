"""Counter -> per-second rate, Telegraf style.

The first sample of a series has no rate (there is nothing to compare with). A counter that goes
backwards was reset (device re-attached, driver reloaded, 32-bit wrap that psutil's nowrap did not
catch): that sample becomes the new baseline and yields no rate rather than a huge negative one.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class _Point:
    value: float
    at: float


class RateTracker:
    def __init__(self) -> None:
        self._previous: dict[Hashable, _Point] = {}

    def rates(self, counters: Mapping[Hashable, float], now: float) -> dict[Hashable, float]:
        """Rates for the series that have a usable previous point; forgets series not seen now."""
        result: dict[Hashable, float] = {}
        current: dict[Hashable, _Point] = {}
        for key, value in counters.items():
            current[key] = _Point(value, now)
            before = self._previous.get(key)
            if before is None:
                continue
            elapsed = now - before.at
            if elapsed <= 0:
                continue
            if value < before.value:  # a reset: this point is the new baseline
                continue
            result[key] = (value - before.value) / elapsed
        # Only this tick's series are kept: a vanished interface starts afresh when it returns.
        self._previous = current
        return result
