"""Pure rendering: versions, publish recipes, nucleus config.yaml, deployment documents, progress."""

from __future__ import annotations

import io
import json
import re

import pytest
import yaml

from edgewatch.cloud import versions
from edgewatch.cloud.deployment_doc import (
    DeploymentDocError,
    parse_override,
    render_deployment,
    substitute,
    target_kind,
)
from edgewatch.cloud.model import RequestShapeError, validate_request
from edgewatch.cloud.nucleus_config import NucleusSettings, nucleus_config, render_config_yaml
from edgewatch.cloud.progress import LineWriter, UploadProgress, rollout_line
from edgewatch.cloud.recipes import bucket_name, recipe_bytes, render_publish_recipe
from edgewatch.cloud.rollout import Snapshot, evaluate


@pytest.mark.parametrize(
    ("published", "expected"),
    [
        ([], "1.0.0"),
        (["0.1.0"], "0.1.1"),
        (["1.0.9", "1.0.10", "1.0.2"], "1.0.11"),  # numeric, not lexical
        (["2.0.0-rc.1", "1.4.0"], "2.0.1"),
        (["1.2.3", "not-a-version"], "1.2.4"),
    ],
)
def test_next_patch_follows_the_highest_published_version(published: list[str], expected: str) -> None:
    assert versions.next_patch(published) == expected


def test_release_sorts_after_its_prerelease_and_bad_versions_are_refused() -> None:
    assert versions.latest(["1.0.0-beta", "1.0.0", "1.0.0-alpha"]) == "1.0.0"
    assert versions.resolve_version(None, "0.1.0", None) == "0.1.0"
    assert versions.resolve_version("NEXT_PATCH", "0.1.0", ["0.3.4"]) == "0.3.5"
    with pytest.raises(ValueError, match=r"X\.Y\.Z"):
        versions.resolve_version("1.2", "0.1.0", None)
    with pytest.raises(ValueError, match="NEXT_PATCH needs"):
        versions.resolve_version("NEXT_PATCH", "0.1.0", None)


BUILT_RECIPE = {
    "RecipeFormatVersion": "2020-01-25",
    "ComponentName": "com.edgewatch.MetricsCollector",
    "ComponentVersion": "0.1.0",
    "Manifests": [
        {
            "Platform": {"os": "linux"},
            "Artifacts": [
                {"URI": "s3://BUCKET_NAME/COMPONENT_NAME/COMPONENT_VERSION/metrics-collector.zip", "Unarchive": "ZIP"},
                {"URI": "docker:example/image:1"},
            ],
        }
    ],
}


def test_publish_recipe_gets_bucket_name_and_version_and_leaves_the_source_alone() -> None:
    bucket = bucket_name("edgewatch-components", "eu-west-1", "123456789012")
    assert bucket == "edgewatch-components-eu-west-1-123456789012"
    out = render_publish_recipe(BUILT_RECIPE, bucket, "0.1.7")
    assert out["ComponentVersion"] == "0.1.7"
    uris = [a["URI"] for a in out["Manifests"][0]["Artifacts"]]
    assert uris == [
        f"s3://{bucket}/com.edgewatch.MetricsCollector/0.1.7/metrics-collector.zip",
        "docker:example/image:1",
    ]
    assert BUILT_RECIPE["ComponentVersion"] == "0.1.0"  # a copy was rendered
    request = {"inlineRecipe": recipe_bytes(out)}
    validate_request("greengrassv2", "CreateComponentVersion", request)
    assert json.loads(request["inlineRecipe"])["ComponentVersion"] == "0.1.7"


def test_recipe_over_16000_bytes_is_refused() -> None:
    big = dict(BUILT_RECIPE, ComponentDescription="x" * 17_000)
    with pytest.raises(ValueError, match="16,000"):
        recipe_bytes(big)


SETTINGS = NucleusSettings(
    thing_name="gw-01",
    region="eu-west-1",
    role_alias="EdgeWatchTokenExchangeRoleAlias",
    data_endpoint="abc-ats.iot.eu-west-1.amazonaws.com",
    cred_endpoint="abc.credentials.iot.eu-west-1.amazonaws.com",
)


