"""Delivery: one worker thread per integration reads its queue in the outbox, in order.

Retries happen here and only here: an integration's `send` makes one attempt and says what happened
(`Delivered`, `Retry(reason, retry_after)` or `Permanent(reason)`). One worker per integration means a
slow or dead receiver only delays its own queue. Slack's ~1 message/s per channel is kept by a
shared `Pacer` keyed by channel.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from alert_router.notification import Notification
from alert_router.outbox import Outbox, OutboxItem
from edgewatch_shared.backoff import Backoff

logger = logging.getLogger(__name__)

IDLE_POLL_SECONDS = 1.0


@dataclass(frozen=True)
class Delivered:
    pass


@dataclass(frozen=True)
class Retry:
    reason: str
    retry_after: float | None = None  # the receiver's own instruction (Slack's Retry-After) wins


@dataclass(frozen=True)
class Permanent:
    reason: str


DeliveryResult = Delivered | Retry | Permanent


class Integration(Protocol):
    key: str
    pacing_key: str | None  # integrations sharing a key share the pace (a Slack channel)
    min_interval: float

    def send(self, notification: Notification) -> DeliveryResult: ...


class Pacer:
    """At most one send per `interval` per key (thread-safe; time passed in)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._next: dict[str, float] = {}

    def reserve(self, key: str, interval: float, now: float) -> float:
        """0 and the slot is taken, or the seconds to wait before asking again."""
        with self._lock:
            allowed = self._next.get(key, 0.0)
            if now < allowed:
                return allowed - now
            self._next[key] = now + interval
            return 0.0


@dataclass
class IntegrationHealth:
    delivered: int = 0
    retries: int = 0
    permanent_failures: int = 0
    last_error: str = ""


@dataclass
class DeliveryHealth:
    integrations: dict[str, IntegrationHealth] = field(default_factory=dict)

    def of(self, key: str) -> IntegrationHealth:
        return self.integrations.setdefault(key, IntegrationHealth())


class DeliveryWorker:
    """Delivers one integration's queue. `waits_for`: the threads of the workers it replaces; it starts
    sending only once they have ended, so one queue never has two senders."""

    def __init__(
        self, integration: Integration, outbox: Outbox, policy: Backoff, pacer: Pacer, health: DeliveryHealth,
        redact: Callable[[str], str], clock: Callable[[], float] = time.time,
        max_age: Callable[[], float | None] = lambda: None, waits_for: Sequence[threading.Thread] = (),
    ) -> None:  # fmt: skip
        self.integration = integration
        self._outbox = outbox
        self._policy = policy
        self._pacer = pacer
        self._health = health.of(integration.key)
        self._redact = redact
        self._clock = clock
        self._max_age = max_age
        self.waits_for = [t for t in waits_for if t.is_alive()]
        self._wake = threading.Event()
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"deliver-{integration.key}", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def wake(self) -> None:
        self._wake.set()

    def signal_stop(self) -> None:
        """Ask the worker to end after its current attempt; never blocks."""
        self._stop.set()
        self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        self.signal_stop()
        self.thread.join(timeout)

    def _run(self) -> None:
        for predecessor in self.waits_for:
            while predecessor.is_alive() and not self._stop.is_set():
                predecessor.join(0.2)
        while not self._stop.is_set():
            try:
                wait = self.step()
            except Exception as err:  # the outbox or an integration misbehaved: keep the worker alive
                trace = "".join(traceback.format_exception(err))
                logger.error("delivery worker %s failed; continuing: %s", self.integration.key, self._redact(trace))
                wait = IDLE_POLL_SECONDS
            if wait > 0:
                self._wake.wait(min(wait, IDLE_POLL_SECONDS))
                self._wake.clear()

    def step(self) -> float:
        """Try the head of the queue once; returns how long to wait before the next step."""
        now = self._clock()
        item = self._outbox.head(self.integration.key, now, self._max_age())
        if item is None:
            return IDLE_POLL_SECONDS
        if item.next_attempt > now:
            return item.next_attempt - now
        if self.integration.pacing_key is not None:
            wait = self._pacer.reserve(self.integration.pacing_key, self.integration.min_interval, now)
            if wait > 0:
                return wait
        if self._stop.is_set():
            return 0.0  # replaced or shutting down: the successor sends it
        try:
            result = self.integration.send(item.notification)
        except Exception as err:  # an unexpected bug in an integration: retried, never lost
            result = Retry(f"unexpected {type(err).__name__}: {err}")
        self._handle(item, result)
        return 0.0

    def _handle(self, item: OutboxItem, result: DeliveryResult) -> None:
        key, nid = self.integration.key, item.notification.id
        if isinstance(result, Delivered):
            self._outbox.delivered(item)
            self._health.delivered += 1
            logger.info("notification %s delivered to %s (attempt %d)", nid, key, item.attempts + 1)
        elif isinstance(result, Retry):
            delay = self._policy.delay(item.attempts, result.retry_after)
            reason = self._redact(result.reason)
            self._outbox.retry_later(item, self._clock() + delay, reason)
            self._health.retries += 1
            self._health.last_error = reason
            logger.warning("notification %s to %s failed (%s); retry %d in %.1f s", nid, key, reason,
                           item.attempts + 1, delay)  # fmt: skip
        else:
            reason = self._redact(result.reason)
            self._outbox.failed(item, reason, self._clock())
            self._health.permanent_failures += 1
            self._health.last_error = reason
            logger.error("notification %s to %s failed permanently, not retried: %s", nid, key, reason)


