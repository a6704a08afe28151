"""The dashboard's only contact with Greengrass IPC: `ComponentIpc` as it is, with its four topic
streams (`set_subscriptions`), the password secret (`get_secret_value`) and, in hub mode, the fleet's
IoT Core topic filters (`set_iot_core_subscriptions`, SubscribeToIoTCore QoS 1).

Handlers get the decoded JSON of a JSON message and the raw bytes of a binary one (size-checked by
the dashboard before it parses them); IoT Core handlers get (topic, raw payload bytes). They run on
the IPC client's thread pool, so they only hand data over.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

from awsiot.greengrasscoreipc import model
from awsiot.greengrasscoreipc.clientv2 import GreengrassCoreIPCClientV2

from edgewatch_shared.component_ipc import ComponentIpc, close_stream_quietly
from edgewatch_shared.ipc_connection import IpcConnection

logger = logging.getLogger(__name__)

IotHandler = Callable[[str, bytes], None]


class DashboardIpc(ComponentIpc):
    stream_label = "dashboard IPC stream"

    def __init__(self, connection_factory: Callable[..., IpcConnection] = IpcConnection) -> None:
        self._iot_lock = threading.Lock()
        self._iot_filters: tuple[str, ...] = ()
        self._iot_handler: IotHandler | None = None
        self._iot_streams: dict[str, Any] = {}
        super().__init__(connection_factory)

    def set_iot_core_subscriptions(self, filters: Iterable[str], handler: IotHandler) -> None:
        """Subscribe to exactly these IoT Core topic filters (none: close them); re-opened on every connect."""
        with self._iot_lock:
            self._iot_filters, self._iot_handler = tuple(filters), handler
        client = self._connection.client
        if client is not None:
            self._sync_iot_streams(client)

    def _open_streams(self, client: GreengrassCoreIPCClientV2) -> None:
        with self._iot_lock:
            self._iot_streams = {}  # gone with the old connection
        super()._open_streams(client)
        self._sync_iot_streams(client)

    def _sync_iot_streams(self, client: GreengrassCoreIPCClientV2) -> None:
        with self._iot_lock:
            wanted, handler = self._iot_filters, self._iot_handler
            for old in [f for f in self._iot_streams if f not in wanted]:
                close_stream_quietly(self._iot_streams.pop(old))
            missing = [f for f in wanted if f not in self._iot_streams]
        if handler is None:
            return
        for topic_filter in missing:

            def on_event(event: model.IoTCoreMessage, handler: IotHandler = handler) -> None:
                if event.message is not None:
                    handler(event.message.topic_name or "", bytes(event.message.payload or b""))

            try:
                _, operation = client.subscribe_to_iot_core(topic_name=topic_filter, qos=model.QOS.AT_LEAST_ONCE,
                                                            on_stream_event=on_event, on_stream_error=self._keep_open)
            except Exception as err:
                self._failed(client, err)
                logger.error("could not subscribe to IoT Core %s: %s", topic_filter, err)
                continue
            with self._iot_lock:
                self._iot_streams[topic_filter] = operation
            logger.info("subscribed to IoT Core %s", topic_filter)

    def close(self) -> None:
        with self._iot_lock:
            streams, self._iot_streams = list(self._iot_streams.values()), {}
        for operation in streams:
            close_stream_quietly(operation)
        super().close()
