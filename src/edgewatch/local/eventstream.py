"""AWS event stream framing (the wire format under Greengrass IPC): encode, and decode incrementally.

Frame: u32 total_len | u32 headers_len | u32 crc32(prelude) | headers | payload | u32 crc32(all before),
big-endian. Any violation raises FrameError; the caller closes that one connection.
"""

from __future__ import annotations

import struct
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

PRELUDE_LEN = 12
MIN_FRAME_LEN = PRELUDE_LEN + 4
MAX_FRAME_LEN = 24 * 1024 * 1024
MAX_HEADERS_LEN = 128 * 1024

TRUE, FALSE, BYTE, INT16, INT32, INT64, BYTES, STRING, TIMESTAMP, UUID = range(10)

_PRELUDE = struct.Struct(">III")
_U32 = struct.Struct(">I")


class FrameError(ValueError):
    """The byte stream is not a valid event stream; the connection cannot continue."""


@dataclass(frozen=True, slots=True)
class Header:
    """A typed header; `kind` is one of the wire type codes above."""

    value: Any
    kind: int


@dataclass(slots=True)
class Message:
    headers: dict[str, Header] = field(default_factory=dict)
    payload: bytes = b""

    def get(self, name: str, default: Any = None) -> Any:
        header = self.headers.get(name)
        return default if header is None else header.value


def int32(value: int) -> Header:
    return Header(value, INT32)


def string(value: str) -> Header:
    return Header(value, STRING)


def _encode_header(name: str, header: Header) -> bytes:
    raw_name = name.encode()
    if len(raw_name) > 255:
        raise ValueError(f"header name too long: {name!r}")
    head = bytes((len(raw_name),)) + raw_name + bytes((header.kind,))
    kind, value = header.kind, header.value
    if kind in (TRUE, FALSE):
        return head
    if kind == BYTE:
        return head + struct.pack(">b", value)
    if kind == INT16:
        return head + struct.pack(">h", value)
    if kind == INT32:
        return head + struct.pack(">i", value)
    if kind in (INT64, TIMESTAMP):
        return head + struct.pack(">q", value)
    if kind in (BYTES, STRING):
        raw = value.encode() if kind == STRING else bytes(value)
        return head + struct.pack(">H", len(raw)) + raw
    if kind == UUID:
        raw = value.bytes if isinstance(value, uuid.UUID) else bytes(value)
        return head + raw
    raise ValueError(f"unknown header type {kind}")


def encode(headers: dict[str, Header], payload: bytes = b"") -> bytes:
    """Encode one message into a frame."""
    raw_headers = b"".join(_encode_header(name, header) for name, header in headers.items())
    total = PRELUDE_LEN + len(raw_headers) + len(payload) + 4
    if total > MAX_FRAME_LEN:
        raise ValueError(f"message of {total} bytes exceeds the {MAX_FRAME_LEN}-byte limit")
    prelude = struct.pack(">II", total, len(raw_headers))
    prelude += _U32.pack(zlib.crc32(prelude))
    body = prelude + raw_headers + payload
    return body + _U32.pack(zlib.crc32(body))


_FIXED_SIZES = {BYTE: 1, INT16: 2, INT32: 4, INT64: 8, TIMESTAMP: 8, UUID: 16}
_FIXED_FORMATS = {BYTE: ">b", INT16: ">h", INT32: ">i", INT64: ">q", TIMESTAMP: ">q"}


def decode_headers(raw: bytes) -> dict[str, Header]:
    headers: dict[str, Header] = {}
    pos, end = 0, len(raw)
    try:
        while pos < end:
            name_len = raw[pos]
            name = raw[pos + 1 : pos + 1 + name_len].decode()
            pos += 1 + name_len
            kind = raw[pos]
            pos += 1
            if kind in (TRUE, FALSE):
                headers[name] = Header(kind == TRUE, kind)
            elif kind in (BYTES, STRING):
                (length,) = struct.unpack_from(">H", raw, pos)
                pos += 2
                data = raw[pos : pos + length]
                if len(data) != length:
                    raise FrameError("header value runs past the headers block")
                headers[name] = Header(data.decode() if kind == STRING else bytes(data), kind)
                pos += length
            elif kind in _FIXED_SIZES:
                size = _FIXED_SIZES[kind]
                if pos + size > end:
                    raise FrameError("header value runs past the headers block")
                if kind == UUID:
                    headers[name] = Header(uuid.UUID(bytes=bytes(raw[pos : pos + 16])), kind)
                else:
                    (value,) = struct.unpack_from(_FIXED_FORMATS[kind], raw, pos)
                    headers[name] = Header(value, kind)
                pos += size
            else:
                raise FrameError(f"unknown header type {kind} for header {name!r}")
    except (IndexError, struct.error, UnicodeDecodeError) as exc:
        raise FrameError(f"malformed headers: {exc}") from exc
    if pos != end:
        raise FrameError("headers block has trailing bytes")
    return headers


class Decoder:
    """Incremental decoder: feed() bytes as they arrive, iterate complete messages."""

    def __init__(self, max_frame_len: int = MAX_FRAME_LEN) -> None:
        self._buffer = bytearray()
        self._max = max_frame_len

    def feed(self, data: bytes) -> Iterator[Message]:
        self._buffer += data
        buf = self._buffer
        while len(buf) >= PRELUDE_LEN:
            total, headers_len, prelude_crc = _PRELUDE.unpack_from(buf, 0)
            if zlib.crc32(memoryview(buf)[:8]) != prelude_crc:
                raise FrameError("prelude CRC mismatch")
            if total < MIN_FRAME_LEN or total > self._max:
                raise FrameError(f"frame length {total} outside [{MIN_FRAME_LEN}, {self._max}]")
            if headers_len > total - MIN_FRAME_LEN or headers_len > MAX_HEADERS_LEN:
                raise FrameError(f"headers length {headers_len} does not fit a {total}-byte frame")
            if len(buf) < total:
                return
            frame = bytes(buf[:total])
            del buf[:total]
            (message_crc,) = _U32.unpack_from(frame, total - 4)
            if zlib.crc32(memoryview(frame)[: total - 4]) != message_crc:
                raise FrameError("message CRC mismatch")
            headers = decode_headers(frame[PRELUDE_LEN : PRELUDE_LEN + headers_len])
            yield Message(headers, frame[PRELUDE_LEN + headers_len : total - 4])
