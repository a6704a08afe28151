"""Counter -> per-second rate, Telegraf style; CPU time -> share per mode.

The first sample of a series has no rate (there is nothing to compare with). A counter that goes
backwards was reset (device re-attached, driver reloaded, 32-bit wrap that psutil's nowrap did not
catch): that sample becomes the new baseline and yields no rate rather than a huge negative one.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass

from metrics_collector.readings import CpuTimes


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


def mode_percentages(
    previous: Mapping[str, CpuTimes], current: Mapping[str, CpuTimes]
) -> dict[tuple[str, str], float]:
    """Share of each CPU's time spent in each mode between two /proc/stat reads, in percent.

    A CPU seen for the first time, or whose counters went backwards (a core back from offline,
    which restarts its counters), or where no time passed yields nothing, like the first sample of
    a rate.
    """
    result: dict[tuple[str, str], float] = {}
    for cpu, now in current.items():
        before = previous.get(cpu)
        if before is None:
            continue
        old = before.modes()
        deltas = {mode: value - old[mode] for mode, value in now.modes().items()}
        elapsed = sum(deltas.values())
        if elapsed <= 0 or any(d < 0 for d in deltas.values()):
            continue
        for mode, delta in deltas.items():
            result[(cpu, mode)] = delta * 100.0 / elapsed
    return result
