from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from metrics_collector.config import DEFAULTS, parse_config, validity_reason

from edgewatch_shared.config_values import ConfigValueError

RECIPE = Path(__file__).resolve().parents[2] / "recipes" / "com.edgewatch.MetricsCollector.yaml"


def test_defaults_parse_and_match_the_recipe() -> None:
    config = parse_config(None)
    assert config.sample_interval == 10.0
    assert config.iot_publish_interval == 300.0
    assert config.local_topic == "edgewatch/metrics"
    assert config.iot_topic("gw-01") == "dt/edgewatch/gw-01/metrics"
    recipe_defaults = yaml.safe_load(RECIPE.read_text())["ComponentConfiguration"]["DefaultConfiguration"]
    recipe_defaults.pop("accessControl")
    assert recipe_defaults == DEFAULTS


@pytest.mark.parametrize(
    ("update", "seconds"),
    [({"sampleIntervalSeconds": 5}, 5.0), ({"sampleIntervalSeconds": 2.5}, 2.5),
     ({"sampleIntervalSeconds": "5"}, 5.0), ({"sampleIntervalSeconds": "2.5"}, 2.5),
     ({"sampleIntervalSeconds": 5.0}, 5.0)],
)  # fmt: skip
def test_durations_accept_numbers_floats_and_strings(update: dict[str, object], seconds: float) -> None:
    assert parse_config(update).sample_interval == seconds


@pytest.mark.parametrize(
    ("update", "key", "fragment"),
    [
        ({"sampleIntervalSeconds": -1}, "sampleIntervalSeconds", "negative"),
        ({"sampleIntervalSeconds": 0}, "sampleIntervalSeconds", "greater than 0"),
        ({"sampleIntervalSeconds": "fast"}, "sampleIntervalSeconds", "number"),
        ({"sampleIntervalSeconds": True}, "sampleIntervalSeconds", "boolean"),
        ({"iotPublishIntervalSeconds": -300}, "iotPublishIntervalSeconds", "negative"),
        ({"sampleIntervalSeconds": 60, "iotPublishIntervalSeconds": 30}, "iotPublishIntervalSeconds", "at least"),
        ({"temperatureIntervalSeconds": "x"}, "temperatureIntervalSeconds", "number"),
        ({"metrics": ["cpu", "gpu"]}, "metrics", "unknown metric group(s) gpu"),
        ({"metrics": "cpu"}, "metrics", "list"),
        ({"iotPublishMode": "zip"}, "iotPublishMode", "summary, raw"),
        ({"localTopic": "edgewatch/#"}, "localTopic", "wildcards"),
        ({"localTopic": ""}, "localTopic", "empty"),
        ({"iotTopic": "a/b/c/d/e/f/g/h/i"}, "iotTopic", "slashes"),
        ({"topProcesses": 2.5}, "topProcesses", "whole number"),
        ({"topProcesses": -1}, "topProcesses", "at least 0"),
        ({"bufferMaxBytes": 10}, "bufferMaxBytes", "at least"),
        ({"iotMaxPayloadBytes": 200_000}, "iotMaxPayloadBytes", "at most 131072"),
        ({"networkExcludeInterfaces": ["lo", 3]}, "networkExcludeInterfaces[1]", "string"),
        ({"nucleusPid": -1}, "nucleusPid", "at least 0"),
        ({"nucleusPid": "java"}, "nucleusPid", "number"),
        ({"nucleusProcessMatch": "Greengrass.jar"}, "nucleusProcessMatch", "list"),
        ({"nucleusProcessMatch": [""]}, "nucleusProcessMatch", "non-empty"),
        ({"nucleusProcessMatch": ["x" * 257]}, "nucleusProcessMatch", "256 characters"),
        ({"nucleusProcessMatch": ["a"] * 17}, "nucleusProcessMatch", "at most 16"),
    ],
)
def test_invalid_values_are_rejected_with_a_reason_naming_the_key(
    update: dict[str, object], key: str, fragment: str
) -> None:
    with pytest.raises(ConfigValueError) as caught:
        parse_config(update)
    assert caught.value.key == key
    assert fragment in caught.value.reason
    reason = validity_reason(update)
    assert reason is not None and reason.startswith(f"{key}: ")


def test_unknown_keys_and_access_control_are_tolerated() -> None:
    assert validity_reason({"someOldKey": 1, "accessControl": {"x": {}}}) is None


def test_new_groups_and_nucleus_keys_parse() -> None:
    config = parse_config({"metrics": ["pressure", "clock", "board", "greengrass"], "nucleusPid": 4242,
                           "nucleusProcessMatch": ["greengrass.jar"]})  # fmt: skip
    assert config.metric_groups == {"pressure", "clock", "board", "greengrass"}
    assert (config.nucleus_pid, config.nucleus_process_match) == (4242, ("greengrass.jar",))
    defaults = parse_config(None)
    assert {"pressure", "clock", "board", "greengrass"} <= defaults.metric_groups
    assert "Greengrass.jar" in defaults.nucleus_process_match
