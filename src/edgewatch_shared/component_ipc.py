"""What every component's IPC adapter does: a thin layer over GreengrassCoreIPCClientV2.

It publishes to local pub/sub, reads the configuration, and on every (re)connect re-opens the two
configuration streams (streams do not survive a lost connection). A call that fails because the
connection is gone marks the connection broken, and the next call reconnects (with backoff, see
`IpcClientConnection`). Components extend `ComponentIpc` with only what is theirs (IoT Core, topics, secrets).

When the nucleus keeps refusing the component's SVCUID (it restarted and runs a newer copy), the
connection gives up: `orphaned` is set and the `on_orphaned` callbacks run, so `main()` can stop
and exit with `ipc_connection.EXIT_ACCESS_DENIED` instead of living on as an orphan.

Topic subscriptions are kept here too, local (`set_subscriptions`) and IoT Core topic filters
(`set_iot_core_subscriptions`, QoS 1): one stream each, re-opened on every connect; a subclass says
how a message becomes what its handlers get (`decode_event`, `decode_iot`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar

from awsiot.greengrasscoreipc import model
from awsiot.greengrasscoreipc.clientv2 import GreengrassCoreIPCClientV2

from edgewatch_shared.config_lifecycle import answer_validation
from edgewatch_shared.ipc_connection import IpcClientConnection

logger = logging.getLogger(__name__)

CONFIG_TIMEOUT_SECONDS = 10.0

Validator = Callable[[Mapping[str, Any] | None], str | None]
Handler = Callable[[Any], None]
IotHandler = Callable[[str, Any], None]  # (topic, what `decode_iot` made of the payload)


class IpcUnavailableError(ConnectionError):
    """There is no IPC connection right now (reconnect pending its backoff)."""


class ComponentIpc:
    # Subclasses keep their own wording and timeouts: operators grep component logs for these lines.
    stream_label: ClassVar[str] = "IPC stream"
    local_publish_timeout: ClassVar[float] = 10.0

    def __init__(self, connection_factory: Callable[..., IpcClientConnection] = IpcClientConnection) -> None:
        self._lock = threading.Lock()
        self._config_streams: list[Any] = []
        self._on_config_changed: Callable[[], None] | None = None
        self._validate: Validator | None = None
        self.orphaned = threading.Event()
        self._orphan_handlers: list[Callable[[str], None]] = []
        self._topics: dict[str, Handler] = {}
        self._topic_streams: dict[str, Any] = {}
        self._iot_filters: tuple[str, ...] = ()
        self._iot_handler: IotHandler | None = None
        self._iot_streams: dict[str, Any] = {}
        self._connection = connection_factory(on_connected=self._open_streams)
        # Factories in tests may build their own IpcClientConnection; the hook goes on whatever they return.
        set_on_give_up = getattr(self._connection, "set_on_give_up", None)
        if set_on_give_up is not None:
            set_on_give_up(self._gave_up)

    def on_orphaned(self, callback: Callable[[str], None]) -> None:
        """`callback(reason)` runs (on the thread that noticed) once the nucleus refused this process for good."""
        self._orphan_handlers.append(callback)

    def _gave_up(self, reason: str) -> None:
        self.orphaned.set()
        for callback in list(self._orphan_handlers):
            try:
                callback(reason)
            except Exception:
                logger.exception("orphan handler failed")

    def watch_configuration(self, on_changed: Callable[[], None], validate: Validator) -> None:
        """Call before the first IPC use: streams are opened on every connect."""
        self._on_config_changed = on_changed
        self._validate = validate

    def connect(self) -> bool:
        return self._connection.ensure_connected() is not None

    def connected(self) -> bool:
        return self._connection.client is not None

    # -- calls
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

    def publish_local(self, topic: str, message: dict[str, Any]) -> None:
        self._publish_local(topic, model.PublishMessage(json_message=model.JsonMessage(message=message)))

    def publish_local_bytes(self, topic: str, payload: bytes) -> None:
        """A binary message: for JSON the caller already encoded (subscribers json.loads it)."""
        self._publish_local(topic, model.PublishMessage(binary_message=model.BinaryMessage(message=payload)))

    def _publish_local(self, topic: str, message: model.PublishMessage) -> None:
        client = self._client()
        try:
            client.publish_to_topic_async(topic=topic, publish_message=message).result(self.local_publish_timeout)
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

    def get_configuration(self) -> dict[str, Any]:
        client = self._client()
        try:
            response = client.get_configuration_async(key_path=[]).result(CONFIG_TIMEOUT_SECONDS)
        except Exception as err:
            self._failed(client, err)
            raise
        return dict(response.value or {})

    # -- topic streams
    def set_subscriptions(self, handlers: Mapping[str, Handler]) -> None:
        """Topic -> handler(what `decode_event` made of the message); re-subscribes at once if connected."""
        with self._lock:
            self._topics = dict(handlers)
        client = self._connection.client
        if client is not None:
            self._sync_topic_streams(client)

    def decode_event(self, event: model.SubscriptionResponseMessage) -> Any:
        """What a handler receives for `event`; subclasses decide (a document, bytes, or an exception)."""
        if event.json_message is not None:
            return event.json_message.message
        if event.binary_message is not None:
            return bytes(event.binary_message.message or b"")
        return ValueError("empty pub/sub message")

    def _sync_topic_streams(self, client: GreengrassCoreIPCClientV2) -> None:
        with self._lock:
            wanted = dict(self._topics)
            for topic in [t for t in self._topic_streams if t not in wanted]:
                close_stream_quietly(self._topic_streams.pop(topic))
            missing = [t for t in wanted if t not in self._topic_streams]
        for topic in missing:
            handler = wanted[topic]

            def on_event(event: model.SubscriptionResponseMessage, handler: Handler = handler) -> None:
                handler(self.decode_event(event))

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

    # -- IoT Core topic-filter streams (a hub)
    def set_iot_core_subscriptions(self, filters: Iterable[str], handler: IotHandler) -> None:
        """Subscribe to exactly these IoT Core topic filters (none: close them); re-opened on every connect."""
        with self._lock:
            self._iot_filters, self._iot_handler = tuple(filters), handler
        client = self._connection.client
        if client is not None:
            self._sync_iot_streams(client)

    def decode_iot(self, payload: bytes) -> Any:
        """What an IoT Core handler receives for `payload`; the raw bytes unless a subclass decides."""
        return payload

    def _sync_iot_streams(self, client: GreengrassCoreIPCClientV2) -> None:
        with self._lock:
            wanted, handler = self._iot_filters, self._iot_handler
            for old in [f for f in self._iot_streams if f not in wanted]:
                close_stream_quietly(self._iot_streams.pop(old))
            missing = [f for f in wanted if f not in self._iot_streams]
        if handler is None:
            return
        for topic_filter in missing:

            def on_event(event: model.IoTCoreMessage, handler: IotHandler = handler) -> None:
                if event.message is not None:
                    handler(event.message.topic_name or "", self.decode_iot(bytes(event.message.payload or b"")))

            try:
                _, operation = client.subscribe_to_iot_core(topic_name=topic_filter, qos=model.QOS.AT_LEAST_ONCE,
                                                            on_stream_event=on_event, on_stream_error=self._keep_open)
            except Exception as err:
                self._failed(client, err)
                logger.error("could not subscribe to IoT Core %s: %s", topic_filter, err)
                continue
            with self._lock:
                self._iot_streams[topic_filter] = operation
            logger.info("subscribed to IoT Core %s", topic_filter)

    # -- streams
    def _open_streams(self, client: GreengrassCoreIPCClientV2) -> None:
        """Runs on every connect (see `IpcClientConnection`); subclasses add their own streams around it."""
        with self._lock:
            self._config_streams = []
            self._topic_streams = {}  # the old connection took them along
            self._iot_streams = {}
        if self._validate is not None:
            _, operation = client.subscribe_to_validate_configuration_updates(
                on_stream_event=lambda event: self._on_validate(client, event), on_stream_error=self._keep_open
            )
            self._add_config_stream(operation)
        if self._on_config_changed is not None:
            _, operation = client.subscribe_to_configuration_update(
                key_path=[], on_stream_event=self._on_update, on_stream_error=self._keep_open
            )
            self._add_config_stream(operation)
            # Anything that changed while we were disconnected would otherwise go unnoticed.
            self._config_changed()
        self._sync_topic_streams(client)
        self._sync_iot_streams(client)

    def _add_config_stream(self, operation: Any) -> None:
        with self._lock:
            self._config_streams.append(operation)

    def _on_update(self, event: model.ConfigurationUpdateEvents) -> None:
        self._config_changed()

    def _config_changed(self) -> None:
        if self._on_config_changed is not None:
            self._on_config_changed()

    def _on_validate(self, client: GreengrassCoreIPCClientV2, event: model.ValidateConfigurationUpdateEvents) -> None:
        answer_validation(client, event, self._validate)

    def _keep_open(self, error: Exception) -> bool:
        # False keeps the stream: a bad event must not end the subscription.
        logger.warning("%s error: %s", self.stream_label, error)
        return False

    def close(self) -> None:
        with self._lock:
            streams = self._config_streams + list(self._topic_streams.values()) + list(self._iot_streams.values())
            self._config_streams, self._topic_streams, self._iot_streams = [], {}, {}
        for operation in streams:
            close_stream_quietly(operation)
        self._connection.close()


def close_stream_quietly(operation: Any) -> None:
    try:
        operation.close()
    except Exception as err:  # the stream may already be gone with its connection
        logger.debug("closing stream: %s", err)
