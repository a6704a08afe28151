"""The router's only contact with Greengrass IPC: `ComponentIpc` plus topics, IoT Core and secrets.

Local publish, configuration reads and the configuration streams come from
`edgewatch_shared.component_ipc`. On every (re)connect the router also re-opens its metrics and
silences topic streams and, on a hub, its IoT Core input streams (SubscribeToIoTCore, QoS 1).
Handlers run on the client's thread pool, so they only hand data over.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

from awsiot.greengrasscoreipc import model
from awsiot.greengrasscoreipc.clientv2 import GreengrassCoreIPCClientV2

from edgewatch_shared.component_ipc import ComponentIpc, close_stream_quietly
from edgewatch_shared.ipc_connection import IpcConnection

logger = logging.getLogger(__name__)

PUBLISH_TIMEOUT_SECONDS = 10.0

IotHandler = Callable[[str, Any], None]  # (topic, the JSON document or the ValueError saying why not)


def decode_message(event: model.SubscriptionResponseMessage, max_bytes: int | None = None) -> Any:
    """The JSON document of a pub/sub event (JSON or binary message); raises ValueError otherwise.
    A binary message longer than `max_bytes` is refused before it is parsed."""
    if event.json_message is not None:
        return event.json_message.message
    if event.binary_message is not None:
        raw = event.binary_message.message or b""
        if max_bytes is not None and len(raw) > max_bytes:
            raise ValueError(f"message of {len(raw)} bytes is larger than maxMessageBytes ({max_bytes}); not parsed")
        try:
            return json.loads(raw)
        except RecursionError:
            raise ValueError("message nested too deeply to parse") from None
    raise ValueError("empty pub/sub message")


class RouterIpc(ComponentIpc):
    stream_label = "IPC stream"
    local_publish_timeout = PUBLISH_TIMEOUT_SECONDS

    def __init__(self, connection_factory: Callable[..., IpcConnection] = IpcConnection) -> None:
        self.max_message_bytes: int | None = None  # binary messages beyond this are refused unparsed
        self._iot_lock = threading.Lock()
        self._iot_filters: tuple[str, ...] = ()
        self._iot_handler: IotHandler | None = None
        self._iot_streams: dict[str, Any] = {}
        super().__init__(connection_factory)

    # -- IoT Core inputs (a hub)
    def set_iot_core_subscriptions(self, filters: Iterable[str], handler: IotHandler) -> None:
        """Subscribe to these IoT Core topic filters (and only these); re-opened on every connect."""
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

    def decode_iot(self, payload: bytes) -> Any:
        if self.max_message_bytes is not None and len(payload) > self.max_message_bytes:
            return ValueError(f"message of {len(payload)} bytes is larger than maxMessageBytes; not parsed")
        try:
            return json.loads(payload)
        except (ValueError, RecursionError) as err:
            return ValueError(f"not JSON: {type(err).__name__}")

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
                message = event.message
                if message is None:
                    return
                handler(message.topic_name or "", self.decode_iot(bytes(message.payload or b"")))

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

    def decode_event(self, event: model.SubscriptionResponseMessage) -> Any:
        """The JSON document, or the ValueError saying why there is none (handlers count it)."""
        try:
            return decode_message(event, self.max_message_bytes)
        except ValueError as err:
            return err

    # -- calls
    def publish_iot_core(self, topic: str, payload: bytes) -> None:
        """QoS 1: returns once the nucleus has accepted the message for IoT Core."""
        client = self._client()
        try:
            client.publish_to_iot_core_async(
                topic_name=topic, qos=model.QOS.AT_LEAST_ONCE, payload=payload
            ).result(PUBLISH_TIMEOUT_SECONDS)
        except Exception as err:
            self._failed(client, err)
            raise
