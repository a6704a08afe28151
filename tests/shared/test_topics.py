from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from edgewatch_shared.config_values import ConfigValueError, validity_reason_for
from edgewatch_shared.topics import as_topic, topic_for_thing

DEEP = "a/b/c/d/e/f/g/h/i"
LONG = "t/" + "x" * 300


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("edgewatch/#", "must not contain wildcards (+, #, *), got 'edgewatch/#'"),
        ("a//b", "must not have empty levels, got 'a//b'"),
        ("/a", "must not have empty levels, got '/a'"),
        (LONG, "must be at most 256 bytes"),
        (DEEP, f"must have at most 7 slashes, got {DEEP!r}"),
        (5, "must be a string, got int 5"),
    ],
)
def test_bad_topics_name_the_key_and_the_rule(raw: object, reason: str) -> None:
    with pytest.raises(ConfigValueError) as caught:
        as_topic("localTopic", raw)
    assert (caught.value.key, caught.value.reason) == ("localTopic", reason)


@pytest.mark.parametrize("raw", [LONG, DEEP])
def test_one_reason_can_stand_for_both_size_limits(raw: str) -> None:
    with pytest.raises(ConfigValueError) as caught:
        as_topic("metricsTopic", raw, limits_reason="too big")
    assert str(caught.value) == "metricsTopic: too big"


def test_a_concrete_topic_is_kept_and_the_thing_filled_in() -> None:
    assert as_topic("iotTopic", "dt/edgewatch/{iot:thingName}/metrics") == "dt/edgewatch/{iot:thingName}/metrics"
    assert topic_for_thing("dt/edgewatch/{iot:thingName}/metrics", "gw-1") == "dt/edgewatch/gw-1/metrics"


def test_validity_reason_is_the_parse_error_or_none() -> None:
    def parse(raw: Mapping[str, Any] | None) -> str:
        return as_topic("localTopic", (raw or {}).get("localTopic", "ok"))

    validity_reason = validity_reason_for(parse)
    assert validity_reason(None) is None
    assert validity_reason({"localTopic": "a/+"}) == "localTopic: must not contain wildcards (+, #, *), got 'a/+'"
