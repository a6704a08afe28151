"""IoT Core payloads the offline buffer could not store yet (full disk), held in memory in order.

A payload leaves memory only once the buffer has it or IoT Core acknowledged it, so a failing append
loses nothing. The queue is bounded in bytes and in count; past either bound the oldest payloads are
dropped and counted (that is the only way a payload is lost here).

Two threads use it: the sampling loop adds and stores; the uploader may send the first payload
straight from memory when the buffer has nothing older left (`claim_head` / `release`). While that
payload is in flight nothing is stored behind it, so order holds and no payload is both stored and
sent.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

logger = logging.getLogger(__name__)

# Four minutes of raw samples at a 1 s interval, or hours of summary batches.
DEFAULT_MAX_BYTES = 4 * 1024 * 1024
DEFAULT_MAX_PAYLOADS = 1_000


@dataclass(eq=False)  # compared by identity: two batches can have equal bytes
class PendingPayload:
    payload: bytes
    created_ms: int
    in_flight: bool = False


class PendingPayloads:
    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES, max_payloads: int = DEFAULT_MAX_PAYLOADS) -> None:
        self._max_bytes = max_bytes
        self._max_payloads = max_payloads
        self._queue: deque[PendingPayload] = deque()
        self._bytes = 0
        self._failing = False
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._queue)

    @property
    def bytes(self) -> int:
        with self._lock:
            return self._bytes

    def add(self, payload: bytes, created_ms: int) -> int:
        """Queue a payload behind the others; returns how many of the oldest were dropped for the bounds."""
        with self._lock:
            return self._add(PendingPayload(payload, created_ms))

    def _add(self, item: PendingPayload) -> int:
        self._queue.append(item)
        self._bytes += len(item.payload)
        dropped = 0
        while len(self._queue) > 1 and (self._bytes > self._max_bytes or len(self._queue) > self._max_payloads):
            # The payload in flight stays: its outcome decides whether it is gone or kept.
            victim = 1 if self._queue[0].in_flight else 0
            if victim >= len(self._queue) - 1 and victim:  # only the in-flight one and the newest are left
                break
            self._bytes -= len(self._queue[victim].payload)
            del self._queue[victim]
            dropped += 1
        if dropped:
            logger.error(
                "memory bound of unstored payloads exceeded (%d payloads, %d bytes max): dropped the %d oldest",
                self._max_payloads, self._max_bytes, dropped,
            )  # fmt: skip
        return dropped

    def store(self, append: Callable[[bytes, int], int], *, final: bool = False) -> tuple[int, int]:
        """Hand payloads to `append` oldest first until one fails; returns (stored, dropped by the buffer).

        `append` raises OSError when it cannot store; the payload then stays first in line. Nothing is
        stored behind a payload in flight from memory, except when `final` (the process is stopping:
        storing the rest beats losing it, even if the one in flight then fails and comes back later).
        """
        stored = dropped = 0
        # Under the lock throughout, so the uploader cannot claim a payload while it is being stored.
        with self._lock:
            skip = 1 if final and self._queue and self._queue[0].in_flight else 0
            while len(self._queue) > skip and not self._queue[skip].in_flight:
                item = self._queue[skip]
                try:
                    dropped += append(item.payload, item.created_ms)
                except OSError as err:
                    if not self._failing:
                        logger.error("offline buffer cannot store payloads (%s); holding them in memory", err)
                        self._failing = True
                    break
                del self._queue[skip]
                self._bytes -= len(item.payload)
                stored += 1
                if self._failing:  # logged once per episode, not once per refused append
                    logger.info("offline buffer stores payloads again")
                    self._failing = False
        return stored, dropped

    def unsent(self) -> int:
        """Payloads neither stored nor in flight."""
        with self._lock:
            return sum(1 for item in self._queue if not item.in_flight)

    def claim_head(self) -> PendingPayload | None:
        """The oldest payload, marked in flight, for the uploader to send from memory; None if none or busy."""
        with self._lock:
            if not self._queue or self._queue[0].in_flight:
                return None
            self._queue[0].in_flight = True
            return self._queue[0]

    def release(self, item: PendingPayload, *, delivered: bool) -> None:
        """The outcome of sending a claimed payload: delivered ones leave memory, others wait again."""
        with self._lock:
            item.in_flight = False
            if delivered and item in self._queue:
                self._queue.remove(item)
                self._bytes -= len(item.payload)
