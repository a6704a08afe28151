"""PublishToIoTCore / SubscribeToIoTCore: an embedded AWS IoT Core loopback, or a bridge to a broker.

By default (no uplink) what components publish is delivered to matching IoT Core subscribers
locally. With an uplink (`MqttUplink`, MQTT5 over mutual TLS) it goes to the broker, and what the
broker sends on subscribed filters comes back to the subscribers. Either way every publish is
appended to a JSON Lines log under the runtime root, so tests and people can see what went to
"the cloud". `fail_publishes` simulates a lost uplink (PublishToIoTCore then fails as the nucleus
does when it cannot publish).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgewatch.local.access_control import MQTTPROXY
from edgewatch.local.ipc_errors import InvalidArgumentsError, ServiceError
from edgewatch.local.ipc_protocol import NAMESPACE, dumps
from edgewatch.local.ipc_server import IpcServer, Stream, b64decode_field, b64encode
from edgewatch.local.mqtt_uplink import MqttUplink
from edgewatch.local.state_files import append_private_record, private_dir
from edgewatch.local.topics import has_wildcard, mqtt_match, valid_filter

log = logging.getLogger(__name__)

MAX_PAYLOAD_BYTES = 128 * 1024
MAX_TOPIC_BYTES = 256
MAX_TOPIC_SLASHES = 7
LOG_ROTATE_BYTES = 64 * 1024 * 1024
QOS_VALUES = {"0": 0, "1": 1, 0: 0, 1: 1, "AT_MOST_ONCE": 0, "AT_LEAST_ONCE": 1}


def check_publish_topic(topic: Any) -> str:
    if not isinstance(topic, str) or not topic:
        raise InvalidArgumentsError("topicName is required")
    if has_wildcard(topic) or "*" in topic:
        raise InvalidArgumentsError(f"Invalid topic: wildcards are not allowed when publishing: {topic}")
    if len(topic.encode()) > MAX_TOPIC_BYTES:
        raise InvalidArgumentsError(f"topic is {len(topic.encode())} bytes; AWS IoT Core allows {MAX_TOPIC_BYTES}")
    if not topic.startswith("$aws/") and topic.count("/") > MAX_TOPIC_SLASHES:
        raise InvalidArgumentsError(f"topic has {topic.count('/')} slashes; AWS IoT Core allows {MAX_TOPIC_SLASHES}")
    return topic


@dataclass(slots=True, eq=False)
class IotSubscription:
    topic_filter: str
    stream: Stream


class MessageLog:
    """Append-only JSON Lines record of what reached IoT Core, rotated at a size bound."""

    def __init__(self, path: Path, rotate_bytes: int = LOG_ROTATE_BYTES) -> None:
        self.path = path
        self.rotate_bytes = rotate_bytes
        self._lock = threading.Lock()
        private_dir(path.parent)

    def append(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, separators=(",", ":")) + "\n"
        with self._lock:
            try:
                if self.path.exists() and self.path.stat().st_size > self.rotate_bytes:
                    os.replace(self.path, self.path.with_suffix(self.path.suffix + ".1"))
                append_private_record(self.path, line.encode("utf-8"))
            except OSError as exc:  # a full disk must not fail the publish itself
                log.error("cannot append to IoT Core log %s: %s", self.path, exc)

    def read(self) -> list[dict[str, Any]]:
        return read_records(self.path)


def read_records(path: Path) -> list[dict[str, Any]]:
    """The whole records of a JSON Lines log; the last line may be still being written (or cut by a
    crash), so only lines that end are read."""
    if not path.exists():
        return []
    text = path.read_text(encoding="utf-8", errors="replace")
    return [json.loads(line) for line in text[: text.rfind("\n") + 1].splitlines() if line.strip()]


def log_record(topic: str, payload: bytes, qos: int, publisher: str, retain: bool) -> dict[str, Any]:
    record: dict[str, Any] = {"ts": int(time.time() * 1000), "topic": topic, "qos": qos, "from": publisher}
    if retain:
        record["retain"] = True
    try:
        record["payload"] = payload.decode("utf-8")
    except UnicodeDecodeError:
        record["payloadBase64"] = b64encode(payload)
    return record


class IotCoreService:
    """Stands in for the nucleus's IoT Core connection: loopback, or bridged through `uplink`."""

    def __init__(self, log_path: Path, uplink: MqttUplink | None = None) -> None:
        self.log = MessageLog(log_path)
        self.uplink = uplink
        self.subscriptions: list[IotSubscription] = []
        self.fail_publishes: str | None = None
        self.published = 0

    def install(self, server: IpcServer) -> None:
        server.register("PublishToIoTCore", self.handle_publish)
        server.register("SubscribeToIoTCore", self.handle_subscribe, NAMESPACE + "IoTCoreMessage")

    def handle_publish(self, stream: Stream, request: dict[str, Any]) -> dict[str, Any]:
        topic = check_publish_topic(request.get("topicName"))
        qos = QOS_VALUES.get(request.get("qos", "0"))
        if qos is None:
            raise InvalidArgumentsError(f"invalid qos: {request.get('qos')!r}")
        payload = b64decode_field(request, "payload")
        if len(payload) > MAX_PAYLOAD_BYTES:
            raise InvalidArgumentsError(
                f"payload is {len(payload)} bytes; AWS IoT Core allows {MAX_PAYLOAD_BYTES}"
            )
        stream.principal.authorize(MQTTPROXY, "PublishToIoTCore", topic)
        if self.fail_publishes is not None:
            raise ServiceError(f"Failed to publish to IoT Core: {self.fail_publishes}")
        retain = bool(request.get("retain"))
        if self.uplink is None:
            self.deliver(topic, payload, qos, stream.principal.name, retain)
            return {}
        return self._publish_uplink(self.uplink, topic, payload, qos, stream.principal.name, retain)

    async def _publish_uplink(self, uplink: MqttUplink, topic: str, payload: bytes, qos: int, publisher: str,
                              retain: bool) -> dict[str, Any]:
        try:
            await uplink.publish(topic, payload, qos, retain)
        except Exception as exc:  # what the broker or the connection said, as the nucleus reports it
            raise ServiceError(f"Failed to publish to IoT Core: {exc}") from None
        self.published += 1
        self.log.append(log_record(topic, payload, qos, publisher, retain))
        return {}

    def handle_subscribe(self, stream: Stream, request: dict[str, Any]) -> dict[str, Any]:
        topic_filter = request.get("topicName")
        if not isinstance(topic_filter, str) or not valid_filter(topic_filter):
            raise InvalidArgumentsError(f"invalid topic filter: {topic_filter!r}")
        if QOS_VALUES.get(request.get("qos", "0")) is None:
            raise InvalidArgumentsError(f"invalid qos: {request.get('qos')!r}")
        stream.principal.authorize(MQTTPROXY, "SubscribeToIoTCore", topic_filter)
        sub = IotSubscription(topic_filter, stream)
        self.subscriptions.append(sub)
        stream.on_close.append(lambda: self._unsubscribe(sub))
        if self.uplink is None:
            return {}
        return self._subscribe_uplink(self.uplink, topic_filter)

    async def _subscribe_uplink(self, uplink: MqttUplink, topic_filter: str) -> dict[str, Any]:
        try:
            await uplink.subscribe(topic_filter)
        except Exception as exc:
            raise ServiceError(f"Failed to subscribe to {topic_filter} on IoT Core: {exc}") from None
        return {}

    def _unsubscribe(self, sub: IotSubscription) -> None:
        self.subscriptions.remove(sub)
        if self.uplink is not None:
            self.uplink.unsubscribe(sub.topic_filter)

    def received(self, topic: str, payload: bytes, retain: bool = False) -> int:
        """A message from the broker: hand it to the matching local subscribers."""
        matching = [s for s in self.subscriptions if mqtt_match(s.topic_filter, topic)]
        event = dumps({"message": {"topicName": topic, "payload": b64encode(payload), "retain": retain}})
        return sum(s.stream.send_event(event) for s in matching)

    def deliver(self, topic: str, payload: bytes, qos: int, publisher: str, retain: bool = False) -> int:
        """Record a message as received by IoT Core and hand it to matching subscribers."""
        self.published += 1
        self.log.append(log_record(topic, payload, qos, publisher, retain))
        return self.received(topic, payload, retain)
