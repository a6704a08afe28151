"""The router's loop: takes metrics, silences and configuration from IPC threads, drives the core
with the wall clock, writes notifications into the outbox and wakes the delivery workers.

Everything time- or I/O-related comes in through the constructor, so tests drive `step(now)`.
"""

from __future__ import annotations

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
from alert_router.notification import Notification
from alert_router.outbox import Outbox

logger = logging.getLogger(__name__)

MAX_QUEUED_MESSAGES = 10_000


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
    ) -> None:
        self.core = core
        self.outbox = outbox
        self.deliverer = deliverer
        self._integrations_for = integrations_for
        self._clock = clock
        self._health_path = health_path
        self._inbox: queue.Queue[tuple[str, Any]] = queue.Queue(MAX_QUEUED_MESSAGES)
        self.dropped_messages = 0
        self._next_tick = 0.0
        self._next_health = 0.0
        self.deliverer.set_integrations(integrations_for(core.config))

    @property
    def config(self) -> RouterConfig:
        return self.core.config

    # -- thread-safe inputs (IPC callbacks)
    def submit(self, kind: str, payload: Any) -> None:
        """kind: "metrics", "silence" or "config"; a full inbox drops and counts rather than block IPC."""
        try:
            self._inbox.put_nowait((kind, payload))
        except queue.Full:
            self.dropped_messages += 1
            if self.dropped_messages % 1000 == 1:
                logger.error("router inbox full: %d message(s) dropped so far", self.dropped_messages)

    # -- the loop
    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            now = self._clock()
            timeout = max(0.0, min(self._next_tick, self._next_health) - now)
            try:
                item = self._inbox.get(timeout=min(timeout, 1.0))
            except queue.Empty:
                item = None
            try:
                if item is not None:
                    self._handle(item, self._clock())
                self.step(self._clock())
            except Exception:  # a bug in one message must not stop alerting
                logger.exception("router step failed")

    def step(self, now: float) -> None:
        """Drain the inbox, then tick and report health when due."""
        while True:
            try:
                item = self._inbox.get_nowait()
            except queue.Empty:
                break
            self._handle(item, now)
        if now >= self._next_tick:
            self._emit(self.core.tick(now), now)
            self._next_tick = now + self.config.evaluation_interval
        if now >= self._next_health:
            self.report_health()
            self._next_health = now + self.config.health_interval

    def _handle(self, item: tuple[str, Any], now: float) -> None:
        kind, payload = item
        if kind == "metrics":
            if isinstance(payload, Exception):
                self.core.stats.malformed_messages += 1
                logger.warning("undecodable metrics message ignored: %s", payload)
                return
            self._emit(self.core.on_metrics(payload, now), now)
        elif kind == "silence":
            try:
                if isinstance(payload, Exception):
                    raise ValueError(str(payload))
                self.core.on_silence(payload, now)
                logger.info("silence command applied: %s", _brief(payload))
            except ValueError as err:
                logger.warning("silence message rejected: %s", err)
        elif kind == "config":
            self.apply_config(payload, now)

    def apply_config(self, config: RouterConfig, now: float) -> None:
        if config == self.core.config:
            return
        self.core.apply_config(config, now)
        self.deliverer.set_integrations(self._integrations_for(config))
        self._next_tick = now
        logger.info("configuration applied: %d rule(s), %d receiver(s)", len(config.rules), len(config.receivers))

    def _emit(self, notifications: list[Notification], now: float) -> None:
        for n in notifications:
            keys = [spec.key for spec in self.config.receivers.get(n.receiver, ())]
            self.outbox.add(keys, n, now)
            logger.info("notification %s (%s, %d alert(s)) queued for %s", n.id, n.status, len(n.alerts),
                        ", ".join(keys))  # fmt: skip
        if notifications:
            self.deliverer.wake()

    # -- health
    def health(self) -> dict[str, Any]:
        return {
            "core": asdict(self.core.stats),
            "evaluator": asdict(self.core.evaluator.stats),
            "dispatch": asdict(self.core.dispatcher.stats),
            "outbox": {**asdict(self.outbox.stats), "depth": self.outbox.depth()},
            "delivery": {k: asdict(v) for k, v in self.deliverer.health.integrations.items()},
            "droppedMessages": self.dropped_messages,
            "firingAlerts": len(self.core.evaluator.firing()),
            "silences": len(self.core.silences.all()),
        }

    def report_health(self) -> None:
        health = self.health()
        logger.info("health %s", json.dumps(health, separators=(",", ":")))
        if self._health_path is not None:
            try:
                tmp = self._health_path.with_suffix(".tmp")
                tmp.write_text(json.dumps(health, indent=2))
                os.replace(tmp, self._health_path)
            except OSError as err:  # a full disk must not stop alerting
                logger.warning("could not write %s: %s", self._health_path, err)


def _brief(doc: Any) -> str:
    if isinstance(doc, dict):
        return f"{doc.get('action', 'create')} {doc.get('id', '')} by {doc.get('author', '?')}"
    return "?"
