"""The dashboard's only contact with Greengrass IPC: `ComponentIpc` plus its four topic streams and
the password secret. Handlers run on the IPC client's thread pool, so they only hand data over.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from awsiot.greengrasscoreipc import model
from awsiot.greengrasscoreipc.clientv2 import GreengrassCoreIPCClientV2

from edgewatch_shared.component_ipc import CONFIG_TIMEOUT_SECONDS, ComponentIpc, close_stream_quietly
from edgewatch_shared.ipc_connection import IpcConnection

logger = logging.getLogger(__name__)

Handler = Callable[[Any], None]


def event_payload(event: model.SubscriptionResponseMessage) -> Any:
    """The decoded JSON of a JSON message, the raw bytes of a binary one (size-checked before parsing)."""
    if event.json_message is not None:
        return event.json_message.message
    if event.binary_message is not None:
        return bytes(event.binary_message.message or b"")
    return ValueError("empty pub/sub message")


class DashboardIpc(ComponentIpc):
    stream_label = "dashboard IPC stream"

    def __init__(self, connection_factory: Callable[..., IpcConnection] = IpcConnection) -> None:
        self._topics: dict[str, Handler] = {}
        self._topic_streams: dict[str, Any] = {}
        super().__init__(connection_factory)

    def set_subscriptions(self, handlers: Mapping[str, Handler]) -> None:
        """Topic -> handler(document, bytes or exception); re-subscribes at once if connected."""
        with self._lock:
            self._topics = dict(handlers)
        client = self._connection.client
        if client is not None:
            self._sync_topic_streams(client)

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

            def on_event(event: model.SubscriptionResponseMessage, handler: Handler = handler) -> None:
                handler(event_payload(event))

            try:
                _, operation = client.subscribe_to_topic(
                    topic=topic, on_stream_event=on_event, on_stream_error=self._keep_open
                )
            except Exception as err:
                self._failed(client, err)
                logger.error("could not subscribe to %s: %s", topic, err)
                continue
            with self._lock:
                self._topic_streams[topic] = operation
            logger.info("subscribed to %s", topic)

    def close(self) -> None:
        with self._lock:
            streams, self._topic_streams = list(self._topic_streams.values()), {}
        for operation in streams:
            close_stream_quietly(operation)
        super().close()
