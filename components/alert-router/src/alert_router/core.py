"""The router's pure core: metrics and silences in, notifications out; time is always passed in.

    core.on_metrics(doc, now)  -> notifications due now (group_wait 0 sends at once)
    core.on_silence(doc, now)  -> raises SilenceError on a bad command
    core.tick(now)             -> advances for/keepFiringFor/absence and flushes due groups
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from alert_router.config import RouterConfig
from alert_router.dispatcher import Dispatcher
from alert_router.evaluator import Evaluator
from alert_router.inhibition import Inhibitor
from alert_router.notification import Notification
from alert_router.silences import SilenceBook, parse_silence_message
from edgewatch_shared.metrics_message import MessageError, MetricsMessage, from_dict

logger = logging.getLogger(__name__)


@dataclass
class CoreStats:
    messages: int = 0
    malformed_messages: int = 0
    silences_applied: int = 0
    malformed_silences: int = 0


class RouterCore:
    def __init__(self, config: RouterConfig, thing: str, now: float, silences: SilenceBook | None = None) -> None:
        self.config = config
        self.thing = thing
        self.silences = silences or SilenceBook()
        self.evaluator = Evaluator(config.rules, thing, started_at=now)
        self.dispatcher = Dispatcher(config.route, Inhibitor(config.inhibit_rules), self.silences.silenced_by, thing)
        self.stats = CoreStats()

    def apply_config(self, config: RouterConfig, now: float) -> None:
        self.config = config
        self.evaluator.set_rules(config.rules, now)
        self.dispatcher.set_route(config.route, Inhibitor(config.inhibit_rules), now)
        self._dispatch_changes(now)

    def on_metrics(self, doc: Any, now: float) -> list[Notification]:
        """A decoded `edgewatch.metrics/1` document (or message); malformed ones are counted and logged."""
        self.stats.messages += 1
        if isinstance(doc, MetricsMessage):
            message = doc
        else:
            try:
                message = from_dict(doc)
            except MessageError as err:
                self.stats.malformed_messages += 1
                # First one and then every 100th: a broken producer must not flood the log.
                if self.stats.malformed_messages % 100 == 1:
                    logger.warning("malformed metrics message #%d ignored: %s", self.stats.malformed_messages, err)
                return []
        self.evaluator.ingest(message, now)
        if self._dispatch_changes(now):
            return self.dispatcher.flush(now, self.evaluator.firing())
        return []

    def on_silence(self, doc: Any, now: float) -> None:
        try:
            command = parse_silence_message(doc, now)
        except ValueError:
            self.stats.malformed_silences += 1
            raise
        self.silences.apply(command, now)
        self.stats.silences_applied += 1

    def tick(self, now: float) -> list[Notification]:
        self.evaluator.tick(now)
        self._dispatch_changes(now)
        for silence_id in self.silences.prune(now):
            logger.info("silence %s expired and was pruned", silence_id)
        return self.dispatcher.flush(now, self.evaluator.firing())

    def next_flush(self) -> float | None:
        return self.dispatcher.next_flush()

    def _dispatch_changes(self, now: float) -> bool:
        changes = self.evaluator.take_changes()
        for alert in changes:
            logger.info("alert %s %s (%s)", alert.name, alert.state.value, alert.fingerprint)
            self.dispatcher.add(alert, now)
        return bool(changes)
