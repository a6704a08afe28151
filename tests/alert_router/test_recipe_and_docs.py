from __future__ import annotations

from pathlib import Path

import yaml
from alert_router.config import DEFAULTS, parse_config

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "recipes" / "com.edgewatch.AlertRouter.yaml"


def test_recipe_defaults_match_code_and_access_is_least_privilege() -> None:
    recipe = yaml.safe_load(RECIPE.read_text())
    defaults = dict(recipe["ComponentConfiguration"]["DefaultConfiguration"])
    access = defaults.pop("accessControl")
    assert defaults == DEFAULTS
    parse_config(defaults)
    grants = {(svc, op, res) for svc, policies in access.items() for p in policies.values()
              for op in p["operations"] for res in p["resources"]}  # fmt: skip
    assert grants == {
        ("aws.greengrass.ipc.pubsub", "aws.greengrass#SubscribeToTopic", "edgewatch/metrics"),
        ("aws.greengrass.ipc.pubsub", "aws.greengrass#SubscribeToTopic", "edgewatch/silences"),
        ("aws.greengrass.ipc.pubsub", "aws.greengrass#PublishToTopic", "edgewatch/alerts"),
        ("aws.greengrass.ipc.mqttproxy", "aws.greengrass#PublishToIoTCore", "dt/edgewatch/{iot:thingName}/alerts"),
        ("aws.greengrass.SecretManager", "aws.greengrass#GetSecretValue",
         "arn:aws:secretsmanager:*:*:secret:edgewatch/slack-*"),
    }  # fmt: skip
    assert [m["Platform"]["architecture"] for m in recipe["Manifests"]] == ["amd64", "aarch64", "arm"]
    assert (ROOT / "components" / "alert-router" / "recipe.yaml").is_symlink()


def test_readme_documents_every_key() -> None:
    readme = (ROOT / "components" / "alert-router" / "README.md").read_text()
    for key in DEFAULTS:
        assert f"`{key}`" in readme, key
