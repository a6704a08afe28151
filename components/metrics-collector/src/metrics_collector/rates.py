"""Counter -> per-second rate, Telegraf style; CPU time -> share per mode.

The first sample of a series has no rate (there is nothing to compare with). A counter that goes
backwards was reset (device re-attached, driver reloaded, 32-bit wrap that psutil's nowrap did not
catch): that sample becomes the new baseline and yields no rate rather than a huge negative one.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping

from metrics_collector.readings import CpuTimes


class RateTracker:
    def __init__(self) -> None:
        self._previous: dict[Hashable, tuple[float, float]] = {}  # key -> (value, at)

    def rates(self, counters: Mapping[Hashable, float], now: float) -> dict[Hashable, float]:
        """Rates for the series that have a usable previous point; forgets series not seen now."""
        result: dict[Hashable, float] = {}
        current: dict[Hashable, tuple[float, float]] = {}
        previous = self._previous
        for key, value in counters.items():
            current[key] = (value, now)
            before = previous.get(key)
            if before is None:
                continue
            elapsed = now - before[1]
            if elapsed <= 0:
                continue
            if value < before[0]:  # a reset: this point is the new baseline
                continue
            result[key] = (value - before[0]) / elapsed
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


def busy_percent(before: CpuTimes, now: CpuTimes) -> float:
    """psutil.cpu_percent's formula: non-idle, non-iowait share of the ticks between two reads, rounded
    to 0.1; a field going backwards counts as 0, and no time passed is 0.0."""
    old = before.modes()
    deltas = {mode: max(0, value - old[mode]) for mode, value in now.modes().items()}
    elapsed = sum(deltas.values())
    if elapsed == 0:
        return 0.0
    return round((elapsed - deltas["idle"] - deltas["iowait"]) / elapsed * 100, 1)
