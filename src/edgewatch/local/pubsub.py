"""Local publish/subscribe (PublishToTopic, SubscribeToTopic) with the nucleus's semantics."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from edgewatch.local.access_control import PUBSUB
from edgewatch.local.ipc_errors import InvalidArgumentsError
from edgewatch.local.ipc_protocol import NAMESPACE, dumps
from edgewatch.local.ipc_server import IpcServer, Stream, b64decode_field
from edgewatch.local.topics import has_wildcard, mqtt_match, valid_filter

log = logging.getLogger(__name__)

RECEIVE_ALL = "RECEIVE_ALL_MESSAGES"
RECEIVE_FROM_OTHERS = "RECEIVE_MESSAGES_FROM_OTHERS"


@dataclass(slots=True, eq=False)
class Subscription:
    topic_filter: str
    from_others_only: bool
    stream: Stream


class LocalPubSub:
    def __init__(self) -> None:
        self._exact: dict[str, list[Subscription]] = {}
        self._wildcard: list[Subscription] = []

    def install(self, server: IpcServer) -> None:
        server.register("PublishToTopic", self.handle_publish)
        server.register("SubscribeToTopic", self.handle_subscribe, NAMESPACE + "SubscriptionResponseMessage")

    def subscriptions(self) -> list[Subscription]:
        return [s for subs in self._exact.values() for s in subs] + list(self._wildcard)

    # -- operations
    def handle_publish(self, stream: Stream, request: dict[str, Any]) -> dict[str, Any]:
        topic = request.get("topic")
        if not isinstance(topic, str) or not topic:
            raise InvalidArgumentsError("topic is required")
        if "+" in topic or "#" in topic or "*" in topic:
            raise InvalidArgumentsError(f"Invalid topic: wildcards are not allowed when publishing: {topic}")
        message = request.get("publishMessage")
        if not isinstance(message, dict) or not (
            isinstance(message.get("jsonMessage"), dict) or isinstance(message.get("binaryMessage"), dict)
        ):
            raise InvalidArgumentsError("publishMessage needs a jsonMessage or a binaryMessage")
        stream.principal.authorize(PUBSUB, "PublishToTopic", topic)
        if "jsonMessage" in message and isinstance(message["jsonMessage"], dict):
            event = {"jsonMessage": {"message": message["jsonMessage"].get("message"), "context": {"topic": topic}}}
        else:
            binary = message["binaryMessage"]
            b64decode_field(binary, "message")  # reject invalid base64 before fan-out
            event = {"binaryMessage": {"message": binary.get("message", ""), "context": {"topic": topic}}}
        self.publish(topic, dumps(event), stream.principal.name)
        return {}

    def handle_subscribe(self, stream: Stream, request: dict[str, Any]) -> dict[str, Any]:
        topic_filter = request.get("topic")
        if not isinstance(topic_filter, str) or not valid_filter(topic_filter):
            raise InvalidArgumentsError(f"invalid topic filter: {topic_filter!r}")
        mode = request.get("receiveMode")
        if mode is None:
            mode = RECEIVE_FROM_OTHERS if has_wildcard(topic_filter) else RECEIVE_ALL
        if mode not in (RECEIVE_ALL, RECEIVE_FROM_OTHERS):
            raise InvalidArgumentsError(f"invalid receiveMode: {mode!r}")
        stream.principal.authorize(PUBSUB, "SubscribeToTopic", topic_filter)
        sub = Subscription(topic_filter, mode == RECEIVE_FROM_OTHERS, stream)
        if has_wildcard(topic_filter):
            self._wildcard.append(sub)
        else:
            self._exact.setdefault(topic_filter, []).append(sub)
        stream.on_close.append(lambda: self._remove(sub))
        return {"topicName": topic_filter}

    # -- fan-out
    def publish(self, topic: str, event_payload: bytes, publisher: str) -> int:
        """Deliver an encoded SubscriptionResponseMessage to every matching subscriber."""
        delivered = 0
        for sub in self._exact.get(topic, ()):
            if not (sub.from_others_only and sub.stream.principal.name == publisher):
                delivered += sub.stream.send_event(event_payload)
        for sub in self._wildcard:
            if sub.from_others_only and sub.stream.principal.name == publisher:
                continue
            if mqtt_match(sub.topic_filter, topic):
                delivered += sub.stream.send_event(event_payload)
        return delivered

    def _remove(self, sub: Subscription) -> None:
        if sub in self._wildcard:
            self._wildcard.remove(sub)
            return
        subs = self._exact.get(sub.topic_filter)
        if subs and sub in subs:
            subs.remove(sub)
            if not subs:
                del self._exact[sub.topic_filter]
