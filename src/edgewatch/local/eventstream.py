"""AWS event stream framing (the wire format under Greengrass IPC): encode, and decode incrementally.

Frame: u32 total_len | u32 headers_len | u32 crc32(prelude) | headers | payload | u32 crc32(all before),
big-endian. Any violation raises FrameError; the caller closes that one connection.
"""

from __future__ import annotations

import struct
import uuid
import zlib
from dataclasses import dataclass, field
from typing import Any

PRELUDE_LEN = 12
MIN_FRAME_LEN = PRELUDE_LEN + 4
MAX_FRAME_LEN = 24 * 1024 * 1024
MAX_HEADERS_LEN = 128 * 1024

TRUE, FALSE, BYTE, INT16, INT32, INT64, BYTES, STRING, TIMESTAMP, UUID = range(10)

_PRELUDE = struct.Struct(">III")
_U32 = struct.Struct(">I")
_I32 = struct.Struct(">i")


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


def encode_headers(headers: dict[str, Header]) -> bytes:
    return b"".join([_encode_header(name, header) for name, header in headers.items()])


def encode(headers: dict[str, Header], payload: bytes = b"") -> bytes:
    """Encode one message into a frame."""
    return frame(encode_headers(headers), payload)


def frame(raw_headers: bytes, payload: bytes) -> bytes:
    """Frame already-encoded headers and a payload."""
    total = PRELUDE_LEN + len(raw_headers) + len(payload) + 4
    if total > MAX_FRAME_LEN:
        raise ValueError(f"message of {total} bytes exceeds the {MAX_FRAME_LEN}-byte limit")
    prelude = struct.pack(">II", total, len(raw_headers))
    prelude += _U32.pack(zlib.crc32(prelude))
    body = prelude + raw_headers + payload
    return body + _U32.pack(zlib.crc32(body))


_FIXED = {
    BYTE: struct.Struct(">b"),
    INT16: struct.Struct(">h"),
    INT32: struct.Struct(">i"),
    INT64: struct.Struct(">q"),
    TIMESTAMP: struct.Struct(">q"),
}
_U16 = struct.Struct(">H")


def decode_headers(raw: bytes) -> dict[str, Header]:
    """Decode a headers block."""
    return _decode_headers(raw)[0]


def _decode_headers(raw: bytes) -> tuple[dict[str, Header], int]:
    """Decode a headers block; also return where the int32 `:stream-id` value starts (-1 if none).

    Written as one flat loop: it runs for every message the header cache has not seen.
    """
    headers: dict[str, Header] = {}
    stream_id_at = -1
    pos, end = 0, len(raw)
    try:
        while pos < end:
            name_end = pos + 1 + raw[pos]
            name = raw[pos + 1 : name_end].decode()
            kind = raw[name_end]
            pos = name_end + 1
            if kind in (STRING, BYTES):
                value_end = pos + 2 + _U16.unpack_from(raw, pos)[0]
                if value_end > end:
                    raise FrameError("header value runs past the headers block")
                data = raw[pos + 2 : value_end]
                headers[name] = Header(data.decode() if kind == STRING else data, kind)
                pos = value_end
            elif kind in _FIXED:
                fmt = _FIXED[kind]
                if kind == INT32 and name == ":stream-id":
                    stream_id_at = pos
                headers[name] = Header(fmt.unpack_from(raw, pos)[0], kind)
                pos += fmt.size
            elif kind in (TRUE, FALSE):
                headers[name] = Header(kind == TRUE, kind)
            elif kind == UUID:
                if pos + 16 > end:
                    raise FrameError("header value runs past the headers block")
                headers[name] = Header(uuid.UUID(bytes=raw[pos : pos + 16]), kind)
                pos += 16
            else:
                raise FrameError(f"unknown header type {kind} for header {name!r}")
    except (IndexError, struct.error, UnicodeDecodeError) as exc:
        raise FrameError(f"malformed headers: {exc}") from exc
    if pos != end:
        raise FrameError("headers block has trailing bytes")
    return headers, stream_id_at


