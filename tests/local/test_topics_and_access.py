"""Topic matching and accessControl, as the nucleus applies them."""

from __future__ import annotations

import pytest

from edgewatch.local.access_control import MQTTPROXY, PUBSUB, SECRET_MANAGER, AccessControl, UnauthorizedError
from edgewatch.local.topics import mqtt_match, mqttproxy_resource_match, pubsub_resource_match, valid_filter


@pytest.mark.parametrize(
    ("topic_filter", "topic", "expected"),
    [
        ("a/b", "a/b", True),
        ("a/+", "a/b", True),
        ("a/+", "a/b/c", False),
        ("a/#", "a/b/c", True),
        ("a/#", "a", True),
        ("#", "anything/at/all", True),
        ("+/b", "a/b", True),
        ("+/b", "a/c", False),
        ("a/b", "a/b/c", False),
        ("a/+/c", "a//c", True),
    ],
)
def test_mqtt_match(topic_filter: str, topic: str, expected: bool) -> None:
    assert mqtt_match(topic_filter, topic) is expected


@pytest.mark.parametrize(("topic_filter", "ok"), [("a/#", True), ("a/#/b", False), ("a+", False), ("", False)])
def test_valid_filter(topic_filter: str, ok: bool) -> None:
    assert valid_filter(topic_filter) is ok


@pytest.mark.parametrize(
    ("pattern", "resource", "pubsub", "mqttproxy"),
    [
        ("edgewatch/*", "edgewatch/metrics/x", True, True),
        ("*", "x", True, True),
        ("a/+", "a/b", False, True),  # pubsub treats + literally
        ("a/+", "a/+", True, True),
        ("a/#", "a/b/c", False, True),
        ("a/#", "a/#", True, True),
        ("a/b", "a/c", False, False),
    ],
)
def test_resource_matching(pattern: str, resource: str, pubsub: bool, mqttproxy: bool) -> None:
    assert pubsub_resource_match(pattern, resource) is pubsub
    assert mqttproxy_resource_match(pattern, resource) is mqttproxy


def test_access_control_interpolates_thing_name_and_words_denials_like_the_nucleus() -> None:
    access = AccessControl.from_config(
        {
            MQTTPROXY: {"p1": {"operations": ["aws.greengrass#PublishToIoTCore"],
                               "resources": ["dt/edgewatch/{iot:thingName}/metrics"]}},
            PUBSUB: {"p2": {"operations": ["*"], "resources": ["edgewatch/*"]}},
            SECRET_MANAGER: {"p3": {"operations": ["aws.greengrass#GetSecretValue"], "resources": ["arn:x"]}},
        },
        "gw-01",
    )
    assert access.allows(MQTTPROXY, "aws.greengrass#PublishToIoTCore", "dt/edgewatch/gw-01/metrics")
    assert not access.allows(MQTTPROXY, "aws.greengrass#PublishToIoTCore", "dt/edgewatch/gw-02/metrics")
    assert not access.allows(MQTTPROXY, "aws.greengrass#SubscribeToIoTCore", "dt/edgewatch/gw-01/metrics")
    assert access.allows(PUBSUB, "aws.greengrass#SubscribeToTopic", "edgewatch/alerts")
    assert access.allows(SECRET_MANAGER, "aws.greengrass#GetSecretValue", "arn:x")
    with pytest.raises(UnauthorizedError) as info:
        access.check("com.x", PUBSUB, "aws.greengrass#PublishToTopic", "other/topic")
    assert str(info.value) == (
        "Principal com.x is not authorized to perform aws.greengrass.ipc.pubsub:aws.greengrass#PublishToTopic "
        "on resource other/topic"
    )
