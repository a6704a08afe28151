"""Local pub/sub through the real GreengrassCoreIPCClientV2."""

from __future__ import annotations

import queue

import pytest
from awsiot.eventstreamrpc import AccessDeniedError
from awsiot.greengrasscoreipc.model import (
    BinaryMessage,
    InvalidArgumentsError,
    JsonMessage,
    PublishMessage,
    ServiceError,
    SubscriptionResponseMessage,
    UnauthorizedError,
)

from edgewatch.local.testing import ComponentSpec, connect_client, wait_until
from tests.local.conftest import ALL_PUBSUB


def json_msg(body: dict) -> PublishMessage:
    return PublishMessage(json_message=JsonMessage(message=body))


def collector() -> tuple[queue.Queue[SubscriptionResponseMessage], object]:
    received: queue.Queue[SubscriptionResponseMessage] = queue.Queue()
    return received, received.put


def test_unknown_svcuid_is_rejected_with_access_denied(ipc_runtime) -> None:
    runtime = ipc_runtime({"A": ComponentSpec(ALL_PUBSUB)})
    with pytest.raises(AccessDeniedError):
        connect_client(runtime.socket_path, "not-a-token")
    assert runtime.services.server.stats.rejected_connections == 1
    # the server carries on for legitimate components
    runtime.client("A").publish_to_topic(topic="x", publish_message=json_msg({}))


def test_json_and_binary_messages_carry_their_topic(ipc_runtime) -> None:
    runtime = ipc_runtime({"A": ComponentSpec(ALL_PUBSUB), "B": ComponentSpec(ALL_PUBSUB)})
    a, b = runtime.client("A"), runtime.client("B")
    received, on_event = collector()
    b.subscribe_to_topic(topic="edgewatch/+/x", on_stream_event=on_event)
    a.publish_to_topic(topic="edgewatch/metrics/x", publish_message=json_msg({"v": 1.5, "l": [1, "a"]}))
    a.publish_to_topic(
        topic="edgewatch/raw/x", publish_message=PublishMessage(binary_message=BinaryMessage(message=b"\x00\xff"))
    )
    first, second = received.get(timeout=5), received.get(timeout=5)
    assert first.json_message.message == {"v": 1.5, "l": [1, "a"]}
    assert first.json_message.context.topic == "edgewatch/metrics/x"
    assert second.binary_message.message == b"\x00\xff"
    assert second.binary_message.context.topic == "edgewatch/raw/x"


def test_multi_level_wildcard_and_non_matching_topics(ipc_runtime) -> None:
    runtime = ipc_runtime({"A": ComponentSpec(ALL_PUBSUB), "B": ComponentSpec(ALL_PUBSUB)})
    a, b = runtime.client("A"), runtime.client("B")
    received, on_event = collector()
    b.subscribe_to_topic(topic="site/#", on_stream_event=on_event)
    for topic in ("other/x", "site", "site/a/b/c"):
        a.publish_to_topic(topic=topic, publish_message=json_msg({"t": topic}))
    topics = [received.get(timeout=5).json_message.context.topic for _ in range(2)]
    assert topics == ["site", "site/a/b/c"]
    assert received.empty()


def test_receive_modes_default_to_nucleus_behaviour(ipc_runtime) -> None:
    runtime = ipc_runtime({"A": ComponentSpec(ALL_PUBSUB), "B": ComponentSpec(ALL_PUBSUB)})
    a, b = runtime.client("A"), runtime.client("B")
    wildcard, on_wildcard = collector()
    exact, on_exact = collector()
    explicit_others, on_explicit = collector()
    a.subscribe_to_topic(topic="t/#", on_stream_event=on_wildcard)  # default: from others
    a.subscribe_to_topic(topic="t/1", on_stream_event=on_exact)  # default: all
    a.subscribe_to_topic(topic="t/1", receive_mode="RECEIVE_MESSAGES_FROM_OTHERS", on_stream_event=on_explicit)
    a.publish_to_topic(topic="t/1", publish_message=json_msg({"from": "A"}))
    b.publish_to_topic(topic="t/1", publish_message=json_msg({"from": "B"}))
    assert [exact.get(timeout=5).json_message.message["from"] for _ in range(2)] == ["A", "B"]
    assert wildcard.get(timeout=5).json_message.message["from"] == "B"
    assert explicit_others.get(timeout=5).json_message.message["from"] == "B"
    assert wildcard.empty() and explicit_others.empty()


