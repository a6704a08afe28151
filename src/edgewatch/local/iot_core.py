"""PublishToIoTCore / SubscribeToIoTCore, with an embedded AWS IoT Core loopback by default.

The loopback delivers what components publish to matching IoT Core subscribers and appends every
publish to a JSON Lines log under the runtime root, so tests and people can see what "the cloud"
received. `fail_publishes` simulates a lost uplink (PublishToIoTCore then fails as the nucleus
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
        path.parent.mkdir(parents=True, exist_ok=True)

    def append(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, separators=(",", ":")) + "\n"
        with self._lock:
            try:
                if self.path.exists() and self.path.stat().st_size > self.rotate_bytes:
                    os.replace(self.path, self.path.with_suffix(self.path.suffix + ".1"))
                with self.path.open("a", encoding="utf-8") as handle:
                    handle.write(line)
            except OSError as exc:  # a full disk must not fail the publish itself
                log.error("cannot append to IoT Core log %s: %s", self.path, exc)

    def read(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        with self.path.open(encoding="utf-8") as handle:
            return [json.loads(line) for line in handle if line.strip()]


def log_record(topic: str, payload: bytes, qos: int, publisher: str, retain: bool) -> dict[str, Any]:
    record: dict[str, Any] = {"ts": int(time.time() * 1000), "topic": topic, "qos": qos, "from": publisher}
    if retain:
        record["retain"] = True
    try:
        record["payload"] = payload.decode("utf-8")
    except UnicodeDecodeError:
        record["payloadBase64"] = b64encode(payload)
    return record


class IotCoreLoopback:
    """Stands in for AWS IoT Core: local delivery plus an inspectable message log."""

    def __init__(self, log_path: Path) -> None:
        self.log = MessageLog(log_path)
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
        self.deliver(topic, payload, qos, stream.principal.name, bool(request.get("retain")))
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
        stream.on_close.append(lambda: self.subscriptions.remove(sub))
        return {}

    def deliver(self, topic: str, payload: bytes, qos: int, publisher: str, retain: bool = False) -> int:
        """Record a message as received by IoT Core and hand it to matching subscribers."""
        self.published += 1
        self.log.append(log_record(topic, payload, qos, publisher, retain))
        matching = [s for s in self.subscriptions if mqtt_match(s.topic_filter, topic)]
        if not matching:
            return 0
        event = dumps({"message": {"topicName": topic, "payload": b64encode(payload), "retain": retain}})
        return sum(s.stream.send_event(event) for s in matching)
