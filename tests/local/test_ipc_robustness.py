"""Bad clients cannot crash the server or grow its memory; dead clients are cleaned up."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from awsiot.greengrasscoreipc.model import JsonMessage, PublishMessage

from edgewatch.local.ipc_protocol import CONNECTION_ACCEPTED, MessageType
from edgewatch.local.testing import ComponentSpec, SubprocessIpcRuntime, wait_until
from tests.local.conftest import ALL_PUBSUB
from tests.local.raw_client import RawClient


def healthy(runtime) -> None:
    message = PublishMessage(json_message=JsonMessage(message={}))
    runtime.client("A").publish_to_topic(topic="ok", publish_message=message)


@pytest.mark.parametrize(
    "garbage",
    [
        b"\x00\x00\x00\x10\x00\x00\x00\x00\xde\xad\xbe\xef" + b"\x00" * 4,  # bad prelude CRC
        b"\x7f\xff\xff\xff" + b"\x00" * 12,  # absurd length
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    ],
)
def test_corrupt_frames_close_only_that_connection(ipc_runtime, garbage: bytes) -> None:
    runtime = ipc_runtime({"A": ComponentSpec(ALL_PUBSUB)})
    raw = RawClient(runtime.socket_path)
    raw.sock.sendall(garbage)
    reply = raw.receive()
    assert reply.get(":message-type") == MessageType.PROTOCOL_ERROR
    assert raw.closed_by_server()
    assert runtime.services.server.stats.protocol_errors == 1
    healthy(runtime)


def test_messages_without_rpc_headers_or_before_connect_are_protocol_errors(ipc_runtime) -> None:
    runtime = ipc_runtime({"A": ComponentSpec(ALL_PUBSUB)})
    early = RawClient(runtime.socket_path)
    early.request(1, "PublishToTopic", {"topic": "x"})
    assert early.receive().get(":message-type") == MessageType.PROTOCOL_ERROR
    rejected = RawClient(runtime.socket_path)
    ack = rejected.connect("wrong")
    assert (ack.get(":message-type"), ack.get(":message-flags")) == (MessageType.CONNECT_ACK, 0)
    healthy(runtime)


def test_ping_is_answered(ipc_runtime) -> None:
    runtime = ipc_runtime({"A": ComponentSpec(ALL_PUBSUB)})
    raw = RawClient(runtime.socket_path)
    assert raw.connect(runtime.svcuid("A")).get(":message-flags") == CONNECTION_ACCEPTED
    raw.send(MessageType.PING, payload=b"hi")
    pong = raw.receive()
    assert (pong.get(":message-type"), pong.payload) == (MessageType.PING_RESPONSE, b"hi")


def test_a_subscriber_that_never_reads_is_bounded_and_drops_are_counted(ipc_runtime) -> None:
    bound = 256 * 1024
    runtime = ipc_runtime({"A": ComponentSpec(ALL_PUBSUB), "Stuck": ComponentSpec(ALL_PUBSUB)},
                          max_pending_bytes=bound)
    stuck = RawClient(runtime.socket_path)
    stuck.sock.setsockopt(__import__("socket").SOL_SOCKET, __import__("socket").SO_RCVBUF, 4096)
    assert stuck.connect(runtime.svcuid("Stuck")).get(":message-flags") == CONNECTION_ACCEPTED
    stuck.request(1, "SubscribeToTopic", {"topic": "flood"})
    assert stuck.receive().get("service-model-type") == "aws.greengrass#SubscribeToTopicResponse"
    publisher = runtime.client("A")
    message = PublishMessage(json_message=JsonMessage(message={"pad": "x" * 16_000}))
    for _ in range(200):  # ~3.2 MB of events for a reader that never reads
        publisher.publish_to_topic(topic="flood", publish_message=message)
    stats = runtime.services.server.stats
    assert stats.events_dropped > 0

    def pending() -> int:
        (conn,) = [c for c in runtime.services.server.connections if c.principal and c.principal.name == "Stuck"]
        return conn.transport.get_write_buffer_size()

    assert runtime.call(pending) <= bound
    healthy(runtime)


CHILD = textwrap.dedent("""
    import sys, threading
    from edgewatch.local.testing import connect_client
    client = connect_client(sys.argv[1], sys.argv[2])
    client.subscribe_to_topic(topic="t/#", on_stream_event=lambda e: None)
    client.subscribe_to_configuration_update(key_path=[], on_stream_event=lambda e: None)
    print("SUBSCRIBED", flush=True)
    threading.Event().wait()