def test_nucleus_config_defaults() -> None:
    doc = yaml.safe_load(render_config_yaml(SETTINGS))
    assert doc["system"] == {
        "certificateFilePath": "/greengrass/v2/device.pem.crt",
        "privateKeyPath": "/greengrass/v2/private.pem.key",
        "rootCaPath": "/greengrass/v2/AmazonRootCA1.pem",
        "rootpath": "/greengrass/v2",
        "thingName": "gw-01",
    }
    nucleus = doc["services"]["aws.greengrass.Nucleus"]
    assert nucleus["componentType"] == "NUCLEUS"
    assert nucleus["configuration"] == {
        "awsRegion": "eu-west-1",
        "iotRoleAlias": "EdgeWatchTokenExchangeRoleAlias",
        "iotDataEndpoint": "abc-ats.iot.eu-west-1.amazonaws.com",
        "iotCredEndpoint": "abc.credentials.iot.eu-west-1.amazonaws.com",
    }


def test_nucleus_config_port_443_and_private_endpoint() -> None:
    from dataclasses import replace

    conf = nucleus_config(replace(SETTINGS, port_443=True, private_data_endpoint=True))["services"][
        "aws.greengrass.Nucleus"
    ]["configuration"]
    assert conf["mqtt"] == {"port": 443}
    assert conf["greengrassDataPlanePort"] == 443
    assert conf["greengrassDataPlaneEndpoint"] == "iotdata"
    assert conf["s3EndpointType"] == "REGIONAL"


TEMPLATE = {
    "targetArn": "arn:aws:iot:{{AWS_REGION}}:{{AWS_ACCOUNT_ID}}:thinggroup/{{THING_GROUP}}",
    "deploymentName": "edgewatch-{{THING_GROUP}}",
    "components": {
        "com.edgewatch.MetricsCollector": {
            "componentVersion": "0.1.0",
            "configurationUpdate": {"merge": '{"sampleIntervalSeconds":10}'},
        },
        "com.edgewatch.AlertRouter": {"componentVersion": "0.1.0"},
    },
}
VALUES = {"AWS_REGION": "eu-west-1", "AWS_ACCOUNT_ID": "123456789012", "THING_GROUP": "plant-a"}


def test_render_deployment_fills_placeholders_pins_versions_and_merges_overrides() -> None:
    overrides = [
        parse_override("com.edgewatch.MetricsCollector:/sampleIntervalSeconds=30"),
        parse_override('com.edgewatch.MetricsCollector:/disk/exclude=["/boot"]'),
        parse_override("com.edgewatch.AlertRouter:/slack/channel=#ops"),
    ]
    params = render_deployment(
        TEMPLATE, VALUES, {"com.edgewatch.MetricsCollector": "0.1.4", "com.edgewatch.AlertRouter": "0.2.0"}, overrides
    )
    assert params["targetArn"] == "arn:aws:iot:eu-west-1:123456789012:thinggroup/plant-a"
    assert params["deploymentName"] == "edgewatch-plant-a"
    mc = params["components"]["com.edgewatch.MetricsCollector"]
    assert mc["componentVersion"] == "0.1.4"
    assert json.loads(mc["configurationUpdate"]["merge"]) == {
        "sampleIntervalSeconds": 30,
        "disk": {"exclude": ["/boot"]},
    }
    ar = params["components"]["com.edgewatch.AlertRouter"]
    assert json.loads(ar["configurationUpdate"]["merge"]) == {"slack": {"channel": "#ops"}}
    assert TEMPLATE["components"]["com.edgewatch.AlertRouter"] == {"componentVersion": "0.1.0"}  # not mutated


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("com.edgewatch.MetricsCollector/x=1", "expected COMPONENT"),
        ("com.edgewatch.MetricsCollector:x=1", "expected COMPONENT"),
        ("com.edgewatch.MetricsCollector:/x", "expected COMPONENT"),
    ],
)
def test_bad_override_specs(spec: str, message: str) -> None:
    with pytest.raises(DeploymentDocError, match=message):
        parse_override(spec)


def test_override_of_a_component_not_in_the_document_and_missing_placeholders() -> None:
    with pytest.raises(DeploymentDocError, match="not in the deployment"):
        render_deployment(TEMPLATE, VALUES, None, [parse_override("com.other.X:/a=1")])
    with pytest.raises(DeploymentDocError, match=r"\{\{THING_GROUP\}\}"):
        substitute(TEMPLATE, {"AWS_REGION": "eu-west-1", "AWS_ACCOUNT_ID": "1"})


