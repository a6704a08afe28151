"""The router's only contact with Greengrass IPC: a thin adapter over GreengrassCoreIPCClientV2.

On every (re)connect it re-opens its streams: the metrics and silences topics and the two
configuration streams. Handlers run on the client's thread pool, so they only hand data over.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

from awsiot.greengrasscoreipc import model
from awsiot.greengrasscoreipc.clientv2 import GreengrassCoreIPCClientV2

from edgewatch_shared.config_lifecycle import answer_validation
from edgewatch_shared.ipc_connection import IpcConnection

logger = logging.getLogger(__name__)

PUBLISH_TIMEOUT_SECONDS = 10.0
CONFIG_TIMEOUT_SECONDS = 10.0

Validator = Callable[[Mapping[str, Any] | None], str | None]


class IpcUnavailableError(ConnectionError):
    """There is no IPC connection right now (reconnect pending its backoff)."""


def decode_message(event: model.SubscriptionResponseMessage) -> Any:
    """The JSON document of a pub/sub event (JSON or binary message); raises ValueError otherwise."""
    if event.json_message is not None:
        return event.json_message.message
    if event.binary_message is not None:
        return json.loads(event.binary_message.message or b"")
    raise ValueError("empty pub/sub message")


class RouterIpc:
    def __init__(self, connection_factory: Callable[..., IpcConnection] = IpcConnection) -> None:
        self._lock = threading.Lock()
        self._topics: dict[str, Callable[[Any], None]] = {}
        self._topic_streams: dict[str, Any] = {}
        self._config_streams: list[Any] = []
        self._on_config_changed: Callable[[], None] | None = None
        self._validate: Validator | None = None
        self._connection = connection_factory(on_connected=self._open_streams)

    # -- set-up (before the first call that connects)
    def watch_configuration(self, on_changed: Callable[[], None], validate: Validator) -> None:
        self._on_config_changed = on_changed
        self._validate = validate

    def set_subscriptions(self, handlers: Mapping[str, Callable[[Any], None]]) -> None:
        """Topic -> handler(document or exception); re-subscribes at once if connected."""
        with self._lock:
            self._topics = dict(handlers)
        client = self._connection.client
        if client is not None:
            self._sync_topic_streams(client)

    def connect(self) -> bool:
        return self._connection.ensure_connected() is not None

    # -- calls
    def _client(self) -> GreengrassCoreIPCClientV2:
        client = self._connection.ensure_connected()
        if client is None:
            raise IpcUnavailableError("not connected to the Greengrass nucleus")
        return client

    def _failed(self, client: GreengrassCoreIPCClientV2, err: BaseException) -> None:
        if not isinstance(err, model.GreengrassCoreIPCError):
            self._connection.mark_broken(client)

    def publish_local(self, topic: str, message: dict[str, Any]) -> None:
        client = self._client()
        try:
            client.publish_to_topic_async(
                topic=topic, publish_message=model.PublishMessage(json_message=model.JsonMessage(message=message))
            ).result(PUBLISH_TIMEOUT_SECONDS)
        except Exception as err:
            self._failed(client, err)
            raise

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

    def get_configuration(self) -> dict[str, Any]:
        client = self._client()
        try:
            response = client.get_configuration_async(key_path=[]).result(CONFIG_TIMEOUT_SECONDS)
        except Exception as err:
            self._failed(client, err)
            raise
        return dict(response.value or {})

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
        self._config_streams = []
        with self._lock:
            self._topic_streams = {}
        if self._validate is not None:
            _, operation = client.subscribe_to_validate_configuration_updates(
                on_stream_event=lambda event: self._on_validate(client, event), on_stream_error=_keep_open
            )
            self._config_streams.append(operation)
        if self._on_config_changed is not None:
            _, operation = client.subscribe_to_configuration_update(
                key_path=[], on_stream_event=lambda _event: self._config_changed(), on_stream_error=_keep_open
            )
            self._config_streams.append(operation)
            self._config_changed()  # whatever changed while we were disconnected
        self._sync_topic_streams(client)

    def _sync_topic_streams(self, client: GreengrassCoreIPCClientV2) -> None:
        with self._lock:
            wanted = dict(self._topics)
            for topic in [t for t in self._topic_streams if t not in wanted]:
                _close_quietly(self._topic_streams.pop(topic))
            missing = [t for t in wanted if t not in self._topic_streams]
        for topic in missing:
            handler = wanted[topic]

            def on_event(event: model.SubscriptionResponseMessage, handler: Callable[[Any], None] = handler) -> None:
                try:
                    doc: Any = decode_message(event)
                except ValueError as err:
                    doc = err
                handler(doc)

            _, operation = client.subscribe_to_topic(topic=topic, on_stream_event=on_event, on_stream_error=_keep_open)
            with self._lock:
                self._topic_streams[topic] = operation
            logger.info("subscribed to %s", topic)

    def _config_changed(self) -> None:
        if self._on_config_changed is not None:
            self._on_config_changed()

    def _on_validate(self, client: GreengrassCoreIPCClientV2, event: model.ValidateConfigurationUpdateEvents) -> None:
        answer_validation(client, event, self._validate)

    def close(self) -> None:
        with self._lock:
            streams = [*self._topic_streams.values(), *self._config_streams]
            self._topic_streams, self._config_streams = {}, []
        for operation in streams:
            _close_quietly(operation)
        self._connection.close()


def _keep_open(error: Exception) -> bool:
    logger.warning("IPC stream error: %s", error)
    return False


def _close_quietly(operation: Any) -> None:
    try:
        operation.close()
    except Exception as err:  # the stream may already be gone with its connection
        logger.debug("closing stream: %s", err)
