"""The one backoff policy of the components: exponential, with jitter, and a receiver's own
Retry-After honoured.

Two ways to use it, on the same numbers:
- `delay(attempts, retry_after)` is pure: the caller keeps the attempt count (the router's outbox
  stores it per notification, so it survives a restart);
- `next_delay()` / `reset()` keep the count here (a connection that reconnects, an uploader that
  waits after a failed publish).

`random_fraction` is injectable, so tests get exact delays.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Backoff:
    """Delay after `attempts` failures: min(maximum, initial * factor**attempts), jittered down to no
    less than half of that. Plain fields: a live configuration update may change them in place."""

    initial: float = 1.0
    maximum: float = 60.0
    factor: float = 2.0
    random_fraction: Callable[[], float] = random.random
    _attempts: int = 0

    def delay(self, attempts: int, retry_after: float | None = None) -> float:
        if retry_after is not None:
            # The receiver said when (Slack's Retry-After); earlier is a guaranteed second refusal.
            return max(retry_after, 0.0)
        ceiling = min(self.maximum, self.initial * self.factor ** max(0, attempts))
        # Jitter spreads a fleet's retries (after a nucleus restart, a Slack outage); never below half.
        return ceiling * (0.5 + 0.5 * self.random_fraction())

    def next_delay(self) -> float:
        """The delay after one more failure, counted here."""
        delay = self.delay(self._attempts)
        self._attempts += 1
        return delay

    def reset(self) -> None:
        """After a success: the next failure waits `initial` (jittered) again."""
        self._attempts = 0
