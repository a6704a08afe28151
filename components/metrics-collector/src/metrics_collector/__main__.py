"""Entry point (`python -m metrics_collector`): the one place that wires the collector together."""

from __future__ import annotations

import logging
import sys
import threading
import time

from edgewatch_shared.component_env import start_component, stop_on_signals
from edgewatch_shared.config_lifecycle import initial_config
from metrics_collector.config import parse_config, validity_reason
from metrics_collector.config_updates import ConfigInbox
from metrics_collector.health import CollectorHealth
from metrics_collector.ipc_adapter import CollectorIpc
from metrics_collector.offline_buffer import OfflineBuffer
from metrics_collector.sampler import Sampler
from metrics_collector.scheduler import schedule_clock
from metrics_collector.service import CollectorService
from metrics_collector.system_source import PsutilSource
from metrics_collector.uploader import IotUploader

logger = logging.getLogger("metrics_collector")

BUFFER_FILE = "metrics-buffer.sqlite"


def main() -> int:
    thing, work_path = start_component()

    inbox = ConfigInbox()
    ipc = CollectorIpc()

    def refresh_config() -> None:
        try:
            inbox.offer(ipc.get_configuration())
        except Exception as err:
            logger.warning("could not read the configuration: %s", err)

    ipc.watch_configuration(on_changed=refresh_config, validate=validity_reason)
    config = initial_config(ipc.get_configuration, parse_config)

    health = CollectorHealth()
    source = PsutilSource()
    source.prime()
    buffer = OfflineBuffer(work_path / BUFFER_FILE, config.buffer_max_bytes)
    uploader = IotUploader(buffer, ipc.publish_iot_core, health, config.iot_topic(thing))
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
    )

    stop = stop_on_signals()
    upload_thread = threading.Thread(target=uploader.run, args=(stop,), name="iot-uploader", daemon=True)
    upload_thread.start()
    logger.info(
        "collecting every %gs for %s; local topic %s, IoT Core topic %s every %gs",
        config.sample_interval, thing, config.local_topic, config.iot_topic(thing), config.iot_publish_interval,
    )  # fmt: skip
    try:
        service.run(stop)
    finally:
        stop.set()
        uploader.wake()
        upload_thread.join(timeout=5)
        ipc.close()
        buffer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