def test_rendered_requests_are_checked_against_the_botocore_model() -> None:
    bad = json.loads(json.dumps(TEMPLATE))
    bad["deploymentPolicies"] = {"failureHandlingPolicy": "ROLLBACK_PLEASE"}
    with pytest.raises(RequestShapeError, match="ROLLBACK_PLEASE"):
        render_deployment(bad, VALUES)
    with pytest.raises(RequestShapeError, match="targetArn"):
        render_deployment(TEMPLATE, dict(VALUES, AWS_ACCOUNT_ID="not-an-account"))
    with pytest.raises(RequestShapeError, match="baseRatePerMinute"):
        validate_request(
            "greengrassv2",
            "CreateDeployment",
            {
                "targetArn": "arn:aws:iot:eu-west-1:123456789012:thinggroup/g",
                "iotJobConfiguration": {
                    "jobExecutionsRolloutConfig": {
                        "exponentialRate": {
                            "baseRatePerMinute": 5000,
                            "incrementFactor": 2.0,
                            "rateIncreaseCriteria": {"numberOfSucceededThings": 10},
                        }
                    }
                },
            },
        )


def test_target_kind() -> None:
    assert target_kind("arn:aws:iot:eu-west-1:123456789012:thinggroup/a/b") == ("thinggroup", "a/b")
    assert target_kind("arn:aws:iot:eu-west-1:123456789012:thing/gw-1") == ("thing", "gw-1")
    with pytest.raises(DeploymentDocError):
        target_kind("arn:aws:s3:::bucket")


def test_upload_progress_plain_text_prints_quarters_only() -> None:
    out = io.StringIO()
    progress = UploadProgress("s3://b/k", 1000, out, tty=False)
    for _ in range(10):
        progress(100)
    lines = out.getvalue().splitlines()
    # One line when the upload starts, then one per quarter crossed; never one per chunk.
    assert [re.search(r"(\d+)%", line).group(1) for line in lines] == ["10", "30", "50", "80", "100"]
    assert "\r" not in out.getvalue()


def test_upload_progress_on_a_tty_redraws_one_line() -> None:
    out = io.StringIO()
    progress = UploadProgress("s3://b/k", 200, out, tty=True)
    progress(100)
    progress(100)
    assert out.getvalue().count("\r") == 2
    assert out.getvalue().endswith("100% 200 B/200 B\n")


def test_rollout_line_and_writer() -> None:
    line = rollout_line({"SUCCEEDED": 50, "FAILED": 2, "IN_PROGRESS": 10}, 100, "IN_PROGRESS")
    assert "52/100" in line and "succeeded=50" in line and "failed=2" in line and "in_progress=10" in line
    out = io.StringIO()
    writer = LineWriter(out, tty=False)
    writer.update("a")
    writer.update("a")  # unchanged: not repeated
    writer.update("b")
    writer.finish()
    assert out.getvalue() == "a\nb\n"


@pytest.mark.parametrize(
    ("snapshot", "state"),
    [
        (Snapshot("ACTIVE", "IN_PROGRESS", {"SUCCEEDED": 5, "QUEUED": 5}, 10), None),
        (Snapshot("ACTIVE", "IN_PROGRESS", {"SUCCEEDED": 10}, 10), "SUCCEEDED"),
        (Snapshot("ACTIVE", "IN_PROGRESS", {"SUCCEEDED": 9, "FAILED": 1}, 10), "FAILED"),
        (Snapshot("ACTIVE", "CANCELED", {"SUCCEEDED": 90, "FAILED": 10}, 1000, "ABORT"), "ABORTED"),
        (Snapshot("CANCELED", "CANCELED", {}, 10), "CANCELED"),
        (Snapshot("ACTIVE", None, {}, 0), None),
        (Snapshot("COMPLETED", "COMPLETED", {"SUCCEEDED": 1}, 1), "SUCCEEDED"),
    ],
)
def test_rollout_evaluation(snapshot: Snapshot, state: str | None) -> None:
    outcome = evaluate(snapshot)
    assert (outcome.state if outcome else None) == state
