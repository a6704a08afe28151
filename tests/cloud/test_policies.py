"""Policies: the linter, every policy in deployment/, every policy the CLI generates."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from edgewatch.cloud import policies
from edgewatch.cloud.policy_lint import THING_VAR, lint_policy

REPO = Path(__file__).resolve().parents[2]
DEPLOYMENT = REPO / "deployment"
SAMPLE = {
    "AWS_REGION": "eu-west-1",
    "AWS_ACCOUNT_ID": "123456789012",
    "ROLE_ALIAS": "EdgeWatchTokenExchangeRoleAlias",
    "ARTIFACT_BUCKET": "edgewatch-components-eu-west-1-123456789012",
    "BUCKET_PREFIX": "edgewatch-components",
    "VPC_ENDPOINT_ID": "vpce-0123456789abcdef0",
    "TEMPLATE_NAME": "EdgeWatchFleetProvisioning",
    "THING_GROUP": "plant-a",
    "POLICY_NAME": "EdgeWatchCoreDevicePolicy",
}
SCOPE = policies.Scope("eu-west-1", "123456789012")
FLEET_READER_FILES = ("core-device-iot-policy-hub.json", "fleet-watch-policy.json", "fleet-watch-iot-policy.json")


def fill(text: str) -> str:
    return re.sub(r"\{\{([A-Z_]+)\}\}", lambda m: SAMPLE[m.group(1)], text)


def policy_files() -> list[Path]:
    found = [p for p in sorted(DEPLOYMENT.rglob("*.json")) if "Statement" in json.loads(p.read_text(encoding="utf-8"))]
    assert len(found) >= 7  # device (x2), role alias, trust, access, operator, claim, provisioning trust
    return found


def test_deployment_files_are_in_sync_with_the_renderers() -> None:
    for rel, doc in policies.placeholder_files().items():
        path = DEPLOYMENT / rel
        assert path.is_file(), f"{rel} missing: run python -m edgewatch.cloud.policies --write deployment"
        assert path.read_text(encoding="utf-8") == policies.dumps(doc), (
            f"{rel} is stale: run python -m edgewatch.cloud.policies --write deployment"
        )


@pytest.mark.parametrize("path", policy_files(), ids=lambda p: str(p.relative_to(DEPLOYMENT)))
def test_every_policy_in_deployment_passes_the_linter(path: Path) -> None:
    doc = json.loads(fill(path.read_text(encoding="utf-8")))
    assert "{{" not in json.dumps(doc)
    assert lint_policy(doc, allow_any_client=path.name == "claim-policy.json",
                       fleet_reader=path.name in FLEET_READER_FILES) == []


@pytest.mark.parametrize(
    "doc",
    [
        policies.core_device_policy(SCOPE),
        policies.core_device_policy(SCOPE, "Alias", source_vpce="vpce-1"),
        policies.role_alias_policy(SCOPE),
        policies.token_exchange_trust_policy(),
        policies.token_exchange_access_policy(SCOPE, "bucket-eu-west-1-123456789012"),
        policies.operator_policy(SCOPE, "edgewatch-components"),
        policies.provisioning_role_trust_policy(),
    ],
)
def test_every_generated_policy_passes_the_linter(doc: dict[str, Any]) -> None:
    assert lint_policy(doc) == []


def test_claim_policy_needs_the_claim_exception_and_only_has_provisioning_topics() -> None:
    doc = policies.claim_policy(SCOPE)
    assert lint_policy(doc, allow_any_client=True) == []
    assert any("client '*'" in p for p in lint_policy(doc))
    for st in doc["Statement"][1:]:
        for resource in st["Resource"]:
            assert "create-from-csr" in resource or "/provision/json" in resource


def _stmt(action: Any, resource: Any) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": action, "Resource": resource}]}


ARN = "arn:aws:iot:eu-west-1:123456789012"


@pytest.mark.parametrize(
    ("doc", "fragment"),
    [
        (_stmt("iot:*", f"{ARN}:topic/dt/edgewatch/{THING_VAR}/x"), "wildcard action 'iot:*'"),
        (_stmt("*", f"{ARN}:topic/dt/edgewatch/{THING_VAR}/x"), "wildcard action '*'"),
        (_stmt("iot:Publish", "*"), "'*' resource"),
        (_stmt("iot:Connect", f"{ARN}:*"), "covers every resource"),
        (_stmt("s3:GetObject", "arn:aws:s3:::*"), "covers every resource"),
        (_stmt("iot:Publish", f"{ARN}:topic/dt/edgewatch/*"), "another device"),
        (_stmt("iot:Subscribe", f"{ARN}:topicfilter/dt/edgewatch/+/metrics"), "another device"),
        (_stmt("iot:Subscribe", f"{ARN}:topicfilter/dt/edgewatch/#"), "another device"),
        (_stmt("iot:Receive", f"{ARN}:topic/dt/edgewatch/gw-02/metrics"), "another device"),
        (_stmt("iot:Publish", f"{ARN}:topic/*/{THING_VAR}/x"), "another device"),
        (_stmt("iot:Publish", f"{ARN}:topic/$aws/things/{THING_VAR}x/shadow/get"), "another device"),
        (_stmt("iot:Connect", f"{ARN}:client/*"), "own thing name"),
        (_stmt("iot:Connect", f"{ARN}:client/{THING_VAR}*"), "own thing name"),
        (
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": "iot:Connect", "Resource": f"{ARN}:client/{THING_VAR}"},
                    {"Effect": "Allow", "Action": "iot:UpdateThingShadow", "Resource": f"{ARN}:thing/*"},
                ],
            },
            "shadow access",
        ),
        (
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "NotAction": "iam:*", "Resource": "x"}]},
            "NotAction",
        ),
    ],
)
def test_linter_rejects_overly_permissive_policies(doc: dict[str, Any], fragment: str) -> None:
    problems = lint_policy(doc)
    assert problems and any(fragment in p for p in problems), problems


def test_linter_accepts_own_topics_and_allowlisted_star_actions() -> None:
    assert lint_policy(_stmt("iot:Publish", f"{ARN}:topic/dt/edgewatch/{THING_VAR}/alerts")) == []
    assert lint_policy(_stmt(["iot:DescribeEndpoint", "iot:CreateKeysAndCertificate"], "*")) == []
    # A deny may be as broad as it likes.
    deny = {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}]}
    assert lint_policy(deny) == []


def test_device_policy_scopes_everything_to_the_connecting_thing() -> None:
    doc = policies.core_device_policy(SCOPE, "MyAlias", source_vpce="vpce-42")
    by_sid = {st["Sid"]: st for st in doc["Statement"]}
    connect = by_sid["ConnectAsOwnThingName"]
    assert connect["Resource"] == [f"{ARN}:client/{THING_VAR}", f"{ARN}:client/{THING_VAR}#*"]
    assert connect["Condition"]["StringEquals"] == {"aws:SourceVpce": "vpce-42"}
    assert connect["Condition"]["Bool"] == {"iot:Connection.Thing.IsAttached": "true"}
    assert by_sid["TokenExchangeRoleAlias"]["Resource"] == f"{ARN}:rolealias/MyAlias"
    for sid in ("PublishReceiveOwnTopics", "SubscribeOwnTopics"):
        assert all(THING_VAR in r for r in by_sid[sid]["Resource"])
    assert "Condition" not in policies.core_device_policy(SCOPE)["Statement"][0].get("Condition", {}).get(
        "StringEquals", {}
    )


def test_token_exchange_role_reads_only_the_artifact_bucket_and_writes_greengrass_logs() -> None:
    doc = policies.token_exchange_access_policy(SCOPE, "my-bucket")
    actions = {
        a for st in doc["Statement"] for a in ([st["Action"]] if isinstance(st["Action"], str) else st["Action"])
    }
    assert {a.split(":")[0] for a in actions} == {"s3", "logs"}
    s3_resources = {st["Resource"] for st in doc["Statement"] if str(st["Action"]).startswith("s3:")}
    assert s3_resources == {"arn:aws:s3:::my-bucket/*", "arn:aws:s3:::my-bucket"}
    assert policies.token_exchange_trust_policy()["Statement"][0]["Principal"] == {
        "Service": "credentials.iot.amazonaws.com"
    }


def test_fleet_provisioning_template_fixes_the_group_and_uses_the_shared_policy() -> None:
    doc = policies.fleet_provisioning_template("plant-a", "EdgeWatchCoreDevicePolicy")
    resources = doc["Resources"]
    assert resources["EdgeWatchThing"]["Properties"]["ThingGroups"] == ["plant-a"]
    assert resources["EdgeWatchPolicy"]["Properties"] == {"PolicyName": "EdgeWatchCoreDevicePolicy"}
    assert "ThingGroupName" not in doc["Parameters"]  # devices cannot choose their group


def test_fleet_provisioning_template_takes_what_the_pre_provisioning_hook_overrides() -> None:
    from edgewatch_lambdas import preprovision_hook

    doc = policies.fleet_provisioning_template("plant-a")
    thing = doc["Resources"]["EdgeWatchThing"]["Properties"]
    assert thing["ThingTypeName"] == {"Ref": "ThingTypeName"}
    assert doc["Parameters"]["ThingTypeName"]["Default"] == "EdgeWatchGateway"
    # Every parameter the hook may override or read is declared, so AWS can substitute it.
    hook_names = {"ThingTypeName", "ProvisionedBy", *preprovision_hook.ATTRIBUTE_PARAMETERS,
                  preprovision_hook.TOKEN_PARAMETER, preprovision_hook.THING_NAME_PARAMETER}  # fmt: skip
    assert hook_names <= set(doc["Parameters"])
    refs = {v["Ref"] for v in thing["AttributePayload"].values()}
    assert refs == {"Site", "Model", "ProvisionedBy"}
    assert set(thing["AttributePayload"]) == {"site", "model", "provisionedBy"}  # the searchable names


def test_hub_policy_is_the_device_policy_plus_only_reading_the_fleet() -> None:
    device, hub = policies.core_device_policy(SCOPE), policies.hub_device_policy(SCOPE)
    added = hub["Statement"][len(device["Statement"]):]
    assert hub["Statement"][: len(device["Statement"])] == device["Statement"]
    assert {(st["Sid"], st["Action"]) for st in added} == {("SubscribeFleetTopics", "iot:Subscribe"),
                                                           ("ReceiveFleetTopics", "iot:Receive")}
    assert f"{ARN}:topicfilter/dt/edgewatch/+/metrics" in added[0]["Resource"]
    assert f"{ARN}:topic/dt/edgewatch/*/alerts" in added[1]["Resource"]
    assert lint_policy(hub, fleet_reader=True) == []
    assert any("another device" in p for p in lint_policy(hub))  # the exception is explicit, never implied


def test_fleet_watch_policy_connects_as_fleet_watch_reads_the_fleet_and_finds_the_endpoint() -> None:
    doc = policies.fleet_watch_policy(SCOPE)
    by_sid = {st["Sid"]: st for st in doc["Statement"]}
    assert set(by_sid) == {"ConnectAsFleetWatch", "SubscribeFleetTopics", "ReceiveFleetTopics", "FindTheDataEndpoint"}
    assert by_sid["ConnectAsFleetWatch"]["Resource"] == f"{ARN}:client/edgewatch-fleet-watch-*"
    assert by_sid["FindTheDataEndpoint"] == {"Sid": "FindTheDataEndpoint", "Effect": "Allow",
                                             "Action": "iot:DescribeEndpoint", "Resource": "*"}
    actions = {st["Action"] for st in doc["Statement"]}
    assert actions == {"iot:Connect", "iot:Subscribe", "iot:Receive", "iot:DescribeEndpoint"}  # no Publish
    assert lint_policy(doc, fleet_reader=True) == []
    iot_doc = policies.fleet_watch_policy(SCOPE, iam=False)
    assert "FindTheDataEndpoint" not in {st["Sid"] for st in iot_doc["Statement"]}
    assert lint_policy(iot_doc, fleet_reader=True) == []


@pytest.mark.parametrize(
    ("doc", "fragment"),
    [
        (_stmt("iot:Publish", f"{ARN}:topic/dt/edgewatch/*/metrics"), "may only be read"),
        (_stmt(["iot:Receive", "iot:Publish"], f"{ARN}:topic/dt/edgewatch/*/alerts"), "may only be read"),
        (_stmt("iot:Subscribe", f"{ARN}:topicfilter/dt/edgewatch/#"), "another device"),
        (_stmt("iot:Receive", f"{ARN}:topic/dt/edgewatch/*/commands"), "another device"),
        (_stmt("iot:Connect", f"{ARN}:client/*"), "own thing name"),
        (_stmt("iot:Connect", f"{ARN}:client/edgewatch-*"), "own thing name"),
    ],
)
def test_the_fleet_reader_exception_is_narrow(doc: dict[str, Any], fragment: str) -> None:
    problems = lint_policy(doc, fleet_reader=True)
    assert problems and any(fragment in p for p in problems), problems


def _allows(doc: dict[str, Any], action: str, resource: str, thing: str) -> bool:
    """IoT policy evaluation for Allow statements: the thing variable resolved, `*`/`?` as wildcards."""
    for st in doc["Statement"]:
        actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
        resources = st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
        if st["Effect"] != "Allow" or action not in actions:
            continue
        for pattern in resources:
            concrete = pattern.replace(THING_VAR, thing)
            regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in concrete)
            if re.fullmatch(regex, resource):
                return True
    return False


@pytest.mark.parametrize("render", [policies.core_device_policy, policies.hub_device_policy], ids=["device", "hub"])
def test_the_status_shadow_topics_are_the_devices_own(render: Any) -> None:
    """The `edgewatch` named shadow (the status shadow) over MQTT: this thing's only."""
    doc = render(SCOPE)
    base = "arn:aws:iot:eu-west-1:123456789012"
    update = "$aws/things/{}/shadow/name/edgewatch/update"
    assert _allows(doc, "iot:Publish", f"{base}:topic/{update.format('gw-1')}", "gw-1")
    for answer in ("accepted", "rejected"):
        assert _allows(doc, "iot:Subscribe", f"{base}:topicfilter/{update.format('gw-1')}/{answer}", "gw-1")
        assert _allows(doc, "iot:Receive", f"{base}:topic/{update.format('gw-1')}/{answer}", "gw-1")
    assert _allows(doc, "iot:UpdateThingShadow", f"{base}:thing/gw-1", "gw-1")
    # Not another device's, nor every device's.
    assert not _allows(doc, "iot:Publish", f"{base}:topic/{update.format('gw-2')}", "gw-1")
    assert not _allows(doc, "iot:Subscribe", f"{base}:topicfilter/$aws/things/+/shadow/name/edgewatch/update", "gw-1")
    assert not _allows(doc, "iot:UpdateThingShadow", f"{base}:thing/gw-2", "gw-1")
