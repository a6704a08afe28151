"""deployment/deployments/*.json: usable with `aws greengrassv2 create-deployment --cli-input-json`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgewatch.build.gdkconfig import load_suite_config
from edgewatch.cloud.deployment_doc import placeholders, render_deployment
from edgewatch.cloud.model import validate_request

REPO = Path(__file__).resolve().parents[2]
DOCS = sorted((REPO / "deployment" / "deployments").glob("*.json"))
VALUES = {"AWS_REGION": "eu-west-1", "AWS_ACCOUNT_ID": "123456789012", "THING_GROUP": "plant-a", "THING_NAME": "gw-1"}


def test_there_is_a_dev_and_a_fleet_document() -> None:
    assert {p.name for p in DOCS} >= {"dev-thing.json", "fleet-thing-group.json"}


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_document_validates_against_create_deployment_after_substitution(path: Path) -> None:
    template = json.loads(path.read_text(encoding="utf-8"))
    params = render_deployment(template, VALUES)
    validate_request("greengrassv2", "CreateDeployment", params)  # the exact --cli-input-json content
    assert "{{" not in json.dumps(params)
    for spec in params["components"].values():
        json.loads(spec["configurationUpdate"]["merge"])  # merge is a JSON document in a string


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_placeholders_are_documented_and_versions_follow_gdk_config(path: Path) -> None:
    template = json.loads(path.read_text(encoding="utf-8"))
    guide = (REPO / "README.md").read_text(encoding="utf-8")
    for name in placeholders(template):
        assert f"{{{{{name}}}}}" in guide, f"{{{{{name}}}}} used in {path.name} but not documented in README.md"
    version = load_suite_config(REPO).version
    assert {c["componentVersion"] for c in template["components"].values()} == {version}


def test_fleet_defaults_are_sized_for_thousands_of_devices() -> None:
    doc = json.loads((REPO / "deployment" / "deployments" / "fleet-thing-group.json").read_text(encoding="utf-8"))
    policies = doc["deploymentPolicies"]
    assert policies["failureHandlingPolicy"] == "ROLLBACK"
    assert policies["componentUpdatePolicy"]["action"] == "NOTIFY_COMPONENTS"
    assert policies["configurationValidationPolicy"]["timeoutInSeconds"] > 0
    job = doc["iotJobConfiguration"]
    exp = job["jobExecutionsRolloutConfig"]["exponentialRate"]
    assert exp["baseRatePerMinute"] <= 20 and exp["incrementFactor"] > 1  # start small, speed up
    assert job["jobExecutionsRolloutConfig"]["maximumPerMinute"] >= 100  # 5,000 devices in well under an hour
    criteria = job["abortConfig"]["criteriaList"]
    assert {c["failureType"] for c in criteria} >= {"FAILED", "TIMED_OUT"}
    assert all(c["minNumberOfExecutedThings"] >= 50 for c in criteria)  # a few early failures do not abort
    assert job["timeoutConfig"]["inProgressTimeoutInMinutes"] > 0
