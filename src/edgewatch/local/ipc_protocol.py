"""Event stream RPC framing for Greengrass IPC: message types, flags and frame builders."""

from __future__ import annotations

import json
import struct
from enum import IntEnum
from functools import lru_cache
from typing import Any

from edgewatch.local.eventstream import encode, encode_headers, frame, int32, string

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
_I32 = struct.Struct(">i")


def control_frame(message_type: MessageType, flags: int = 0, payload: bytes = b"") -> bytes:
    return encode(
        {MESSAGE_TYPE: int32(message_type), MESSAGE_FLAGS: int32(flags), STREAM_ID: int32(0)}, payload
    )


@lru_cache(maxsize=512)
def _stream_headers(message_type: int, flags: int, model_type: str) -> tuple[bytes, bytes]:
    """Encoded headers before and after `:stream-id`, cached: they repeat for every message."""
    before = encode_headers({MESSAGE_TYPE: int32(message_type), MESSAGE_FLAGS: int32(flags)})
    after = encode_headers({SERVICE_MODEL_TYPE: string(model_type), CONTENT_TYPE: _JSON_HEADER})
    return before, after


_STREAM_ID_HEADER = encode_headers({STREAM_ID: int32(0)})[:-4]


def stream_frame(
    stream_id: int,
    model_type: str,
    payload: bytes,
    *,
    message_type: MessageType = MessageType.APPLICATION_MESSAGE,
    terminate: bool = False,
) -> bytes:
    """Encode a JSON message on a stream (the hot path: one per response and per event)."""
    before, after = _stream_headers(message_type, TERMINATE_STREAM if terminate else 0, model_type)
    return frame(before + _STREAM_ID_HEADER + _I32.pack(stream_id) + after, payload)


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
