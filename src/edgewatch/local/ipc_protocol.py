"""Event stream RPC framing for Greengrass IPC: message types, flags and frame builders."""

from __future__ import annotations

import json
from enum import IntEnum
from typing import Any

from edgewatch.local.eventstream import Header, encode, int32, string

MESSAGE_TYPE = ":message-type"
MESSAGE_FLAGS = ":message-flags"
STREAM_ID = ":stream-id"
CONTENT_TYPE = ":content-type"
SERVICE_MODEL_TYPE = "service-model-type"
OPERATION = "operation"
VERSION = ":version"
PROTOCOL_VERSION = "0.1.0"
JSON = "application/json"
NAMESPACE = "aws.greengrass#"


class MessageType(IntEnum):
    APPLICATION_MESSAGE = 0
    APPLICATION_ERROR = 1
    PING = 2
    PING_RESPONSE = 3
    CONNECT = 4
    CONNECT_ACK = 5
    PROTOCOL_ERROR = 6
    INTERNAL_ERROR = 7


CONNECTION_ACCEPTED = 0x1
TERMINATE_STREAM = 0x2

_JSON_HEADER = string(JSON)


def control_frame(message_type: MessageType, flags: int = 0, payload: bytes = b"") -> bytes:
    return encode(
        {MESSAGE_TYPE: int32(message_type), MESSAGE_FLAGS: int32(flags), STREAM_ID: int32(0)}, payload
    )


def stream_frame(
    stream_id: int,
    model_type: str,
    payload: bytes,
    *,
    message_type: MessageType = MessageType.APPLICATION_MESSAGE,
    terminate: bool = False,
) -> bytes:
    headers: dict[str, Header] = {
        MESSAGE_TYPE: int32(message_type),
        MESSAGE_FLAGS: int32(TERMINATE_STREAM if terminate else 0),
        STREAM_ID: int32(stream_id),
        SERVICE_MODEL_TYPE: string(model_type),
        CONTENT_TYPE: _JSON_HEADER,
    }
    return encode(headers, payload)


def terminate_frame(stream_id: int) -> bytes:
    """An empty message that closes a stream from the server's side."""
    return encode(
        {
            MESSAGE_TYPE: int32(MessageType.APPLICATION_MESSAGE),
            MESSAGE_FLAGS: int32(TERMINATE_STREAM),
            STREAM_ID: int32(stream_id),
        }
    )


def dumps(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()
