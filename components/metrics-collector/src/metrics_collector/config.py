"""The collector's configuration: keys, defaults and validation with reasons that name the key.

The same `parse_config` answers SubscribeToValidateConfigurationUpdates (ACCEPTED/REJECTED) and
builds the config applied at start and on live updates, so what is accepted is what runs.
Unknown keys are tolerated (a newer DefaultConfiguration does not remove old keys from a device);
`accessControl`, which the nucleus owns, is one of them.

`parse_config` is total: for any JSON value it returns a config or raises ConfigValueError with
the key and a reason (the document's depth and size are bounded first, intervals have maximums so
no timer overflows). `validity_reason` never raises.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from edgewatch_shared.config_values import (
    ConfigValueError,
    as_choice,
    as_int,
    as_str_list,
    check_document,
    validity_reason_for,
)
from edgewatch_shared.durations import parse_seconds
from edgewatch_shared.topics import as_topic, topic_for_thing

METRIC_GROUPS: tuple[str, ...] = (
    "cpu",
    "load",
    "memory",
    "swap",
    "disk",
    "diskio",
    "network",
    "temperature",
    "system",
    "processes",
    "collector",
    "pressure",
    "clock",
    "board",
    "greengrass",
)
PUBLISH_MODES = ("summary", "raw")
# How a sample goes on local pub/sub: JSON text in a binary message (encoded from cached series
# text, a third of the cost), or a JSON message for subscribers that read only `json_message`.
LOCAL_MESSAGE_FORMATS = ("binary", "json")
# IoT Core service limit: a payload of at most 128 KB (topic limits: edgewatch_shared.topics).
MAX_IOT_PAYLOAD_BYTES = 128 * 1024
# One day: longer intervals are typos, and a huge one would overflow the timers.
MAX_INTERVAL_SECONDS = 86_400.0
MAX_BUFFER_BYTES = 16 * 1024**3

DEFAULTS: dict[str, Any] = {
    "sampleIntervalSeconds": 10,
    "temperatureIntervalSeconds": 60,
    "iotPublishIntervalSeconds": 300,
    "iotPublishMode": "summary",
    "localTopic": "edgewatch/metrics",
    "localMessageFormat": "binary",
    "iotTopic": "dt/edgewatch/{iot:thingName}/metrics",
    "metrics": list(METRIC_GROUPS),
    "topProcesses": 0,
    "diskIncludeMounts": [],
    "diskExcludeMounts": [],
    "diskIoExcludeDevices": ["loop*", "ram*", "zram*"],
    "networkIncludeInterfaces": [],
    "networkExcludeInterfaces": ["lo"],
    "bufferMaxBytes": 20 * 1024 * 1024,
    "iotMaxPayloadBytes": 120_000,
    "healthIntervalSeconds": 30,
    "healthTopic": "edgewatch/health",
    "nucleusPid": 0,
    # The real nucleus is `java ... -jar .../Greengrass.jar`; EdgeWatch's local runtime is `edgewatch local start`
    # (or `python -m edgewatch.cli local start` when detached).
    "nucleusProcessMatch": ["Greengrass.jar", "edgewatch local start", "edgewatch.cli local start"],
}


@dataclass(frozen=True)
class CollectorConfig:
    sample_interval: float
    temperature_interval: float
    iot_publish_interval: float
    iot_publish_mode: str
    local_topic: str
    iot_topic_template: str
    metric_groups: frozenset[str]
    top_processes: int
    disk_include_mounts: tuple[str, ...]
    disk_exclude_mounts: tuple[str, ...]
    disk_io_exclude_devices: tuple[str, ...]
    network_include_interfaces: tuple[str, ...]
    network_exclude_interfaces: tuple[str, ...]
    buffer_max_bytes: int
    iot_max_payload_bytes: int
    health_interval: float = 30.0
    health_topic: str = "edgewatch/health"
    nucleus_pid: int = 0
    nucleus_process_match: tuple[str, ...] = ("Greengrass.jar", "edgewatch local start", "edgewatch.cli local start")
    local_message_format: str = "binary"

    def iot_topic(self, thing_name: str) -> str:
        return topic_for_thing(self.iot_topic_template, thing_name)


def _interval(doc: Mapping[str, Any], key: str, minimum: float) -> float:
    return parse_seconds(key, doc[key], minimum=minimum, maximum=MAX_INTERVAL_SECONDS)


def parse_config(raw: Mapping[str, Any] | None) -> CollectorConfig:
    """Defaults overlaid with `raw`; raises ConfigValueError naming the first bad key."""
    doc = {**DEFAULTS, **check_document(raw)}
    groups = as_str_list("metrics", doc["metrics"])
    unknown = [g for g in groups if g not in METRIC_GROUPS]
    if unknown:
        names = ", ".join(unknown)
        raise ConfigValueError(
            "metrics", f"unknown metric group(s) {names[:200]}; known: {', '.join(METRIC_GROUPS)}"
        )
    sample_interval = _interval(doc, "sampleIntervalSeconds", 0.1)
    publish_interval = _interval(doc, "iotPublishIntervalSeconds", 1)
    if publish_interval < sample_interval:
        raise ConfigValueError(
            "iotPublishIntervalSeconds",
            f"must be at least sampleIntervalSeconds ({sample_interval:g}), got {publish_interval:g}",
        )
    return CollectorConfig(
        sample_interval=sample_interval,
        temperature_interval=_interval(doc, "temperatureIntervalSeconds", 1),
        iot_publish_interval=publish_interval,
        iot_publish_mode=as_choice("iotPublishMode", doc["iotPublishMode"], PUBLISH_MODES),
        local_topic=as_topic("localTopic", doc["localTopic"]),
        local_message_format=as_choice("localMessageFormat", doc["localMessageFormat"], LOCAL_MESSAGE_FORMATS),
        iot_topic_template=as_topic("iotTopic", doc["iotTopic"]),
        metric_groups=frozenset(groups),
        top_processes=as_int("topProcesses", doc["topProcesses"], minimum=0, maximum=50),
        disk_include_mounts=as_str_list("diskIncludeMounts", doc["diskIncludeMounts"]),
        disk_exclude_mounts=as_str_list("diskExcludeMounts", doc["diskExcludeMounts"]),
        disk_io_exclude_devices=as_str_list("diskIoExcludeDevices", doc["diskIoExcludeDevices"]),
        network_include_interfaces=as_str_list("networkIncludeInterfaces", doc["networkIncludeInterfaces"]),
        network_exclude_interfaces=as_str_list("networkExcludeInterfaces", doc["networkExcludeInterfaces"]),
        buffer_max_bytes=as_int("bufferMaxBytes", doc["bufferMaxBytes"], minimum=256 * 1024, maximum=MAX_BUFFER_BYTES),
        iot_max_payload_bytes=as_int(
            "iotMaxPayloadBytes", doc["iotMaxPayloadBytes"], minimum=4096, maximum=MAX_IOT_PAYLOAD_BYTES
        ),
        health_interval=_interval(doc, "healthIntervalSeconds", 1),
        health_topic=as_topic("healthTopic", doc["healthTopic"]),
        nucleus_pid=as_int("nucleusPid", doc["nucleusPid"], minimum=0, maximum=2**22),
        nucleus_process_match=_matches(doc["nucleusProcessMatch"]),
    )


def _matches(value: Any) -> tuple[str, ...]:
    matches = as_str_list("nucleusProcessMatch", value)
    if len(matches) > 16 or any(not m or len(m) > 256 for m in matches):
        raise ConfigValueError(
            "nucleusProcessMatch", "must hold at most 16 non-empty strings of at most 256 characters each"
        )
    return matches


# None when a proposed configuration is acceptable, else the reason (starting with the key) to report.
validity_reason = validity_reason_for(parse_config)
