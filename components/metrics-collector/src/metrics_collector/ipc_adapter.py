"""The collector's only contact with Greengrass IPC: `ComponentIpc` plus QoS 1 publishes to IoT Core.

Local publish, configuration reads and the configuration streams (re-opened on every reconnect)
come from `edgewatch_shared.component_ipc`; what is the collector's own is that its IoT Core
publish returns a future, so the uploader can keep several payloads in flight.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future

from awsiot.greengrasscoreipc import model

from edgewatch_shared.component_ipc import ComponentIpc

logger = logging.getLogger(__name__)

LOCAL_PUBLISH_TIMEOUT_SECONDS = 5.0


class CollectorIpc(ComponentIpc):
    stream_label = "configuration stream"
    local_publish_timeout = LOCAL_PUBLISH_TIMEOUT_SECONDS

    def publish_iot_core(self, topic: str, payload: bytes) -> Future[object]:
        """QoS 1 publish; the future completes when the nucleus has the message acknowledged."""
        client = self._client()
        future: Future[object] = client.publish_to_iot_core_async(
            topic_name=topic, qos=model.QOS.AT_LEAST_ONCE, payload=payload
        )
        future.add_done_callback(lambda f: self._failed(client, f.exception()) if f.exception() else None)
        return future

    def _on_update(self, event: model.ConfigurationUpdateEvents) -> None:
        update = event.configuration_update_event
        logger.info("configuration changed at %s", update.key_path if update else "?")
        super()._on_update(event)
