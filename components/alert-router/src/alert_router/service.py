"""The router's loop: takes metrics, silences and fleet messages (`alert_router.inbox`) and
configuration updates (`ConfigHandover`) from IPC threads, drives the core with the wall clock,
writes notifications into the outbox and wakes the delivery workers.

Everything time- or I/O-related comes in through the constructor, so tests drive `step(now)`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from alert_router.config import RouterConfig
from alert_router.core import RouterCore
from alert_router.delivery import Deliverer, Integration
from alert_router.inbox import (
    FleetReceived,
    HealthReceived,
    InboxMessage,
    MetricsReceived,
    SilenceReceived,
    Undecodable,
    Wake,
)
from alert_router.notification import Notification
from alert_router.outbox import Outbox
from alert_router.shadow_publisher import ShadowPublisher
from alert_router.silence_store import SilenceStore
from alert_router.sizing import estimated_size
from alert_router.status_shadow import ComponentBook, status_document
from edgewatch_shared import health_message
from edgewatch_shared.config_handover import ConfigHandover
from edgewatch_shared.private_files import write_json_atomic

logger = logging.getLogger(__name__)

MAX_QUEUED_MESSAGES = 10_000  # a second bound, by count; the first is inboxMaxBytes
COMPONENT = "com.edgewatch.AlertRouter"
OUTBOX_DEGRADED_FRACTION = 0.8  # outbox depth at 80 % of outboxMaxNotifications is reported
PERMANENT_FAILURE_MEMORY_SECONDS = 900.0  # a permanent Slack failure keeps the router "degraded" this long
# How often the status shadow document is built and offered (it reads the outbox depth): a change is
# reported this late at most, beside the shadow's own minimum interval.
SHADOW_CHECK_SECONDS = 5.0


class RouterService:
    def __init__(
        self,
        *,
        core: RouterCore,
        outbox: Outbox,
        deliverer: Deliverer,
        integrations_for: Callable[[RouterConfig], Mapping[str, Integration]],
        clock: Callable[[], float] = time.time,
        health_path: Path | None = None,
        state_path: Path | None = None,
        publish_health: Callable[[str, dict[str, Any]], None] | None = None,
        fallback_reason: str | None = None,
        config_updates: ConfigHandover[RouterConfig] | None = None,
        status_shadow: ShadowPublisher | None = None,
        version: str | None = None,
        silence_store: SilenceStore | None = None,
    ) -> None:
        self.core = core
        self.outbox = outbox
        self.deliverer = deliverer
        self._integrations_for = integrations_for
        self._clock = clock
        self._health_path = health_path
        self._state_path = state_path
        self._publish_health = publish_health
        self._config_updates = config_updates
        self.version = version  # this router's component version, when known (health and status shadow)
        self._shadow = status_shadow
        self._silence_store = silence_store  # only read for health
        self.components = ComponentBook(core.thing)  # what the other components' health said
        self._next_shadow_check = 0.0
        self._inbox: queue.Queue[tuple[InboxMessage, int]] = queue.Queue(MAX_QUEUED_MESSAGES)
        self._inbox_lock = threading.Lock()
        self.inbox_bytes = 0  # estimated size of what waits in the inbox
        self.dropped_messages = 0
        self.oversize_messages = 0
        self.config_failures: list[str] = []  # parts of the last configuration update that failed to apply
        # Why the router runs on a fallback (last good or default) configuration; None once a good one applies.
        self.fallback_reason = fallback_reason
        self._saved_state: Any = None
        self._state_errors = 0
        self._permanent_seen: dict[str, tuple[int, float]] = {}
        self._health_thread: threading.Thread | None = None
        self._next_tick = 0.0
        self._next_health = 0.0
        self.deliverer.set_integrations(integrations_for(core.config))
        if config_updates is not None:
            config_updates.set_on_offered(self.wake)

    @property
    def config(self) -> RouterConfig:
        return self.core.config

    # -- thread-safe inputs (IPC callbacks)
    def submit(self, message: InboxMessage) -> None:
        """Thread-safe, never blocks IPC: a message larger than maxMessageBytes is refused, and one that
        would take the inbox past inboxMaxBytes is dropped; both are counted and logged."""
        size = 0
        if isinstance(message, MetricsReceived | SilenceReceived | FleetReceived | HealthReceived):
            limit = self.config.max_message_bytes
            size = estimated_size(message.doc, limit)
            if size > limit:
                self.oversize_messages += 1
                if self.oversize_messages % 100 == 1:
                    logger.warning("%s message larger than maxMessageBytes (%d) refused unread (%d so far)",
                                   message.source, limit, self.oversize_messages)  # fmt: skip
                return
        with self._inbox_lock:
            if self.inbox_bytes + size > self.config.inbox_max_bytes:
                self._dropped()
                return
            try:
                self._inbox.put_nowait((message, size))
            except queue.Full:
                self._dropped()
                return
            self.inbox_bytes += size

    def wake(self) -> None:
        """Let the loop step now (thread-safe); nothing is lost if the inbox is full, as the loop is busy then."""
        with contextlib.suppress(queue.Full):
            self._inbox.put_nowait((Wake(), 0))

    def _dropped(self) -> None:
        self.dropped_messages += 1
        if self.dropped_messages % 1000 == 1:
            logger.error("router inbox full (inboxMaxBytes %d): %d message(s) dropped so far",
                         self.config.inbox_max_bytes, self.dropped_messages)  # fmt: skip

    def _take(self, timeout: float | None) -> InboxMessage | None:
        try:
            message, size = self._inbox.get(timeout=timeout) if timeout else self._inbox.get_nowait()
        except queue.Empty:
            return None
        with self._inbox_lock:
            self.inbox_bytes -= size
        return message

    # -- the loop
    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            now = self._clock()
            timeout = max(0.0, min(self._next_tick, self._next_health) - now)
            item = self._take(max(min(timeout, 1.0), 0.001))
            try:
                if item is not None:
                    self._handle(item, self._clock())
                self.step(self._clock())
            except Exception:  # a bug in one message must not stop alerting
                logger.exception("router step failed")

    def step(self, now: float) -> None:
        """Apply a configuration update that waits, drain the inbox, then tick, save the alert state when
        it changed, and report health when due."""
        self._apply_config_update(now)
        while (item := self._take(None)) is not None:
            self._handle(item, now)
        if now >= self._next_tick:
            self._emit(self.core.tick(now), now)
            self._next_tick = now + self.config.evaluation_interval
            self.save_state()  # once per tick (and after each emit): alerts change at most that often
        if now >= self._next_health:
            self.report_health(now)
            self._next_health = now + self.config.health_interval
        self._offer_status_shadow(now)

    def _offer_status_shadow(self, now: float) -> None:
        spec = self.config.status_shadow
        if self._shadow is None or not spec.enabled or now < self._next_shadow_check:
            return
        self._next_shadow_check = now + min(SHADOW_CHECK_SECONDS, spec.min_interval)
        self._shadow.offer(self.status_document(), now)

    def status_document(self) -> dict[str, Any]:
        """The `reported` section of the status shadow now (see status_shadow.py)."""
        return status_document(
            own_component=COMPONENT, own_version=self.version, book=self.components,
            firing_severities=self.core.firing_severities(), last_sample_ms=self.core.last_sample_ms,
            router_outbox_depth=sum(self.outbox.depth().values()),
        )  # fmt: skip

    def _apply_config_update(self, now: float) -> None:
        if self._config_updates is None:
            return
        config = self._config_updates.take()
        if config is not None:
            self.apply_config(config, now)
            self.fallback_reason = None  # a good configuration from the nucleus is in force again

    def _handle(self, message: InboxMessage, now: float) -> None:
        if isinstance(message, MetricsReceived):
            self._emit(self.core.on_metrics(message.doc, now), now)
        elif isinstance(message, FleetReceived):
            self._emit(self.core.on_fleet(message.topic, message.doc, now), now)
        elif isinstance(message, SilenceReceived):
            try:
                self.core.on_silence(message.doc, now)
                logger.info("silence command applied: %s", _brief(message.doc))
            except ValueError as err:
                logger.warning("silence message rejected: %s", err)
        elif isinstance(message, HealthReceived):
            self.components.on_health(message.doc)
        elif isinstance(message, Undecodable):
            self.core.on_undecodable(message.source, message.reason, message.topic)
        elif isinstance(message, Wake):
            self._apply_config_update(now)

    def apply_config(self, config: RouterConfig, now: float) -> None:
        if config == self.core.config:
            logger.info("configuration update changes nothing the router uses")
            return
        failed = self.core.apply_config(config, now)
        self.deliverer.max_age = config.max_notification_age
        # Plain values the workers and the outbox read at each use: a live update changes them too.
        self.deliverer.policy.initial, self.deliverer.policy.maximum = config.retry_initial, config.retry_max
        self.outbox.max_rows = config.outbox_max_notifications
        if self._shadow is not None:
            self._shadow.schedule.set_spec(config.status_shadow)
            self._next_shadow_check = now
        try:
            self.deliverer.set_integrations(self._integrations_for(config))
        except Exception:  # logged loudly; the rules and route above still apply
            logger.exception("configuration part receivers could not be applied; previous receivers stay")
            failed.append("receivers")
        self.config_failures = failed
        self._next_tick = now
        if failed:
            logger.error("configuration applied in part: %d rule(s), %d receiver(s); failed: %s",
                         len(config.rules), len(config.receivers), ", ".join(failed))  # fmt: skip
        else:
            logger.info("configuration applied: %d rule(s), %d receiver(s)", len(config.rules), len(config.receivers))

    def _emit(self, notifications: list[Notification], now: float) -> None:
        for n in notifications:
            keys = [spec.key for spec in self.config.receivers.get(n.receiver, ())]
            try:
                self.outbox.add(keys, n, now)
            except Exception:  # one notification that cannot be stored must not lose the rest of the flush
                logger.exception("notification %s could not be queued for %s", n.id, ", ".join(keys))
                continue
            logger.info("notification %s (%s, %d alert(s)) queued for %s", n.id, n.status, len(n.alerts),
                        ", ".join(keys))  # fmt: skip
        if notifications:
            self.deliverer.wake()
            self.save_state()  # what was just announced must be resolvable after a crash

    # -- alert state (what is needed to send RESOLVED after a restart)
    def save_state(self) -> None:
        if self._state_path is None:
            return
        state = self.core.state()
        if state == self._saved_state:
            return
        try:
            write_json_atomic(self._state_path, state)
        except (OSError, ValueError) as err:  # a full disk must not stop alerting; retried next step
            self._state_errors += 1
            if self._state_errors % 100 == 1:
                logger.warning("could not save the alert state to %s: %s", self._state_path.name, err)
            return
        self._saved_state = state

    # -- health
    def health(self) -> dict[str, Any]:
        return {
            "core": asdict(self.core.stats),
            "evaluator": asdict(self.core.evaluator.stats),
            "dispatch": asdict(self.core.dispatcher.stats),
            "outbox": {**asdict(self.outbox.stats), "depth": self.outbox.depth()},
            "delivery": {k: asdict(v) for k, v in self.deliverer.health.integrations.items()},
            "droppedMessages": self.dropped_messages,
            "oversizeMessages": self.oversize_messages,
            "inboxBytes": self.inbox_bytes,
            "firingAlerts": len(self.core.evaluator.firing()),
            "silences": len(self.core.silences.all()),
            "silenceStore": asdict(self._silence_store.stats) if self._silence_store is not None else {},
            "fleet": {**asdict(self.core.fleet.stats), "devices": self.core.fleet.device_count(),
                      "silent": len(self.core.fleet.firing())},
            "statusShadow": {"published": self._shadow.published if self._shadow else 0,
                             "failures": self._shadow.failures if self._shadow else 0},
        }

    def degraded_reasons(self, health: Mapping[str, Any], now: float) -> list[str]:
        """Why the router is degraded, in words; empty when it is healthy."""
        reasons = []
        if self.fallback_reason:
            reasons.append(self.fallback_reason)
        if self.config_failures:
            reasons.append(f"configuration update applied in part; failed: {', '.join(self.config_failures)}")
        quarantined = getattr(self.outbox, "quarantined_to", None)
        if quarantined is not None:
            reasons.append(f"outbox store was corrupt and moved aside to {Path(quarantined).name}; started fresh")
        store = self._silence_store
        if store is not None and store.quarantined_to is not None:
            reasons.append(f"silence store was corrupt and moved aside to {store.quarantined_to.name}; "
                           "started without stored silences")  # fmt: skip
        if getattr(self.outbox.stats, "memory_only", False):
            reasons.append("outbox has no usable database: notifications are held in memory only")
        depth = sum(health["outbox"]["depth"].values())
        limit = self.config.outbox_max_notifications
        if depth >= OUTBOX_DEGRADED_FRACTION * limit:
            reasons.append(f"outbox depth {depth} >= {int(OUTBOX_DEGRADED_FRACTION * 100)}% of {limit}")
        for key, integration in self.deliverer.health.integrations.items():
            count = integration.permanent_failures
            seen_count, seen_at = self._permanent_seen.get(key, (0, 0.0))
            if count > seen_count:
                self._permanent_seen[key] = (count, now)
                seen_at = now
            if count and now - seen_at < PERMANENT_FAILURE_MEMORY_SECONDS and key.endswith("/slack"):
                reasons.append(f"Slack receiver {key}: {count} permanent failure(s), last: {integration.last_error}")
        if self.dropped_messages:
            reasons.append(f"{self.dropped_messages} message(s) dropped: router inbox full")
        return reasons

    def health_document(self, now: float) -> dict[str, Any]:
        health = self.health()
        delivery = self.deliverer.health.integrations.values()
        counters = {
            "messages_total": health["core"]["messages"],
            "malformed_messages_total": health["core"]["malformed_messages"],
            "oversize_messages_total": self.oversize_messages,
            "dropped_messages_total": self.dropped_messages,
            "samples_total": health["evaluator"]["samples"],
            "notifications_total": health["dispatch"]["notifications"],
            "firing_alerts": health["firingAlerts"],
            "silences": health["silences"],
            "outbox_depth": sum(health["outbox"]["depth"].values()),
            "delivered_total": sum(i.delivered for i in delivery),
            "delivery_retries_total": sum(i.retries for i in delivery),
            "permanent_failures_total": sum(i.permanent_failures for i in delivery),
            "inbox_bytes": self.inbox_bytes,
            "fleet_messages_total": health["core"]["fleet_messages"],
            "malformed_fleet_messages_total": health["core"]["malformed_fleet_messages"],
            "fleet_devices": health["fleet"]["devices"],
            "fleet_devices_silent": health["fleet"]["silent"],
            "status_shadow_updates_total": health["statusShadow"]["published"],
            "status_shadow_failures_total": health["statusShadow"]["failures"],
        }
        return health_message.build(
            component=COMPONENT, thing=self.core.thing, ts_ms=int(now * 1000),
            interval_seconds=self.config.health_interval, reasons=self.degraded_reasons(health, now),
            counters=counters, version=self.version,
        ).to_dict()  # fmt: skip

    def report_health(self, now: float | None = None) -> None:
        now = self._clock() if now is None else now
        health = self.health()
        logger.info("health %s", json.dumps(health, separators=(",", ":"), default=str))
        if self._health_path is not None:
            try:
                tmp = self._health_path.with_suffix(".tmp")
                tmp.write_text(json.dumps(health, indent=2, default=str))
                os.replace(tmp, self._health_path)
            except OSError as err:  # a full disk must not stop alerting
                logger.warning("could not write %s: %s", self._health_path, err)
        if self._publish_health is not None:
            self._publish_in_background(self.health_document(now))

    def wait_for_health_publish(self, timeout: float) -> bool:
        """Wait for a health publish in progress (at shutdown, and in tests); True once none is."""
        thread = self._health_thread
        if thread is not None:
            thread.join(timeout)
        return thread is None or not thread.is_alive()

    def _publish_in_background(self, doc: dict[str, Any]) -> None:
        """PublishToTopic may wait for IPC; it must not hold up evaluation. One publish at a time: if
        the previous one is still waiting, this report is skipped (the next one comes soon)."""
        if self._health_thread is not None and self._health_thread.is_alive():
            logger.warning("previous health report still being published; this one is skipped")
            return
        publish, topic = self._publish_health, self.config.health_topic
        assert publish is not None

        def run() -> None:
            try:
                publish(topic, doc)
            except Exception as err:
                logger.warning("could not publish health on %s: %s", topic, err)

        self._health_thread = threading.Thread(target=run, name="health-publish", daemon=True)
        self._health_thread.start()


def _brief(doc: Any) -> str:
    if isinstance(doc, dict):
        return f"{doc.get('action', 'create')} {doc.get('id', '')} by {doc.get('author', '?')}"
    return "?"
