"""Topic and resource matching with the nucleus's rules.

Local pub/sub subscriptions and IoT Core subscriptions use MQTT wildcards (`+` one level, `#` the
rest). In `accessControl`, pubsub resources treat `+`/`#` literally and `*` as any characters, while
mqttproxy resources also honour MQTT wildcards.
"""

from __future__ import annotations

import re
from functools import lru_cache

PUBLISH_FORBIDDEN = ("+", "#", "*")


def has_wildcard(topic_filter: str) -> bool:
    return "+" in topic_filter or "#" in topic_filter


def mqtt_match(topic_filter: str, topic: str) -> bool:
    """True when `topic` matches the MQTT `topic_filter` (`+` one level, trailing `#` the rest)."""
    if topic_filter == topic:
        return True
    f_parts = topic_filter.split("/")
    t_parts = topic.split("/")
    for i, part in enumerate(f_parts):
        if part == "#":
            return i == len(f_parts) - 1
        if i >= len(t_parts):
            return False
        if part != "+" and part != t_parts[i]:
            return False
    return len(f_parts) == len(t_parts)


def valid_filter(topic_filter: str) -> bool:
    """MQTT filter syntax: `#` only as the whole last level, `+` only as a whole level."""
    if not topic_filter:
        return False
    parts = topic_filter.split("/")
    for i, part in enumerate(parts):
        if "#" in part and (part != "#" or i != len(parts) - 1):
            return False
        if "+" in part and part != "+":
            return False
    return True


@lru_cache(maxsize=4096)
def _glob(pattern: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(piece) for piece in pattern.split("*")), re.DOTALL)


def glob_match(pattern: str, value: str) -> bool:
    """`*` matches any run of characters (including `/`); everything else is literal."""
    if pattern == "*" or pattern == value:
        return True
    return "*" in pattern and _glob(pattern).fullmatch(value) is not None


def pubsub_resource_match(pattern: str, resource: str) -> bool:
    return glob_match(pattern, resource)


def mqttproxy_resource_match(pattern: str, resource: str) -> bool:
    if glob_match(pattern, resource):
        return True
    return valid_filter(pattern) and has_wildcard(pattern) and mqtt_match(pattern, resource)
