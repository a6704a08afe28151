"""The router's only contact with Greengrass IPC: `ComponentIpc` plus topics, IoT Core and secrets.

Local publish, configuration reads and the configuration streams come from
`edgewatch_shared.component_ipc`. On every (re)connect the router also re-opens its metrics and
silences topic streams and, on a hub, its IoT Core input streams (SubscribeToIoTCore, QoS 1).
Handlers run on the client's thread pool, so they only hand data over.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from awsiot.greengrasscoreipc import model

from edgewatch_shared.component_ipc import ComponentIpc
from edgewatch_shared.ipc_connection import IpcClientConnection

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

    def __init__(self, connection_factory: Callable[..., IpcClientConnection] = IpcClientConnection) -> None:
        self.max_message_bytes: int | None = None  # binary messages beyond this are refused unparsed
        super().__init__(connection_factory)

    def decode_iot(self, payload: bytes) -> Any:
        if self.max_message_bytes is not None and len(payload) > self.max_message_bytes:
            return ValueError(f"message of {len(payload)} bytes is larger than maxMessageBytes; not parsed")
        try:
            return json.loads(payload)
        except (ValueError, RecursionError) as err:
            return ValueError(f"not JSON: {type(err).__name__}")

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
