"""A fixed-rate schedule that does not drift and does not burst.

Deadlines are `start + k * interval`, so the time a tick takes never shifts later ticks. When the
clock jumps past several deadlines (suspend, a stalled tick), the missed ones are skipped and the
next deadline is the first one still ahead: one tick runs, not a catch-up burst.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass


def schedule_clock() -> float:
    """Seconds on a clock that keeps counting during suspend.

    CLOCK_MONOTONIC stops while the machine sleeps; CLOCK_BOOTTIME does not, so a resume shows up
    as a jump that the schedule skips over instead of ticks that silently went missing.
    """
    boottime = getattr(time, "CLOCK_BOOTTIME", None)
    return time.clock_gettime(boottime) if boottime is not None else time.monotonic()


@dataclass
class FixedRateSchedule:
    interval: float
    next_due: float
    skipped: int = 0

    @classmethod
    def starting_at(cls, now: float, interval: float) -> FixedRateSchedule:
        return cls(interval=interval, next_due=now)

    def seconds_until_due(self, now: float) -> float:
        return max(0.0, self.next_due - now)

    def is_due(self, now: float) -> bool:
        return now >= self.next_due

    def advance(self, now: float) -> None:
        """Mark the due tick done; the next deadline is the first grid point after `now`."""
        following = self.next_due + self.interval
        if following <= now:
            missed = math.floor((now - self.next_due) / self.interval)
            self.skipped += missed
            following = self.next_due + (missed + 1) * self.interval
        self.next_due = following

    def change_interval(self, interval: float, now: float) -> None:
        """A new interval starts a new grid one interval from now (not from the old deadline)."""
        if interval != self.interval:
            self.interval = interval
            self.next_due = now + interval