class Deliverer:
    """The set of workers, one per integration; replaced piecemeal on configuration changes.

    Replacing a worker never blocks the caller (the router loop): the old one is told to stop and the
    new one waits for it to end before it sends, so a queue has at most one sender at any time.
    `max_age` (seconds, None for no limit) drops queued notifications older than that, unsent.
    """

    def __init__(
        self, outbox: Outbox, policy: Backoff, redact: Callable[[str], str], clock: Callable[[], float] = time.time,
        max_age: float | None = None,
    ) -> None:  # fmt: skip
        self.outbox = outbox
        self.policy = policy
        self.pacer = Pacer()
        self.health = DeliveryHealth()
        self.max_age = max_age
        self._redact = redact
        self._clock = clock
        self._workers: dict[str, DeliveryWorker] = {}
        self._retired: list[DeliveryWorker] = []

    def set_integrations(self, integrations: Mapping[str, Integration]) -> None:
        for key in list(self._workers):
            if key not in integrations or integrations[key] is not self._workers[key].integration:
                old = self._workers.pop(key)
                old.signal_stop()
                self._retired.append(old)
        self._retired = [w for w in self._retired if w.thread.is_alive()]
        for key, integration in integrations.items():
            if key not in self._workers:
                # Every retired worker of this queue still running, also one removed by an earlier change.
                waits_for = [w.thread for w in self._retired if w.integration.key == key]
                worker = DeliveryWorker(integration, self.outbox, self.policy, self.pacer, self.health,
                                        self._redact, self._clock, lambda: self.max_age, waits_for)  # fmt: skip
                self._workers[key] = worker
                worker.start()

    def senders(self, key: str) -> int:
        """How many live workers could send for `key` (for tests and health): at most one is sending."""
        return sum(1 for w in [*self._workers.values(), *self._retired] if w.integration.key == key
                   and w.thread.is_alive())  # fmt: skip

    def wake(self) -> None:
        for worker in self._workers.values():
            worker.wake()

    def stop(self, timeout: float = 5.0) -> None:
        """At shutdown: stop every worker, waiting at most `timeout` s in all."""
        workers = [*self._workers.values(), *self._retired]
        for worker in workers:
            worker.signal_stop()
        deadline = time.monotonic() + timeout
        for worker in workers:
            worker.thread.join(max(0.0, deadline - time.monotonic()))
        self._workers.clear()
        self._retired.clear()
