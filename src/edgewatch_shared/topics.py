"""MQTT topics in configuration: checked against AWS IoT Core's rules before anything publishes.

A component publishes to (or subscribes to exactly) the configured topics, so wildcards, empty
levels and topics over IoT Core's limits are configuration errors, reported with the key.
"""

from __future__ import annotations

from typing import Any

from edgewatch_shared.config_values import ConfigValueError, as_str, describe

THING_NAME_PLACEHOLDER = "{iot:thingName}"
# AWS IoT Core service limits for a topic name.
MAX_TOPIC_BYTES = 256
MAX_TOPIC_SLASHES = 7


def as_topic(key: str, value: Any, *, limits_reason: str | None = None) -> str:
    """A concrete topic; `limits_reason`, if given, is the one reason for either size limit."""
    topic = as_str(key, value)
    try:
        size = len(topic.encode())
    except UnicodeEncodeError:  # lone surrogates: JSON can carry them, MQTT (UTF-8) cannot
        raise ConfigValueError(key, f"must be valid Unicode text, got {describe(topic)}") from None
    if "\0" in topic:
        raise ConfigValueError(key, "must not contain the NUL character")
    if any(c in topic for c in "+#*"):
        raise ConfigValueError(key, f"must not contain wildcards (+, #, *), got {describe(topic)}")
    if topic.startswith("/") or topic.endswith("/") or "//" in topic:
        raise ConfigValueError(key, f"must not have empty levels, got {describe(topic)}")
    too_long = size > MAX_TOPIC_BYTES
    too_deep = topic.count("/") > MAX_TOPIC_SLASHES
    if limits_reason is not None and (too_long or too_deep):
        raise ConfigValueError(key, limits_reason)
    if too_long:
        raise ConfigValueError(key, f"must be at most {MAX_TOPIC_BYTES} bytes")
    if too_deep:
        raise ConfigValueError(key, f"must have at most {MAX_TOPIC_SLASHES} slashes, got {describe(topic)}")
    return topic


def topic_for_thing(template: str, thing: str) -> str:
    """The topic with `{iot:thingName}` filled in (the nucleus leaves it in configuration unless
    interpolateComponentConfiguration is set)."""
    return template.replace(THING_NAME_PLACEHOLDER, thing)
