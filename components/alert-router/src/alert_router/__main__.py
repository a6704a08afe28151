"""Entry point (`python -m alert_router`): the one place that wires the router together."""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable

import alert_router
from alert_router.config import RouterConfig, parse_config, validity_reason
from alert_router.core import RouterCore
from alert_router.delivery import Deliverer
from alert_router.inbox import fleet_message, health_message, metrics_message, silence_message
from alert_router.ipc_adapter import RouterIpc
from alert_router.outbox import Outbox
from alert_router.secrets import Redactor, SecretSource
from alert_router.service import COMPONENT, RouterService
from alert_router.shadow_publisher import ShadowPublisher
from alert_router.silence_store import SILENCES_FILE, SilenceStore
from alert_router.startup import LAST_GOOD_FILE, open_last_good
from alert_router.status_shadow import ShadowSchedule
from alert_router.wiring import IntegrationFactory, silence_book
from edgewatch_shared.backoff import Backoff
from edgewatch_shared.component_env import component_version, start_component, stop_on_signals
from edgewatch_shared.config_handover import ConfigHandover
from edgewatch_shared.config_lifecycle import choose_config
from edgewatch_shared.ipc_connection import EXIT_ACCESS_DENIED
from edgewatch_shared.private_files import read_json

logger = logging.getLogger("alert_router")

OUTBOX_FILE = "alert-router.sqlite"
HEALTH_FILE = "alert-router-health.json"
STATE_FILE = "alert-router-state.json"  # firing alerts and what was announced: RESOLVED survives kill -9


def main() -> int:
    thing, work_path = start_component()
    redactor = Redactor()
    ipc = RouterIpc()
    last_good = open_last_good(work_path / LAST_GOOD_FILE)
    # IPC threads park accepted updates here; the loop applies them (also one that comes before it runs).
    updates = ConfigHandover(parse_config, on_accepted=last_good.save)
    ipc.watch_configuration(on_changed=lambda: updates.offer_from(ipc.get_configuration), validate=validity_reason)
    start = choose_config(ipc.get_configuration, parse_config, last_good)
    fallback_reason = start.describe() if start.fallback else None
    config = start.config
    ipc.max_message_bytes = config.max_message_bytes
    now = time.time()
    # Before the outbox opens: silences an older version kept in the outbox file move to their own.
    silences = SilenceStore(work_path / SILENCES_FILE, legacy=work_path / OUTBOX_FILE)
    outbox = Outbox(work_path / OUTBOX_FILE, config.outbox_max_notifications)
    stored_state = read_json(work_path / STATE_FILE, "alert state")
    core = RouterCore(config, thing, now, silence_book(silences, now),
                      restored=stored_state if isinstance(stored_state, dict) else None)  # fmt: skip
    deliverer = Deliverer(outbox, Backoff(config.retry_initial, config.retry_max), redactor.redact,
                          max_age=config.max_notification_age)
    factory = IntegrationFactory(thing, SecretSource(ipc.get_secret_value, redactor), ipc.publish_iot_core,
                                 ipc.publish_local)  # fmt: skip
    shadow = ShadowPublisher(thing, ipc.publish_iot_core, ShadowSchedule(config.status_shadow), time.time)
    service = RouterService(core=core, outbox=outbox, deliverer=deliverer, integrations_for=factory,
                            health_path=work_path / HEALTH_FILE, state_path=work_path / STATE_FILE,
                            publish_health=ipc.publish_local, fallback_reason=fallback_reason,
                            config_updates=updates, status_shadow=shadow, silence_store=silences,
                            version=component_version(COMPONENT, alert_router.__file__))  # fmt: skip

    def subscribe(config: RouterConfig) -> None:
        ipc.max_message_bytes = config.max_message_bytes
        topics = {
            config.metrics_topic: lambda doc: service.submit(metrics_message(doc)),
            config.silences_topic: lambda doc: service.submit(silence_message(doc)),
        }
        if config.status_shadow.enabled:  # the other components' versions and depths, for the shadow
            topics.setdefault(config.health_topic, lambda doc: service.submit(health_message(doc)))
        ipc.set_subscriptions(topics)
        ipc.set_iot_core_subscriptions(config.fleet.filters(),
                                       lambda topic, doc: service.submit(fleet_message(topic, doc)))  # fmt: skip

    subscribe(config)
    ipc.connect()
    _announce(config, thing, outbox)

    stop = stop_on_signals()
    # A restarted nucleus that refuses our token has started a successor: stop instead of living on.
    ipc.on_orphaned(lambda _reason: stop.set())
    if ipc.orphaned.is_set():
        stop.set()
    # Topics may change with a configuration update; the loop re-subscribes when they do.
    watcher = threading.Thread(target=_keep_connected, args=(ipc, service, subscribe, stop), daemon=True)
    watcher.start()
    try:
        service.run(stop)
    finally:
        stop.set()
        deliverer.stop()
        ipc.close()
        shadow.wait(2.0)
        outbox.close()
        silences.close()
    if ipc.orphaned.is_set():
        logger.critical("exiting: the nucleus no longer accepts this process (status %d)", EXIT_ACCESS_DENIED)
        return EXIT_ACCESS_DENIED
    return 0


def _keep_connected(
    ipc: RouterIpc, service: RouterService, subscribe: Callable[[RouterConfig], None], stop: threading.Event
) -> None:
    topics = _topics(service.config)
    while not stop.wait(1.0):
        ipc.connect()  # reconnects with backoff after a nucleus restart; streams re-open on connect
        ipc.max_message_bytes = service.config.max_message_bytes
        current = _topics(service.config)
        if current != topics:
            subscribe(service.config)
            topics = current


def _topics(config: RouterConfig) -> tuple[object, ...]:
    """What the subscriptions depend on: a change means subscribing again."""
    return (config.metrics_topic, config.silences_topic, config.fleet.filters(), config.status_shadow.enabled,
            config.health_topic)  # fmt: skip


def _announce(config: RouterConfig, thing: str, outbox: Outbox) -> None:
    depth = sum(outbox.depth().values())
    logger.info("alert router for %s: %d rule(s); metrics from %s, silences from %s; %d notification(s) pending",
                thing, len(config.rules), config.metrics_topic, config.silences_topic, depth)  # fmt: skip
    if config.fleet.enabled:
        logger.info("fleet input: IoT Core %s; DeviceSilent after %g s without a batch",
                    ", ".join(config.fleet.filters()), config.fleet.silent_after)  # fmt: skip
    if not config.has_slack():
        logger.warning("no Slack receiver configured: notifications are logged (and published to the configured "
                       "topics); add a receiver with a 'slack' block to notify Slack")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
