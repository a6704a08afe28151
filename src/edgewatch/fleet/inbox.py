"""A queue from awscrt's thread to the watch loop, bounded in bytes: a full inbox blocks the producer.

Blocking (rather than dropping) holds QoS 1 messages back at the broker through TCP back-pressure,
so a slow terminal never loses a batch; it only delays it.
"""

from __future__ import annotations

import threading
import time
from collections import deque

DEFAULT_MAX_BYTES = 16 * 1024 * 1024
OVERHEAD_BYTES = 64  # per entry, so that a flood of empty payloads is bounded too


class Inbox:
    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self._items: deque[tuple[str, bytes, float]] = deque()
        self._bytes = 0
        self._cond = threading.Condition()
        self.closed = False

    def put(self, topic: str, payload: bytes, received: float) -> None:
        size = len(topic) + len(payload) + OVERHEAD_BYTES
        with self._cond:
            # One entry larger than the bound is still accepted when the inbox is empty.
            while self._items and self._bytes + size > self.max_bytes and not self.closed:
                self._cond.wait(1.0)
            self._items.append((topic, payload, received))
            self._bytes += size
            self._cond.notify_all()

    def get(self, timeout: float) -> tuple[str, bytes, float] | None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self._items:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self.closed:
                    return None
                self._cond.wait(remaining)
            topic, payload, received = self._items.popleft()
            self._bytes -= len(topic) + len(payload) + OVERHEAD_BYTES
            self._cond.notify_all()
            return topic, payload, received

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()
