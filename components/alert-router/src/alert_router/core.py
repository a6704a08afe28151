"""The router's pure core: metrics and silences in, notifications out; time is always passed in.

    core.on_metrics(doc, now)  -> notifications due now (group_wait 0 sends at once)
    core.on_silence(doc, now)  -> raises SilenceError on a bad command
    core.on_fleet(topic, doc, now) -> an IoT Core batch or presence event (DeviceSilent, see fleet.py)
    core.on_undecodable(source, reason, topic) -> counts and logs a message that could not be decoded
    core.tick(now)             -> advances for/keepFiringFor/absence and flushes due groups
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from alert_router.config import RouterConfig
from alert_router.dispatcher import Dispatcher
from alert_router.evaluator import Evaluator
from alert_router.fleet import BatchError, FleetWatch
from alert_router.inhibition import Inhibitor
from alert_router.model import Alert
from alert_router.notification import Notification
from alert_router.silences import SilenceBook, parse_silence_message
from alert_router.validation import check_shape, short_reason
from edgewatch_shared.config_values import ConfigValueError
from edgewatch_shared.metrics_message import MessageError, MetricsMessage, from_dict

logger = logging.getLogger(__name__)

STATE_VERSION = 1


@dataclass
class CoreStats:
    messages: int = 0
    malformed_messages: int = 0
    silences_applied: int = 0
    malformed_silences: int = 0
    fleet_messages: int = 0
    malformed_fleet_messages: int = 0


class RouterCore:
    def __init__(
        self, config: RouterConfig, thing: str, now: float, silences: SilenceBook | None = None,
        restored: Mapping[str, Any] | None = None,
    ) -> None:  # fmt: skip
        self.config = config
        self.thing = thing
        self.silences = silences or SilenceBook()
        self.evaluator = Evaluator(config.rules, thing, started_at=now)
        self.fleet = FleetWatch(config.fleet)
        self.dispatcher = Dispatcher(config.route, Inhibitor(config.inhibit_rules), self.silences.silenced_by, thing)
        self.stats = CoreStats()
        self.last_sample_ms: int | None = None  # the newest metrics message's own time, for the status shadow
        if restored:
            self._restore(restored, now)

    # -- state that survives a restart
    def state(self) -> dict[str, Any]:
        """Firing alerts and what receivers were told about them: enough to send the RESOLVED after a
        restart (kill -9 included) for an alert that was announced firing."""
        return {"version": STATE_VERSION, "alerts": self.evaluator.export_firing(), "log": self.dispatcher.export_log(),
                "fleet": self.fleet.export()}  # fmt: skip

    def _restore(self, state: Mapping[str, Any], now: float) -> None:
        try:
            check_shape(state)  # our own file, but read defensively: bounded depth, size and numbers
        except ConfigValueError as err:
            logger.warning("stored alert state is unusable (%s); starting without it", short_reason(err))
            return
        alerts, log = state.get("alerts"), state.get("log")
        if state.get("version") != STATE_VERSION or not isinstance(alerts, list) or not isinstance(log, list):
            logger.warning("stored alert state has an unknown format; starting without it")
            return
        restored = self.evaluator.restore_firing([a for a in alerts if isinstance(a, Mapping)], now)
        fleet = state.get("fleet")
        if self.fleet.spec.enabled and isinstance(fleet, list):
            restored = restored + self.fleet.restore(fleet, now)
        for alert in restored:
            self.dispatcher.add(alert, now)
        self._dispatch_changes(now)  # the ones resolved at once (their rule changed while we were down)
        entries = self.dispatcher.restore_log([e for e in log if isinstance(e, Mapping)])
        if restored:
            logger.info("restored %d firing alert(s) and %d notification log entr(ies) from before the restart",
                        len(restored), entries)  # fmt: skip

    def apply_config(self, config: RouterConfig, now: float) -> list[str]:
        """Apply each part of a new configuration; a part that fails is logged and named in the result
        (the others still apply, and the failed part keeps its previous state)."""
        self.config = config
        failed: list[str] = []
        parts: tuple[tuple[str, Callable[[], None]], ...] = (
            ("rules", lambda: self.evaluator.set_rules(config.rules, now)),
            ("iotCoreInputs and deviceSilent", lambda: self.fleet.set_spec(config.fleet, now)),
            ("route and inhibitRules", lambda: self.dispatcher.set_route(config.route,
                                                                         Inhibitor(config.inhibit_rules), now)),
            ("alert changes", lambda: self._dispatch_changes(now)),
        )  # fmt: skip
        for name, apply in parts:
            try:
                apply()
            except Exception:  # one broken part must not keep the others (e.g. a new webhook) from applying
                logger.exception("configuration part %s could not be applied; it keeps its previous state", name)
                failed.append(name)
        return failed

    def on_metrics(self, doc: Any, now: float) -> list[Notification]:
        """A decoded `edgewatch.metrics/1` document (or message); malformed ones are counted and logged."""
        self.stats.messages += 1
        if isinstance(doc, MetricsMessage):
            message = doc
        else:
            try:
                message = from_dict(doc)
            except (MessageError, ValueError, TypeError, OverflowError, RecursionError) as err:
                # MessageError is the parser's own; the others are parser gaps on hostile input (a
                # 400-digit value), counted the same way rather than taking the loop down.
                self.stats.malformed_messages += 1
                # First one and then every 100th: a broken producer must not flood the log.
                if self.stats.malformed_messages % 100 == 1:
                    logger.warning("malformed metrics message #%d ignored: %s", self.stats.malformed_messages,
                                   str(err)[:300])  # fmt: skip
                return []
        self.evaluator.ingest(message, now)
        if message.thing == self.thing and (self.last_sample_ms is None or message.ts > self.last_sample_ms):
            self.last_sample_ms = message.ts
        if self._dispatch_changes(now):
            return self.dispatcher.flush(now, self._firing())
        return []

    def on_fleet(self, topic: str, doc: Any, now: float) -> list[Notification]:
        """One message from an IoT Core input: a collector batch (or a presence event). A malformed one
        is counted and logged, never fatal."""
        self.stats.fleet_messages += 1
        try:
            self.fleet.on_message(topic, doc, now)
        except BatchError as err:
            self._malformed_fleet(topic, str(err))
            return []
        if self._dispatch_changes(now):
            return self.dispatcher.flush(now, self._firing())
        return []

    def _malformed_fleet(self, topic: str, reason: str) -> None:
        self.stats.malformed_fleet_messages += 1
        if self.stats.malformed_fleet_messages % 100 == 1:
            logger.warning("malformed IoT Core message #%d on %s ignored: %s",
                           self.stats.malformed_fleet_messages, topic[:256], reason[:300])  # fmt: skip

    def on_undecodable(self, source: str, reason: str, topic: str = "") -> None:
        """A message that could not be decoded at all: counted with the malformed ones of its source."""
        if source == "fleet":
            self.stats.fleet_messages += 1
            self._malformed_fleet(topic, reason)
        elif source == "health":
            logger.debug("undecodable health message ignored: %s", reason[:300])
        elif source == "silence":
            self.stats.malformed_silences += 1
            logger.warning("silence message rejected: %s", reason[:300])
        else:
            self.stats.malformed_messages += 1
            logger.warning("undecodable metrics message ignored: %s", reason[:300])

    def _firing(self) -> list[Alert]:
        return self.evaluator.firing() + self.fleet.firing()

    def firing_severities(self) -> list[str]:
        """The severity of each alert firing for this thing (not a hub's DeviceSilent of other things)."""
        return [a.labels.get("severity", "") for a in self._firing() if a.labels.get("thing") == self.thing]

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
        self.fleet.tick(now)
        self._dispatch_changes(now)
        for silence_id in self.silences.prune(now):
            logger.info("silence %s expired and was pruned", silence_id)
        return self.dispatcher.flush(now, self._firing())

    def next_flush(self) -> float | None:
        return self.dispatcher.next_flush()

    def _dispatch_changes(self, now: float) -> bool:
        changes = self.evaluator.take_changes() + self.fleet.take_changes()
        for alert in changes:
            logger.info("alert %s %s (%s)", alert.name, alert.state.value, alert.fingerprint)
            self.dispatcher.add(alert, now)
        return bool(changes)
