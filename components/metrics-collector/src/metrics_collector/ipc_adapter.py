"""The collector's only contact with Greengrass IPC: a thin adapter over GreengrassCoreIPCClientV2.

It publishes to local pub/sub and to IoT Core, reads the configuration, and on every (re)connect
re-opens the two configuration streams. A call that fails because the connection is gone marks the
connection broken, and the next call reconnects (with backoff, see `IpcConnection`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from typing import Any

from awsiot.greengrasscoreipc import model
from awsiot.greengrasscoreipc.clientv2 import GreengrassCoreIPCClientV2

from edgewatch_shared.config_lifecycle import answer_validation
from edgewatch_shared.ipc_connection import IpcConnection

logger = logging.getLogger(__name__)

LOCAL_PUBLISH_TIMEOUT_SECONDS = 5.0
CONFIG_TIMEOUT_SECONDS = 10.0

Validator = Callable[[Mapping[str, Any] | None], str | None]


class IpcUnavailableError(ConnectionError):
    """There is no IPC connection right now (reconnect pending its backoff)."""


class CollectorIpc:
    def __init__(self, connection_factory: Callable[..., IpcConnection] = IpcConnection) -> None:
        self._on_config_changed: Callable[[], None] | None = None
        self._validate: Validator | None = None
        self._streams: list[Any] = []
        self._connection = connection_factory(on_connected=self._open_streams)

    def watch_configuration(self, on_changed: Callable[[], None], validate: Validator) -> None:
        """Call before the first IPC use: streams are opened on every connect."""
        self._on_config_changed = on_changed
        self._validate = validate

    def _client(self) -> GreengrassCoreIPCClientV2:
        client = self._connection.ensure_connected()
        if client is None:
            raise IpcUnavailableError("not connected to the Greengrass nucleus")
        return client

    def _failed(self, client: GreengrassCoreIPCClientV2, err: BaseException) -> None:
        # Model errors (unauthorized, bad arguments, service errors) come over a live connection;
        # anything else means the connection itself is unusable.
        if not isinstance(err, model.GreengrassCoreIPCError):
            self._connection.mark_broken(client)

    def connected(self) -> bool:
        return self._connection.client is not None

    def publish_local(self, topic: str, message: dict[str, Any]) -> None:
        client = self._client()
        try:
            client.publish_to_topic_async(
                topic=topic,
                publish_message=model.PublishMessage(json_message=model.JsonMessage(message=message)),
            ).result(LOCAL_PUBLISH_TIMEOUT_SECONDS)
        except Exception as err:
            self._failed(client, err)
            raise

    def publish_iot_core(self, topic: str, payload: bytes) -> Future[object]:
        """QoS 1 publish; the future completes when the nucleus has the message acknowledged."""
        client = self._client()
        future: Future[object] = client.publish_to_iot_core_async(
            topic_name=topic, qos=model.QOS.AT_LEAST_ONCE, payload=payload
        )
        future.add_done_callback(lambda f: self._failed(client, f.exception()) if f.exception() else None)
        return future

    def get_configuration(self) -> dict[str, Any]:
        client = self._client()
        try:
            response = client.get_configuration_async(key_path=[]).result(CONFIG_TIMEOUT_SECONDS)
        except Exception as err:
            self._failed(client, err)
            raise
        return dict(response.value or {})

    def _open_streams(self, client: GreengrassCoreIPCClientV2) -> None:
        self._streams = []
        if self._validate is not None:
            _, operation = client.subscribe_to_validate_configuration_updates(
                on_stream_event=lambda event: self._on_validate(client, event),
                on_stream_error=_keep_stream_open,
            )
            self._streams.append(operation)
        if self._on_config_changed is not None:
            _, operation = client.subscribe_to_configuration_update(
                key_path=[],
                on_stream_event=self._on_update,
                on_stream_error=_keep_stream_open,
            )
            self._streams.append(operation)
            # Anything that changed while we were disconnected would otherwise go unnoticed.
            self._on_config_changed()

    def _on_update(self, event: model.ConfigurationUpdateEvents) -> None:
        update = event.configuration_update_event
        logger.info("configuration changed at %s", update.key_path if update else "?")
        if self._on_config_changed is not None:
            self._on_config_changed()

    def _on_validate(self, client: GreengrassCoreIPCClientV2, event: model.ValidateConfigurationUpdateEvents) -> None:
        answer_validation(client, event, self._validate)

    def close(self) -> None:
        for operation in self._streams:
            try:
                operation.close()
            except Exception as err:  # the stream may already be gone with its connection
                logger.debug("closing stream: %s", err)
        self._streams = []
        self._connection.close()


def _keep_stream_open(error: Exception) -> bool:
    logger.warning("configuration stream error: %s", error)
    return False
