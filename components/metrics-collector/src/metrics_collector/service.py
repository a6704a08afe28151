"""The sampling loop: ticks on a fixed-rate schedule, publishes each sample locally, batches for
IoT Core into the offline buffer, publishes its health every `healthIntervalSeconds`, and applies
configuration changes between ticks.

A batch's payloads go through `PendingPayloads` (memory, bounded) into the buffer: when the buffer
cannot store them (full disk) they wait in memory, in order, and are retried on every tick (the
uploader may meanwhile send them from memory, see `uploader.py`).

All time and I/O come in through the constructor (clocks, local publisher, buffer, uploader), so
tests drive `tick()` and `publish_health()` with an injected clock and fakes.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, Protocol

from metrics_collector.batching import Batcher, new_batcher
from metrics_collector.config import CollectorConfig
from metrics_collector.config_updates import ConfigInbox
from metrics_collector.health import CollectorHealth, HealthCounts, health_document, health_reasons
from metrics_collector.offline_buffer import OfflineBuffer
from metrics_collector.payload_split import split_batch
from metrics_collector.pending import PendingPayloads
from metrics_collector.sample_encoding import SeriesCatalog, encode_sample
from metrics_collector.sampler import Sampler
from metrics_collector.scheduler import FixedRateSchedule

logger = logging.getLogger(__name__)

# Health condition set while the collector runs on a fallback configuration (cleared by a valid one).
CONFIG_CONDITION = "configuration"


class LocalPublisher(Protocol):
    def publish_local(self, topic: str, message: dict[str, Any]) -> None: ...
    def publish_local_bytes(self, topic: str, payload: bytes) -> None: ...


class Uploader(Protocol):
    def set_topic(self, topic: str) -> None: ...
    def wake(self) -> None: ...


class CollectorService:
    def __init__(
        self,
        *,
        config: CollectorConfig,
        thing: str,
        sampler: Sampler,
        local: LocalPublisher,
        buffer: OfflineBuffer,
        uploader: Uploader,
        health: CollectorHealth,
        inbox: ConfigInbox,
        clock: Callable[[], float],
        wall_clock: Callable[[], float],
        pending: PendingPayloads | None = None,
    ) -> None:
        self._config = config
        self._thing = thing
        self._sampler = sampler
        self._local = local
        self._buffer = buffer
        self._uploader = uploader
        self._health = health
        self._inbox = inbox
        self._clock = clock
        self._wall_clock = wall_clock
        self._batcher: Batcher = new_batcher(config.iot_publish_mode)
        self._catalog = SeriesCatalog()
        now = clock()
        self._samples = FixedRateSchedule.starting_at(now, config.sample_interval)
        self._publishes = FixedRateSchedule.starting_at(now + config.iot_publish_interval, config.iot_publish_interval)
        self._health_reports = FixedRateSchedule.starting_at(now, config.health_interval)
        self._pending = pending if pending is not None else PendingPayloads()
        self._local_failures_logged = False
        self._health_failures_logged = False
        self._last_report: HealthCounts | None = None
        self._abandoned = False

    @property
    def config(self) -> CollectorConfig:
        return self._config

    def abandon(self) -> None:
        """Stop without storing the partial batch: this process lost its right to run (see IpcClientConnection)."""
        self._abandoned = True

    def run(self, stop: threading.Event) -> None:
        """Tick until `stop` is set; then put the partial batch into the buffer for next time."""
        while not stop.is_set():
            if self._samples.is_due(self._clock()):
                try:
                    self.tick()
                except Exception:
                    logger.exception("tick failed")
                self._samples.advance(self._clock())
                self._health.set(skipped_ticks=self._samples.skipped)
            if self._health_reports.is_due(self._clock()):
                try:
                    self.publish_health()
                except Exception:
                    logger.exception("health report failed")
                self._health_reports.advance(self._clock())
            now = self._clock()
            stop.wait(min(self._samples.seconds_until_due(now), self._health_reports.seconds_until_due(now)))
        if self._abandoned:
            logger.warning("abandoned: stopping without storing the partial batch")
            return
        self._buffer.retry_open_now()
        self.flush_batch()
        self._store_pending(final=True)
        if unsent := self._pending.unsent():
            logger.error("stopping with %d payload(s) the buffer could not store; they are lost", unsent)

    def tick(self) -> None:
        self._apply_pending_config()
        self._store_pending()  # retries what a full disk refused; keeps the pending gauges current
        now = self._clock()
        message = self._sampler.sample(self._config, now, self._wall_clock())
        series = self._catalog.series_of(message.metrics)
        try:
            if self._config.local_message_format == "binary":
                self._local.publish_local_bytes(self._config.local_topic, encode_sample(message, series))
            else:
                self._local.publish_local(self._config.local_topic, message.to_dict())
            self._local_failures_logged = False
        except Exception as err:  # a local sample is live data: counted and skipped, not buffered
            self._health.add(local_publish_failures=1)
            if not self._local_failures_logged:
                logger.warning("local publish to %s failed: %s", self._config.local_topic, err)
                self._local_failures_logged = True
        self._batcher.add(message, series)
        if self._publishes.is_due(now):
            self.flush_batch()
            self._publishes.advance(now)

    def flush_batch(self) -> int:
        """Split the current batch into payloads and store them for the uploader; returns the count."""
        batch = self._batcher.take(self._thing)
        if batch is None:
            return 0
        payloads = split_batch(batch, self._config.iot_max_payload_bytes)
        created_ms = int(self._wall_clock() * 1000)
        for payload in payloads:
            dropped = self._pending.add(payload, created_ms)
            if dropped:
                self._health.add(dropped_batches=dropped)
        self._store_pending()
        return len(payloads)

    def _store_pending(self, *, final: bool = False) -> None:
        stored, dropped = self._pending.store(self._buffer.append, final=final)
        if dropped:
            self._health.add(dropped_batches=dropped)
        depth = self._buffer.depth()
        self._health.set(
            buffer_depth=depth.payloads, buffer_bytes=depth.bytes,
            pending_payloads=len(self._pending), pending_bytes=self._pending.bytes,
        )  # fmt: skip
        if stored or len(self._pending):  # the uploader may also send held payloads from memory
            self._uploader.wake()

    def publish_health(self) -> dict[str, Any]:
        """Publish one `edgewatch.health/1` document on the health topic; returns it."""
        counts = self._health.counts()
        reasons = health_reasons(counts, self._health.conditions(), self._last_report, self._buffer.max_bytes)
        self._last_report = counts
        doc = health_document(
            thing=self._thing, ts_ms=int(self._wall_clock() * 1000), interval_seconds=self._config.health_interval,
            counts=counts, reasons=reasons,
        ).to_dict()  # fmt: skip
        try:
            self._local.publish_local(self._config.health_topic, doc)
            self._health_failures_logged = False
        except Exception as err:
            self._health.add(local_publish_failures=1)
            if not self._health_failures_logged:
                logger.warning("health publish to %s failed: %s", self._config.health_topic, err)
                self._health_failures_logged = True
        return doc

    def _apply_pending_config(self) -> None:
        new = self._inbox.take()
        if new is None:
            return
        # A valid configuration arrived: whatever the fallback was, it is over.
        self._health.set_condition(CONFIG_CONDITION, None)
        if new == self._config:
            return
        old, now = self._config, self._clock()
        if new.iot_publish_mode != old.iot_publish_mode:
            self.flush_batch()  # the collected samples belong to the old mode's batch
            self._batcher = new_batcher(new.iot_publish_mode)
        self._samples.change_interval(new.sample_interval, now)
        self._publishes.change_interval(new.iot_publish_interval, now)
        self._health_reports.change_interval(new.health_interval, now)
        if new.iot_topic_template != old.iot_topic_template:
            self._uploader.set_topic(new.iot_topic(self._thing))
        if new.buffer_max_bytes != old.buffer_max_bytes:
            dropped = self._buffer.set_max_bytes(new.buffer_max_bytes)
            if dropped:
                self._health.add(dropped_batches=dropped)
        self._config = new
        logger.info("configuration applied")
