"""A bridge from the runtime's IoT Core operations to a real MQTT broker over mutual TLS.

awscrt's MQTT5 client (through awsiotsdk's builder), as the nucleus uses for AWS IoT Core: the
client id is the thing name; QoS 1 publishes complete on PUBACK. Works against AWS IoT Core itself
or any broker with client-certificate authentication (Mosquitto in the tests).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)


class UplinkError(Exception):
    pass


@dataclass(frozen=True)
class MqttEndpoint:
    host: str
    port: int
    cert: Path
    key: Path
    ca: Path | None = None

    @classmethod
    def parse(cls, endpoint: str, cert: Path, key: Path, ca: Path | None) -> MqttEndpoint:
        host, sep, port = endpoint.rpartition(":")
        if not sep or not port.isdigit():
            host, port = endpoint, "8883"
        for label, path in (("certificate", cert), ("private key", key), ("CA", ca)):
            if path is not None and not Path(path).is_file():
                raise UplinkError(f"MQTT {label} file not found: {path}")
        return cls(host, int(port), Path(cert), Path(key), Path(ca) if ca else None)


class MqttUplink:
    """Connects once, reconnects by itself (awscrt), hands received messages to `on_message`."""

    def __init__(self, endpoint: MqttEndpoint, client_id: str,
                 on_message: Callable[[str, bytes, bool], None]) -> None:
        from awscrt import mqtt5
        from awsiot import mqtt5_client_builder

        self.endpoint = endpoint
        self._mqtt5 = mqtt5
        self._on_message = on_message
        self._connected = threading.Event()
        self._subscriptions: dict[str, int] = {}  # filter -> local subscriber count
        self._client = mqtt5_client_builder.mtls_from_path(
            endpoint=endpoint.host, port=endpoint.port, cert_filepath=str(endpoint.cert),
            pri_key_filepath=str(endpoint.key), ca_filepath=str(endpoint.ca) if endpoint.ca else None,
            client_id=client_id, clean_start=True,
            on_publish_received=self._received,
            on_lifecycle_connection_success=lambda _: self._on_connected(),
            on_lifecycle_connection_failure=lambda data: log.warning(
                "MQTT connection to %s:%d failed: %s", endpoint.host, endpoint.port, data.exception),
            on_lifecycle_disconnection=lambda data: self._on_disconnected(data.exception),
        )

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def start(self) -> None:
        """Begin connecting (awscrt keeps retrying with backoff); the runtime does not wait for the
        cloud, as a nucleus starts offline too. Publishes fail until the connection is up."""
        self._client.start()

    def stop(self) -> None:
        self._client.stop()

    def _on_connected(self) -> None:
        log.info("connected to MQTT broker %s:%d", self.endpoint.host, self.endpoint.port)
        self._connected.set()
        for topic_filter in list(self._subscriptions):  # a clean session forgets them
            self._subscribe_remote(topic_filter)

    def _on_disconnected(self, error: Exception | None) -> None:
        self._connected.clear()
        log.warning("disconnected from MQTT broker %s:%d: %s", self.endpoint.host, self.endpoint.port, error)

    def _received(self, data: object) -> None:
        packet = data.publish_packet  # type: ignore[attr-defined]
        self._on_message(packet.topic, bytes(packet.payload or b""), bool(packet.retain))

    async def publish(self, topic: str, payload: bytes, qos: int, retain: bool) -> None:
        if not self.connected:
            raise UplinkError(f"not connected to {self.endpoint.host}:{self.endpoint.port}")
        mqtt5 = self._mqtt5
        packet = mqtt5.PublishPacket(topic=topic, payload=payload, retain=retain,
                                     qos=mqtt5.QoS.AT_LEAST_ONCE if qos else mqtt5.QoS.AT_MOST_ONCE)
        future: concurrent.futures.Future = self._client.publish(packet)
        result = await asyncio.wrap_future(future)
        puback = getattr(result, "puback", None)
        if puback is not None and int(puback.reason_code) >= 0x80:
            raise UplinkError(f"broker refused the publish to {topic}: {puback.reason_code!r}")

    async def subscribe(self, topic_filter: str) -> None:
        count = self._subscriptions.get(topic_filter, 0)
        self._subscriptions[topic_filter] = count + 1
        if count == 0 and self.connected:
            await asyncio.wrap_future(self._subscribe_remote(topic_filter))

    def unsubscribe(self, topic_filter: str) -> None:
        count = self._subscriptions.get(topic_filter, 0) - 1
        if count > 0:
            self._subscriptions[topic_filter] = count
            return
        self._subscriptions.pop(topic_filter, None)
        if self.connected:
            self._client.unsubscribe(self._mqtt5.UnsubscribePacket(topic_filters=[topic_filter]))

    def _subscribe_remote(self, topic_filter: str) -> concurrent.futures.Future:
        mqtt5 = self._mqtt5
        return self._client.subscribe(mqtt5.SubscribePacket(
            subscriptions=[mqtt5.Subscription(topic_filter=topic_filter, qos=mqtt5.QoS.AT_LEAST_ONCE)]))