@pytest.mark.parametrize("topic", ["a/+", "a/#", "a/*"])
def test_publishing_to_a_wildcard_topic_is_refused(ipc_runtime, topic: str) -> None:
    runtime = ipc_runtime({"A": ComponentSpec(ALL_PUBSUB)})
    with pytest.raises(InvalidArgumentsError) as info:
        runtime.client("A").publish_to_topic(topic=topic, publish_message=json_msg({}))
    assert "wildcards are not allowed" in info.value.message


def test_unauthorised_publish_and_subscribe_name_the_principal_and_resource(ipc_runtime) -> None:
    acl = {"aws.greengrass.ipc.pubsub": {
        "pub": {"operations": ["aws.greengrass#PublishToTopic"], "resources": ["edgewatch/metrics"]},
        "sub": {"operations": ["aws.greengrass#SubscribeToTopic"], "resources": ["edgewatch/silences"]},
    }}
    runtime = ipc_runtime({"com.edgewatch.T": ComponentSpec(acl)})
    client = runtime.client("com.edgewatch.T")
    client.publish_to_topic(topic="edgewatch/metrics", publish_message=json_msg({}))
    with pytest.raises(UnauthorizedError) as pub:
        client.publish_to_topic(topic="edgewatch/alerts", publish_message=json_msg({}))
    assert pub.value.message == (
        "Principal com.edgewatch.T is not authorized to perform "
        "aws.greengrass.ipc.pubsub:aws.greengrass#PublishToTopic on resource edgewatch/alerts"
    )
    with pytest.raises(UnauthorizedError) as sub:
        client.subscribe_to_topic(topic="edgewatch/#", on_stream_event=print)
    assert "SubscribeToTopic on resource edgewatch/#" in sub.value.message
    client.subscribe_to_topic(topic="edgewatch/silences", on_stream_event=print)


def test_operation_without_a_provider_fails_like_the_nucleus(ipc_runtime) -> None:
    runtime = ipc_runtime({"A": ComponentSpec(ALL_PUBSUB)})
    with pytest.raises(ServiceError) as info:
        runtime.client("A").list_components()
    assert info.value.message == "Operation aws.greengrass#ListComponents is not supported by Greengrass"


def test_client_closing_a_stream_removes_its_subscription(ipc_runtime) -> None:
    runtime = ipc_runtime({"A": ComponentSpec(ALL_PUBSUB)})
    client = runtime.client("A")
    _, operation = client.subscribe_to_topic(topic="t", on_stream_event=print)
    assert len(runtime.call(runtime.services.pubsub.subscriptions)) == 1
    operation.close().result(5)
    wait_until(lambda: not runtime.call(runtime.services.pubsub.subscriptions), what="subscription removed")
    client.publish_to_topic(topic="t", publish_message=json_msg({}))  # connection still usable


def test_server_closing_a_stream_is_seen_by_the_client(ipc_runtime) -> None:
    runtime = ipc_runtime({"A": ComponentSpec(ALL_PUBSUB)})
    closed: queue.Queue[bool] = queue.Queue()
    runtime.client("A").subscribe_to_topic(topic="t", on_stream_event=print, on_stream_closed=lambda: closed.put(True))

    def close_all() -> int:
        subs = runtime.services.pubsub.subscriptions()
        for sub in subs:
            sub.stream.close_from_server()
        return len(subs)

    assert runtime.call(close_all) == 1
    assert closed.get(timeout=5) is True
    assert runtime.call(runtime.services.pubsub.subscriptions) == []