""")


def test_a_client_killed_mid_stream_has_its_streams_cleaned_up(ipc_runtime) -> None:
    runtime = ipc_runtime({"A": ComponentSpec(ALL_PUBSUB, {}), "Victim": ComponentSpec(ALL_PUBSUB, {})})
    child = subprocess.Popen([sys.executable, "-c", CHILD, runtime.socket_path, runtime.svcuid("Victim")],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "SUBSCRIBED"
        assert len(runtime.call(runtime.services.pubsub.subscriptions)) == 1
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
        wait_until(lambda: not runtime.call(runtime.services.pubsub.subscriptions), what="pubsub cleanup")
        wait_until(lambda: not runtime.call(runtime.services.configuration.update_subscriptions),
                   what="configuration subscription cleanup")
        wait_until(lambda: not runtime.call(lambda: runtime.services.server.connections - {
            c for c in runtime.services.server.connections if c.principal and c.principal.name == "A"}),
            what="connection cleanup")
        healthy(runtime)
    finally:
        child.kill()
        child.wait(10)


def test_subprocess_runtime_serves_the_sdk_client(tmp_path: Path) -> None:
    with SubprocessIpcRuntime(tmp_path / "root", {"A": ComponentSpec(ALL_PUBSUB, {"k": [1]})}) as runtime:
        from edgewatch.local.testing import connect_client

        client = connect_client(runtime.socket_path, runtime.svcuid("A"))
        try:
            assert client.get_configuration(key_path=[]).value == {"k": [1]}
        finally:
            client.close()
        process = runtime.process
    assert process is not None and process.poll() is not None
    assert json.loads((tmp_path / "root" / "config" / "A.json").read_text()) == {"k": [1]}


def test_a_request_nested_too_deeply_is_invalid_arguments_and_the_server_carries_on(ipc_runtime) -> None:
    runtime = ipc_runtime({"A": ComponentSpec(ALL_PUBSUB, configuration={"k": 1})})
    raw = RawClient(runtime.socket_path)
    assert raw.connect(runtime.svcuid("A")).get(":message-flags") == CONNECTION_ACCEPTED
    for stream_id, depth, expected in ((1, 5000, b"nested too deeply"), (3, 500, b"nested deeper than 64 levels")):
        body = b'{"keyPath": [], "valueToMerge": ' + b'{"a": ' * depth + b"1" + b"}" * depth + b"}"
        raw.send(MessageType.APPLICATION_MESSAGE, stream_id, payload=body,
                 operation="aws.greengrass#UpdateConfiguration",
                 service_model_type="aws.greengrass#UpdateConfigurationRequest")
        reply = raw.receive()
        assert reply.get("service-model-type") == "aws.greengrass#InvalidArgumentsError"
        assert expected in reply.payload
    assert runtime.services.configuration.get("A") == {"k": 1}
    healthy(runtime)


def test_an_unauthenticated_peer_gets_small_frames_and_a_connect_timeout(ipc_runtime) -> None:
    runtime = ipc_runtime({"A": ComponentSpec(ALL_PUBSUB)})
    big = RawClient(runtime.socket_path)
    big.send(MessageType.PING, payload=b"x" * (70 * 1024))  # over 64 KiB before CONNECT
    assert big.receive().get(":message-type") == MessageType.PROTOCOL_ERROR
    assert big.closed_by_server()
    runtime.services.server.connect_timeout_s = 0.3
    idle = RawClient(runtime.socket_path)
    assert idle.closed_by_server()  # within the socket's 5 s timeout: the 0.3 s connect timeout did it
    assert runtime.services.server.stats.connect_timeouts == 1
    runtime.services.server.connect_timeout_s = 10.0  # a loaded machine must not fail the SDK's connect
    healthy(runtime)
