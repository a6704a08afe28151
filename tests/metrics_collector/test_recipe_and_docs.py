from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from metrics_collector.config import DEFAULTS
from metrics_collector.health import HEALTH_METRICS
from metrics_collector.metric_table import SYSTEM_METRICS

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "recipes" / "com.edgewatch.MetricsCollector.yaml"
README = ROOT / "components" / "metrics-collector" / "README.md"
SCHEMA = Path("/work/shared/greengrass/recipe_schema.json")


def lower_keys(node: Any) -> Any:
    if isinstance(node, dict):
        return {k.lower(): lower_keys(v) for k, v in node.items()}
    if isinstance(node, list):
        return [lower_keys(v) for v in node]
    return node


def recipe() -> dict[str, Any]:
    return yaml.safe_load(RECIPE.read_text())


def test_recipe_is_valid_small_and_covers_three_architectures() -> None:
    text = RECIPE.read_text()
    assert len(text.encode()) < 16_000
    doc = recipe()
    if SCHEMA.exists():
        # Keys compared lower-cased, as GDK does; configuration values keep their case.
        lowered = lower_keys({k: v for k, v in doc.items() if k != "ComponentConfiguration"})
        jsonschema.validate(lowered, json.loads(SCHEMA.read_text()))
    assert doc["RecipeFormatVersion"] == "2020-01-25"
    platforms = {(m["Platform"]["os"], m["Platform"]["architecture"]) for m in doc["Manifests"]}
    assert platforms == {("linux", "amd64"), ("linux", "aarch64"), ("linux", "arm")}
    for manifest in doc["Manifests"]:
        [artifact] = manifest["Artifacts"]
        assert artifact["URI"].endswith("/metrics-collector.zip") and artifact["Unarchive"] == "ZIP"
    install = doc["Lifecycle"]["Install"]["Script"]
    assert "EDGEWATCH_PYTHON" in install and "sha256sum" in install
    assert "-m metrics_collector" in doc["Lifecycle"]["Run"]["Script"]


def test_access_control_grants_exactly_the_default_topics() -> None:
    access = recipe()["ComponentConfiguration"]["DefaultConfiguration"]["accessControl"]
    [pubsub] = access["aws.greengrass.ipc.pubsub"].values()
    [mqtt] = access["aws.greengrass.ipc.mqttproxy"].values()
    assert set(access) == {"aws.greengrass.ipc.pubsub", "aws.greengrass.ipc.mqttproxy"}
    assert (pubsub["operations"], pubsub["resources"]) == (
        ["aws.greengrass#PublishToTopic"], [DEFAULTS["localTopic"], DEFAULTS["healthTopic"]]
    )
    assert (mqtt["operations"], mqtt["resources"]) == (["aws.greengrass#PublishToIoTCore"], [DEFAULTS["iotTopic"]])


def test_readme_documents_every_metric_and_key() -> None:
    readme = README.read_text()
    missing = [s.name for s in (*SYSTEM_METRICS, *HEALTH_METRICS) if f"`{s.name}`" not in readme]
    missing += [key for key in DEFAULTS if f"`{key}`" not in readme]
    assert missing == []
