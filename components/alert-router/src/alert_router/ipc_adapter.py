"""The router's only contact with Greengrass IPC: `ComponentIpc` plus topics, IoT Core and secrets.

Local publish, configuration reads and the configuration streams come from
`edgewatch_shared.component_ipc`. On every (re)connect the router also re-opens its metrics and
silences topic streams. Handlers run on the client's thread pool, so they only hand data over.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

from awsiot.greengrasscoreipc import model
from awsiot.greengrasscoreipc.clientv2 import GreengrassCoreIPCClientV2

from edgewatch_shared.component_ipc import CONFIG_TIMEOUT_SECONDS, ComponentIpc, close_stream_quietly
from edgewatch_shared.ipc_connection import IpcConnection

logger = logging.getLogger(__name__)

PUBLISH_TIMEOUT_SECONDS = 10.0


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
        self._topics: dict[str, Callable[[Any], None]] = {}
        self._topic_streams: dict[str, Any] = {}
        super().__init__(connection_factory)

    # -- set-up (before the first call that connects)
    def set_subscriptions(self, handlers: Mapping[str, Callable[[Any], None]]) -> None:
        """Topic -> handler(document or exception); re-subscribes at once if connected."""
        with self._lock:
            self._topics = dict(handlers)
        client = self._connection.client
        if client is not None:
            self._sync_topic_streams(client)

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

    def get_secret_value(self, arn: str) -> str:
        client = self._client()
        try:
            response = client.get_secret_value_async(secret_id=arn).result(CONFIG_TIMEOUT_SECONDS)
        except Exception as err:
            self._failed(client, err)
            raise
        value = response.secret_value
        if value is None:
            raise ValueError(f"secret {arn} has no value")
        if value.secret_string is not None:
            return value.secret_string
        return (value.secret_binary or b"").decode()

    # -- streams
    def _open_streams(self, client: GreengrassCoreIPCClientV2) -> None:
        with self._lock:
            self._topic_streams = {}  # the old connection took them along
        super()._open_streams(client)
        self._sync_topic_streams(client)

    def _sync_topic_streams(self, client: GreengrassCoreIPCClientV2) -> None:
        with self._lock:
            wanted = dict(self._topics)
            for topic in [t for t in self._topic_streams if t not in wanted]:
                close_stream_quietly(self._topic_streams.pop(topic))
            missing = [t for t in wanted if t not in self._topic_streams]
        for topic in missing:
            handler = wanted[topic]

            def on_event(event: model.SubscriptionResponseMessage, handler: Callable[[Any], None] = handler) -> None:
                try:
                    doc: Any = decode_message(event, self.max_message_bytes)
                except ValueError as err:
                    doc = err
                handler(doc)

            _, operation = client.subscribe_to_topic(
                topic=topic, on_stream_event=on_event, on_stream_error=self._keep_open
            )
            with self._lock:
                self._topic_streams[topic] = operation
            logger.info("subscribed to %s", topic)

    def close(self) -> None:
        with self._lock:
            streams, self._topic_streams = list(self._topic_streams.values()), {}
        for operation in streams:
            close_stream_quietly(operation)
        super().close()  # the configuration streams, then the connection
