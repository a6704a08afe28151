"""IoT Core payloads the offline buffer could not store yet (full disk), held in memory in order.

A batch leaves memory only once the buffer has it, so a failing append loses nothing. The queue is
bounded in bytes and in count; past either bound the oldest payloads are dropped and counted (that
is the only way a payload is lost here). Only the sampling loop uses it, so it needs no lock.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

logger = logging.getLogger(__name__)

# Four minutes of raw samples at a 1 s interval, or hours of summary batches.
DEFAULT_MAX_BYTES = 4 * 1024 * 1024
DEFAULT_MAX_PAYLOADS = 1_000


@dataclass(frozen=True)
class PendingPayload:
    payload: bytes
    created_ms: int


class PendingPayloads:
    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES, max_payloads: int = DEFAULT_MAX_PAYLOADS) -> None:
        self._max_bytes = max_bytes
        self._max_payloads = max_payloads
        self._queue: deque[PendingPayload] = deque()
        self._bytes = 0
        self._failing = False

    def __len__(self) -> int:
        return len(self._queue)

    @property
    def bytes(self) -> int:
        return self._bytes

    def add(self, payload: bytes, created_ms: int) -> int:
        """Queue a payload behind the others; returns how many of the oldest were dropped for the bounds."""
        self._queue.append(PendingPayload(payload, created_ms))
        self._bytes += len(payload)
        dropped = 0
        while len(self._queue) > 1 and (self._bytes > self._max_bytes or len(self._queue) > self._max_payloads):
            self._bytes -= len(self._queue.popleft().payload)
            dropped += 1
        if dropped:
            logger.error(
                "memory bound of unstored payloads exceeded (%d payloads, %d bytes max): dropped the %d oldest",
                self._max_payloads, self._max_bytes, dropped,
            )  # fmt: skip
        return dropped

    def store(self, append: Callable[[bytes, int], int]) -> tuple[int, int]:
        """Hand payloads to `append` oldest first until one fails; returns (stored, dropped by the buffer).

        `append` raises OSError when it cannot store; the payload then stays first in line.
        """
        stored = dropped = 0
        while self._queue:
            item = self._queue[0]
            try:
                dropped += append(item.payload, item.created_ms)
            except OSError as err:
                if not self._failing:
                    logger.error("offline buffer cannot store payloads (%s); holding them in memory", err)
                    self._failing = True
                break
            self._queue.popleft()
            self._bytes -= len(item.payload)
            stored += 1
        if not self._queue and self._failing:
            logger.info("offline buffer stores payloads again; nothing held in memory")
            self._failing = False
        return stored, dropped