_STREAM_ID_MARK = bytes((10,)) + b":stream-id" + bytes((INT32,))
_HEADER_CACHE_MAX = 1024


class HeaderCache:
    """Decoded header blocks that differ only in `:stream-id` (every request of one operation).

    Decoding headers is the largest per-message cost in pure Python; a request's block repeats with
    only the 4-byte stream id changing, so the rest is decoded once and reused.
    """

    def __init__(self) -> None:
        self._templates: dict[bytes, dict[str, Header]] = {}

    def decode(self, raw: bytes) -> dict[str, Header]:
        mark = raw.find(_STREAM_ID_MARK)
        if mark < 0 or len(raw) < mark + len(_STREAM_ID_MARK) + 4:
            return decode_headers(raw)
        value_at = mark + len(_STREAM_ID_MARK)
        key = raw[:value_at] + raw[value_at + 4 :]
        template = self._templates.get(key)
        if template is None:
            template, real_at = _decode_headers(raw)
            if real_at != value_at:
                # The mark was found inside another header's value: this block's layout is not the
                # template's, so it is decoded in full (and never cached).
                return template
            if len(self._templates) >= _HEADER_CACHE_MAX:
                self._templates.clear()
            self._templates[key] = template
        headers = template.copy()
        headers[":stream-id"] = Header(_I32.unpack_from(raw, value_at)[0], INT32)
        return headers


class Decoder:
    """Incremental decoder: feed() bytes as they arrive, get back the complete messages."""

    def __init__(self, max_frame_len: int = MAX_FRAME_LEN) -> None:
        self._buffer = b""
        self._chunks: list[bytes] = []  # a large frame arriving piece by piece, joined once complete
        self._chunked = 0
        self._need = 0
        self._max = max_frame_len
        self._headers = HeaderCache()

    @property
    def max_frame_len(self) -> int:
        return self._max

    @max_frame_len.setter
    def max_frame_len(self, value: int) -> None:
        """Raise (after authentication) or lower the frame bound; frames already buffered keep theirs."""
        self._max = min(value, MAX_FRAME_LEN)

    def feed(self, data: bytes) -> list[Message]:
        if self._need:
            self._chunks.append(data)
            self._chunked += len(data)
            if self._chunked < self._need:
                return []
            data = b"".join(self._chunks)
            self._chunks, self._chunked, self._need = [], 0, 0
        buf = self._buffer + data if self._buffer else data
        messages: list[Message] = []
        pos, size = 0, len(buf)
        while size - pos >= PRELUDE_LEN:
            total, headers_len, prelude_crc = _PRELUDE.unpack_from(buf, pos)
            if zlib.crc32(buf[pos : pos + 8]) != prelude_crc:
                raise FrameError("prelude CRC mismatch")
            if total < MIN_FRAME_LEN or total > self._max:
                raise FrameError(f"frame length {total} outside [{MIN_FRAME_LEN}, {self._max}]")
            if headers_len > total - MIN_FRAME_LEN or headers_len > MAX_HEADERS_LEN:
                raise FrameError(f"headers length {headers_len} does not fit a {total}-byte frame")
            end = pos + total
            if size < end:
                if total > 65536:  # wait for the whole frame instead of re-copying it per chunk
                    self._buffer = b""
                    self._chunks, self._chunked, self._need = [buf[pos:]], size - pos, total
                    return messages
                break
            (message_crc,) = _U32.unpack_from(buf, end - 4)
            if zlib.crc32(buf[pos : end - 4]) != message_crc:
                raise FrameError("message CRC mismatch")
            headers_end = pos + PRELUDE_LEN + headers_len
            headers = self._headers.decode(buf[pos + PRELUDE_LEN : headers_end])
            messages.append(Message(headers, buf[headers_end : end - 4]))
            pos = end
        self._buffer = buf[pos:] if pos < size else b""
        return messages
