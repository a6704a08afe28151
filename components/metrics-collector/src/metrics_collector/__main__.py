"""Entry point (`python -m metrics_collector`): the one place that wires the collector together."""

from __future__ import annotations

import logging
import sys
import threading
import time

from edgewatch_shared.component_env import start_component, stop_on_signals
from edgewatch_shared.config_lifecycle import LastGoodConfig, choose_config
from edgewatch_shared.ipc_connection import EXIT_ACCESS_DENIED
from metrics_collector.config import parse_config, validity_reason
from metrics_collector.config_updates import ConfigInbox
from metrics_collector.health import CollectorHealth
from metrics_collector.ipc_adapter import CollectorIpc
from metrics_collector.offline_buffer import OfflineBuffer, Quarantine
from metrics_collector.pending import PendingPayloads
from metrics_collector.sampler import Sampler
from metrics_collector.scheduler import schedule_clock
from metrics_collector.service import CONFIG_CONDITION, CollectorService
from metrics_collector.system_source import PsutilSource
from metrics_collector.uploader import IotUploader

logger = logging.getLogger("metrics_collector")

BUFFER_FILE = "metrics-buffer.sqlite"
LAST_GOOD_FILE = "last-good-config.json"


def main() -> int:
    thing, work_path = start_component()

    last_good = LastGoodConfig(work_path / LAST_GOOD_FILE)
    inbox = ConfigInbox(on_accepted=last_good.save)
    ipc = CollectorIpc()
    stop = stop_on_signals()

    ipc.watch_configuration(on_changed=lambda: inbox.offer_from(ipc.get_configuration), validate=validity_reason)
    ipc.on_orphaned(lambda _reason: stop.set())
    choice = choose_config(ipc.get_configuration, parse_config, last_good)
    config = choice.config

    health = CollectorHealth()
    if choice.fallback:
        health.set_condition(CONFIG_CONDITION, choice.describe())

    def quarantined(event: Quarantine) -> None:
        health.add(store_quarantines=1)
        health.set_condition(
            "store", f"offline buffer was corrupt ({event.reason[:200]}); moved aside to {event.moved_to.name}, "
            "started empty",
        )  # fmt: skip

    source = PsutilSource()
    source.prime()
    buffer = OfflineBuffer(work_path / BUFFER_FILE, config.buffer_max_bytes, on_quarantine=quarantined)
    pending = PendingPayloads()  # shared: the loop stores from it, the uploader may send from it
    uploader = IotUploader(buffer, ipc.publish_iot_core, health, config.iot_topic(thing), pending=pending)
    service = CollectorService(
        config=config,
        thing=thing,
        sampler=Sampler(source, thing, health),
        local=ipc,
        buffer=buffer,
        uploader=uploader,
        health=health,
        inbox=inbox,
        clock=schedule_clock,
        wall_clock=time.time,
        pending=pending,
    )

    upload_thread = threading.Thread(target=uploader.run, args=(stop,), name="iot-uploader", daemon=True)
    upload_thread.start()
    logger.info(
        "collecting every %gs for %s; local topic %s, IoT Core topic %s every %gs",
        config.sample_interval, thing, config.local_topic, config.iot_topic(thing), config.iot_publish_interval,
    )  # fmt: skip
    if ipc.orphaned.is_set():
        service.abandon()
    ipc.on_orphaned(lambda _reason: service.abandon())
    try:
        service.run(stop)
    finally:
        stop.set()
        uploader.wake()
        upload_thread.join(timeout=5)
        ipc.close()
        buffer.close()
    if ipc.orphaned.is_set():
        logger.critical("exiting: the nucleus no longer accepts this process (status %d)", EXIT_ACCESS_DENIED)
        return EXIT_ACCESS_DENIED
    return 0


if __name__ == "__main__":
    sys.exit(main())
