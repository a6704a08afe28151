"""The event stream codec, cross-checked against botocore's independent decoder."""

from __future__ import annotations

import struct
import uuid
import zlib

import pytest
from botocore.eventstream import EventStreamBuffer

from edgewatch.local import eventstream as es


def sample_headers() -> dict[str, es.Header]:
    return {
        "t": es.Header(True, es.TRUE),
        "f": es.Header(False, es.FALSE),
        "b": es.Header(-7, es.BYTE),
        "s": es.Header(-300, es.INT16),
        ":stream-id": es.int32(123456),
        "l": es.Header(2**40, es.INT64),
        "bytes": es.Header(b"\x00\x01\xff", es.BYTES),
        "operation": es.string("aws.greengrass#PublishToTopic"),
        "ts": es.Header(1763800000123, es.TIMESTAMP),
        "u": es.Header(uuid.UUID("12345678-1234-5678-1234-567812345678"), es.UUID),
    }


def test_roundtrip_through_own_decoder() -> None:
    frame = es.encode(sample_headers(), b'{"a":1}')
    (message,) = list(es.Decoder().feed(frame))
    assert message.headers == sample_headers()
    assert message.payload == b'{"a":1}'


def test_botocore_decodes_our_frames() -> None:
    buffer = EventStreamBuffer()
    buffer.add_data(es.encode(sample_headers(), b"payload-bytes"))
    (message,) = list(buffer)
    assert message.payload == b"payload-bytes"
    assert message.headers[":stream-id"] == 123456
    assert message.headers["operation"] == "aws.greengrass#PublishToTopic"
    assert message.headers["bytes"] == b"\x00\x01\xff"
    assert message.headers["t"] is True and message.headers["f"] is False
    assert message.headers["l"] == 2**40
    assert message.headers["u"] == uuid.UUID("12345678-1234-5678-1234-567812345678").bytes


def test_incremental_feed_byte_by_byte_yields_each_message_once() -> None:
    frames = es.encode({"a": es.int32(1)}, b"x") + es.encode({"a": es.int32(2)}, b"yy")
    decoder = es.Decoder()
    messages = [m for i in range(len(frames)) for m in decoder.feed(frames[i : i + 1])]
    assert [m.get("a") for m in messages] == [1, 2]
    assert [m.payload for m in messages] == [b"x", b"yy"]


def test_corrupt_message_crc_is_rejected() -> None:
    frame = bytearray(es.encode({"a": es.int32(1)}, b"hello"))
    frame[-6] ^= 0xFF  # flip a payload byte
    with pytest.raises(es.FrameError, match="message CRC"):
        list(es.Decoder().feed(bytes(frame)))


def test_corrupt_prelude_crc_is_rejected() -> None:
    frame = bytearray(es.encode({}, b"hello"))
    frame[9] ^= 0x01
    with pytest.raises(es.FrameError, match="prelude CRC"):
        list(es.Decoder().feed(bytes(frame)))


def _prelude(total: int, headers_len: int) -> bytes:
    head = struct.pack(">II", total, headers_len)
    return head + struct.pack(">I", zlib.crc32(head))


@pytest.mark.parametrize(
    ("total", "headers_len", "reason"),
    [
        (10, 0, "frame length"),
        (es.MAX_FRAME_LEN + 1, 0, "frame length"),
        (100, 90, "headers length"),
    ],
)
def test_bad_lengths_are_rejected_before_buffering(total: int, headers_len: int, reason: str) -> None:
    with pytest.raises(es.FrameError, match=reason):
        list(es.Decoder().feed(_prelude(total, headers_len)))


def test_malformed_header_block_is_rejected() -> None:
    headers = bytes([3]) + b"abc" + bytes([42])  # unknown header type 42
    body = _prelude(es.PRELUDE_LEN + len(headers) + 4, len(headers)) + headers
    frame = body + struct.pack(">I", zlib.crc32(body))
    with pytest.raises(es.FrameError, match="unknown header type"):
        list(es.Decoder().feed(frame))


def test_encoding_refuses_oversized_messages() -> None:
    with pytest.raises(ValueError, match="exceeds"):
        es.encode({}, b"\0" * es.MAX_FRAME_LEN)


def test_header_cache_is_not_fooled_by_a_stream_id_mark_inside_a_value() -> None:
    # Found by the fuzz suite: the bytes of a `:stream-id` int32 header inside another header's value.
    lure = es.Header(bytes((10,)) + b":stream-id" + bytes((es.INT32,)) + b"\x00\x00\x00\x07", es.BYTES)
    cache = es.HeaderCache()
    for stream_id in (1, 2):
        raw = es.encode_headers({"a": lure, ":stream-id": es.int32(stream_id)})
        headers = cache.decode(raw)
        assert headers == es.decode_headers(raw)
        assert headers[":stream-id"].value == stream_id and headers["a"] == lure
    only_lure = es.encode_headers({"a": lure})
    assert ":stream-id" not in cache.decode(only_lure)
