"""Drains the offline buffer to AWS IoT Core: oldest first, at most 5 QoS 1 publishes in flight.

A payload leaves the buffer only when PublishToIoTCore succeeded. After a failure the uploader backs
off, then probes with one publish at a time from the oldest payload, and opens the window again only
once a publish succeeds: replay after an outage stays in order and does not hammer a dead link.

A payload that IoT Core acknowledged but that could not be deleted (a full disk refuses even a
DELETE in WAL mode) is remembered in memory as delivered: it is never sent again, and its delete
is retried on every step. When the buffer file is replaced (corruption), in-flight bookkeeping of
the old file is dropped, because its ids mean nothing in the new one.

When the buffer cannot store (a full disk) payloads wait in `PendingPayloads`; once every buffered
payload is acknowledged, the uploader sends the oldest of those straight from memory, one at a
time, so a disk that stays full does not stop the flow to IoT Core.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass

from edgewatch_shared.backoff import Backoff
from metrics_collector.health import CollectorHealth
from metrics_collector.offline_buffer import OfflineBuffer
from metrics_collector.pending import PendingPayload, PendingPayloads

logger = logging.getLogger(__name__)

# The nucleus allows 5 in-flight QoS 1 publishes per component by default; beyond that it refuses.
MAX_IN_FLIGHT = 5
# IoT Core allows 100 publishes/s per connection, shared with every component on the device.
MIN_SECONDS_BETWEEN_PUBLISHES = 0.05
PUBLISH_TIMEOUT_SECONDS = 30.0
# With nothing buffered, held, in flight or to retry, only `wake()` (a new payload, a completion) brings
# work; the idle step then re-checks this rarely instead of querying the buffer every second (issue 15).
IDLE_WAIT_SECONDS = 10.0

PublishFn = Callable[[str, bytes], "Future[object]"]


@dataclass
class _InFlight:
    payload_id: int  # -1 for a payload sent from memory
    future: Future[object]
    sent_at: float
    from_memory: PendingPayload | None = None


class IotUploader:
    def __init__(
        self,
        buffer: OfflineBuffer,
        publish: PublishFn,
        health: CollectorHealth,
        topic: str,
        *,
        clock: Callable[[], float] = time.monotonic,
        backoff: Backoff | None = None,
        max_in_flight: int = MAX_IN_FLIGHT,
        min_spacing: float = MIN_SECONDS_BETWEEN_PUBLISHES,
        pending: PendingPayloads | None = None,
    ) -> None:
        self._buffer = buffer
        self._pending = pending
        self._publish = publish
        self._health = health
        self._topic = topic
        self._clock = clock
        self._backoff = backoff or Backoff(initial=2.0, maximum=120.0)
        self._max_in_flight = max_in_flight
        self._min_spacing = min_spacing
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._in_flight: list[_InFlight] = []
        self._sent_up_to = 0
        self._probing = False
        self._retry_at = 0.0
        self._next_send_at = 0.0
        self._delivered: set[int] = set()  # acknowledged, delete still pending
        self._generation = buffer.generation

    def set_topic(self, topic: str) -> None:
        with self._lock:
            self._topic = topic

    def wake(self) -> None:
        self._wake.set()

    def pump(self) -> float:
        """One non-blocking step; returns how long nothing can happen unless woken."""
        with self._lock:
            now = self._clock()
            self._follow_buffer_generation()
            self._retry_deletes()
            self._harvest(now)
            self._submit(now)
            busy = bool(self._in_flight or self._delivered or self._probing or self._retry_at > now)
            waits = [1.0 if busy or self._buffer.depth().payloads or (self._pending is not None and len(self._pending))
                     else IDLE_WAIT_SECONDS]
            if self._retry_at > now:
                waits.append(self._retry_at - now)
            if self._next_send_at > now:
                waits.append(self._next_send_at - now)
        depth = self._buffer.depth()
        self._health.set(buffer_depth=depth.payloads, buffer_bytes=depth.bytes)
        return min(waits)

    def _follow_buffer_generation(self) -> None:
        if self._buffer.generation == self._generation:
            return
        logger.warning("offline buffer was replaced; restarting the upload from its first payload")
        self._generation = self._buffer.generation
        # Payloads sent from memory are not in any file: keep following those.
        self._in_flight = [e for e in self._in_flight if e.from_memory is not None]
        self._delivered, self._sent_up_to, self._probing = set(), 0, False

    def _retry_deletes(self) -> None:
        for payload_id in sorted(self._delivered):
            try:
                self._buffer.remove(payload_id)
            except sqlite3.OperationalError:
                return  # still no room; next step
            self._delivered.discard(payload_id)

    def _acknowledged(self, payload_id: int) -> None:
        try:
            self._buffer.remove(payload_id)
        except sqlite3.OperationalError as err:
            if not self._delivered:
                logger.warning("could not delete delivered payload(s) from the buffer (%s); remembered in memory", err)
            self._delivered.add(payload_id)

    def _harvest(self, now: float) -> None:
        failed = False
        still: list[_InFlight] = []
        for entry in self._in_flight:
            if not entry.future.done():
                if now - entry.sent_at > PUBLISH_TIMEOUT_SECONDS:
                    # It may still land later; then the retry is a duplicate, which QoS 1 allows.
                    logger.warning("IoT Core publish of payload %d timed out", entry.payload_id)
                    self._release(entry, delivered=False)
                    failed = True
                else:
                    still.append(entry)
                continue
            error = entry.future.exception()
            if error is None:
                if entry.from_memory is None:
                    self._acknowledged(entry.payload_id)
                else:
                    self._release(entry, delivered=True)
                self._health.add(iot_batches_published=1)
                self._health.set(iot_failures_in_a_row=0)
                if self._probing:
                    logger.info("IoT Core publishing works again; replaying the buffer")
                self._probing = False
                self._backoff.reset()
            else:
                logger.warning("IoT Core publish of payload %d failed: %s", entry.payload_id, error)
                self._release(entry, delivered=False)
                failed = True
        self._in_flight = still
        if failed:
            self._failed(now)

    def _release(self, entry: _InFlight, *, delivered: bool) -> None:
        if entry.from_memory is not None and self._pending is not None:
            self._pending.release(entry.from_memory, delivered=delivered)

    def _failed(self, now: float) -> None:
        self._health.add(iot_publish_failures=1, iot_failures_in_a_row=1)
        self._probing = True
        self._retry_at = now + self._backoff.next_delay()

    def _submit(self, now: float) -> None:
        if now < self._retry_at:
            return
        if self._probing:
            if self._in_flight:
                return
            # Restart from the oldest unacknowledged payload; acknowledged ones are already gone.
            self._sent_up_to = 0
        window = 1 if self._probing else self._max_in_flight
        while len(self._in_flight) < window and now >= self._next_send_at:
            batch = self._buffer.oldest(1, after_id=self._sent_up_to)
            if not batch:
                self._submit_from_memory(now)
                return
            item = batch[0]
            if item.id in self._delivered:  # sent and acknowledged already; only its delete is pending
                self._sent_up_to = item.id
                continue
            try:
                future = self._publish(self._topic, item.payload)
            except Exception as err:  # not connected, or the request could not be written
                logger.warning("IoT Core publish not possible: %s", err)
                self._failed(now)
                return
            future.add_done_callback(lambda _f: self._wake.set())
            self._in_flight.append(_InFlight(item.id, future, now))
            self._sent_up_to = item.id
            self._next_send_at = now + self._min_spacing

    def _submit_from_memory(self, now: float) -> None:
        # Only with nothing in flight (the caller found no unsent buffered payload): then every buffered
        # payload is acknowledged, and the oldest payload in memory is the next one in order. When probing
        # after a failure, this publish is the probe.
        if self._pending is None or self._in_flight:
            return
        item = self._pending.claim_head()
        if item is None:
            return
        try:
            future = self._publish(self._topic, item.payload)
        except Exception as err:
            self._pending.release(item, delivered=False)
            logger.warning("IoT Core publish not possible: %s", err)
            self._failed(now)
            return
        future.add_done_callback(lambda _f: self._wake.set())
        self._in_flight.append(_InFlight(-1, future, now, item))
        self._next_send_at = now + self._min_spacing

    def run(self, stop: threading.Event) -> None:
        """Thread body: pump until `stop` is set, sleeping until woken or something is due."""
        while not stop.is_set():
            self._wake.clear()  # before pumping, so a completion during the pump is not missed
            try:
                wait = self.pump()
            except Exception:
                logger.exception("uploader step failed")
                wait = 1.0
            self._wake.wait(wait)
