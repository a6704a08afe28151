"""`edgewatch provision` end to end on moto (iot, iam, sts)."""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from edgewatch.cloud import cli
from edgewatch.cloud.policy_lint import THING_VAR, lint_policy
from tests.cloud.conftest import ACCOUNT, NO_AWS, REGION, OfflineAws

REPO = Path(__file__).resolve().parents[2]
BUCKET = f"edgewatch-components-{REGION}-{ACCOUNT}"


@pytest.fixture
def wired(offline_aws: OfflineAws) -> OfflineAws:
    return offline_aws


def run(aws: OfflineAws, argv: list[str]) -> int:
    return cli.main(argv, deps=aws.deps())


def make_csr(tmp_path: Path, name: str) -> Path:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, name)]))
        .sign(key, hashes.SHA256())
    )
    path = tmp_path / "device.csr"
    path.write_bytes(csr.public_bytes(serialization.Encoding.PEM))
    return path


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_provision_with_csr_creates_everything_and_prints_config(
    wired: OfflineAws, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "device"
    csr = make_csr(tmp_path, "gw-01")
    code = cli.main(
        [
            "provision",
            "--thing-name",
            "gw-01",
            "--thing-group",
            "plant-a",
            "--csr",
            str(csr),
            "--out",
            str(out),
            "--repo-root",
            str(REPO),
        ],
        deps=wired.deps(),
    )
    assert code == 0
    iot, iam = wired.client("iot"), wired.client("iam")
    # Thing, certificate attached to it, policy attached to the certificate, group membership.
    principals = iot.list_thing_principals(thingName="gw-01")["principals"]
    assert len(principals) == 1
    assert [p["policyName"] for p in iot.list_attached_policies(target=principals[0])["policies"]] == [
        "EdgeWatchCoreDevicePolicy"
    ]
    assert iot.list_things_in_thing_group(thingGroupName="plant-a")["things"] == ["gw-01"]
    policy = json.loads(iot.get_policy(policyName="EdgeWatchCoreDevicePolicy")["policyDocument"])
    assert lint_policy(policy) == []
    assert THING_VAR in json.dumps(policy)
    # Token exchange role (trusted by the credentials provider, S3 read of the bucket) and its alias.
    role = iam.get_role(RoleName="EdgeWatchTokenExchangeRole")["Role"]
    trust = role["AssumeRolePolicyDocument"]
    trust = json.loads(trust) if isinstance(trust, str) else trust
    assert trust["Statement"][0]["Principal"] == {"Service": "credentials.iot.amazonaws.com"}
    access = iam.get_role_policy(RoleName="EdgeWatchTokenExchangeRole", PolicyName="EdgeWatchTokenExchangeAccess")
    access_doc = access["PolicyDocument"]
    access_doc = json.loads(access_doc) if isinstance(access_doc, str) else access_doc
    assert f"arn:aws:s3:::{BUCKET}/*" in json.dumps(access_doc)
    alias = iot.describe_role_alias(roleAlias="EdgeWatchTokenExchangeRoleAlias")["roleAliasDescription"]
    assert alias["roleArn"] == role["Arn"]
    # Files: certificate only (the key stayed on the device), owner-only.
    assert sorted(p.name for p in out.iterdir()) == ["config.yaml", "device.pem.crt"]
    assert mode(out / "device.pem.crt") == 0o600
    assert (out / "device.pem.crt").read_text().startswith("-----BEGIN CERTIFICATE-----")
    # config.yaml on stdout, with the account's endpoints.
    printed = capsys.readouterr().out
    config = yaml.safe_load(printed)
    assert printed == (out / "config.yaml").read_text()
    nucleus = config["services"]["aws.greengrass.Nucleus"]["configuration"]
    # moto invents a new prefix per DescribeEndpoint call: check the kind of endpoint each one is.
    assert re.fullmatch(rf"[a-z0-9]+-ats\.iot\.{REGION}\.amazonaws\.com", nucleus["iotDataEndpoint"])
    assert re.fullmatch(rf"[a-z0-9]+\.credentials\.iot\.{REGION}\.amazonaws\.com", nucleus["iotCredEndpoint"])
    assert nucleus["iotRoleAlias"] == "EdgeWatchTokenExchangeRoleAlias"
    assert nucleus["awsRegion"] == REGION
    assert config["system"]["thingName"] == "gw-01"
    assert "mqtt" not in nucleus


def test_second_device_reuses_the_fleet_policy_role_and_alias(wired: OfflineAws, tmp_path: Path) -> None:
    for name in ("gw-01", "gw-02"):
        args = ["provision", "--thing-name", name, "--thing-group", "plant-a", "--repo-root", str(REPO)]
        assert run(wired, [*args, "--csr", str(make_csr(tmp_path, name)), "--out", str(tmp_path / name)]) == 0
    iot = wired.client("iot")
    assert [p["policyName"] for p in iot.list_policies()["policies"]] == ["EdgeWatchCoreDevicePolicy"]
    assert len(iot.list_role_aliases()["roleAliases"]) == 1
    assert sorted(iot.list_things_in_thing_group(thingGroupName="plant-a")["things"]) == ["gw-01", "gw-02"]


def test_without_csr_the_key_is_written_0600(wired: OfflineAws, tmp_path: Path) -> None:
    out = tmp_path / "device"
    args = ["provision", "--thing-name", "gw-09", "--thing-group", "g", "--out", str(out), "--repo-root", str(REPO)]
    assert run(wired, args) == 0
    key = out / "private.pem.key"
    assert mode(key) == 0o600 and mode(out / "device.pem.crt") == 0o600
    assert "PRIVATE KEY" in key.read_text()


def test_private_network_options(wired: OfflineAws, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    endpoint = "vpce-0abc-123.data.iot.eu-west-1.vpce.amazonaws.com"
    code = cli.main(
        [
            "provision",
            "--thing-name",
            "gw-vpc",
            "--thing-group",
            "site-b",
            "--csr",
            str(make_csr(tmp_path, "gw-vpc")),
            "--out",
            str(tmp_path / "d"),
            "--repo-root",
            str(REPO),
            "--iot-data-endpoint",
            endpoint,
            "--source-vpce",
            "vpce-0abc",
            "--port-443",
        ],
        deps=wired.deps(),
    )
    assert code == 0
    nucleus = yaml.safe_load(capsys.readouterr().out)["services"]["aws.greengrass.Nucleus"]["configuration"]
    assert nucleus["iotDataEndpoint"] == endpoint
    assert nucleus["mqtt"] == {"port": 443} and nucleus["greengrassDataPlanePort"] == 443
    assert nucleus["greengrassDataPlaneEndpoint"] == "iotdata"
    # The VPC-only policy has its own name: the fleet's shared policy is untouched.
    iot = wired.client("iot")
    policy = json.loads(iot.get_policy(policyName="EdgeWatchCoreDevicePolicy-vpce-0abc")["policyDocument"])
    assert policy["Statement"][0]["Condition"]["StringEquals"] == {"aws:SourceVpce": "vpce-0abc"}
    assert lint_policy(policy) == []


def test_changed_policy_document_becomes_the_new_default_version(wired: OfflineAws, tmp_path: Path) -> None:
    iot = wired.client("iot")
    iot.create_policy(policyName="EdgeWatchCoreDevicePolicy", policyDocument='{"Version":"2012-10-17","Statement":[]}')
    args = ["provision", "--thing-name", "gw-3", "--thing-group", "g", "--repo-root", str(REPO)]
    assert run(wired, [*args, "--csr", str(make_csr(tmp_path, "gw-3")), "--out", str(tmp_path / "o")]) == 0
    current = json.loads(iot.get_policy(policyName="EdgeWatchCoreDevicePolicy")["policyDocument"])
    assert current["Statement"]  # the empty first version was replaced


ORG = [
    "--thing-group",
    "line-1",
    "--parent-group",
    "eu/plant-a",
    "--attribute",
    "site=plant-a",
    "--attribute",
    "model=rpi4",
    "--billing-group",
    "plant-a-billing",
]


def organised(aws: OfflineAws, tmp_path: Path, name: str, extra: list[str]) -> int:
    argv = ["provision", "--thing-name", name, *extra, "--repo-root", str(REPO)]
    return run(aws, [*argv, "--csr", str(make_csr(tmp_path, name)), "--out", str(tmp_path / name)])


def registry_state(aws: OfflineAws, thing: str) -> dict[str, object]:
    """What provisioning leaves in the registry about one device (for comparing runs)."""
    iot = aws.client("iot")
    described = iot.describe_thing(thingName=thing)
    groups = {}
    for group in iot.list_thing_groups()["thingGroups"]:
        meta = iot.describe_thing_group(thingGroupName=group["groupName"]).get("thingGroupMetadata", {})
        groups[group["groupName"]] = meta.get("parentGroupName")
    return {
        "type": described.get("thingTypeName"),
        "attributes": described.get("attributes"),
        "billing": described.get("billingGroupName"),
        "groups": groups,
        "member_of": sorted(g["groupName"] for g in iot.list_thing_groups_for_thing(thingName=thing)["thingGroups"]),
        "types": [t["thingTypeName"] for t in iot.list_thing_types()["thingTypes"]],
        "billing_groups": [b["groupName"] for b in iot.list_billing_groups()["billingGroups"]],
    }


def test_provision_places_the_device_in_type_groups_and_billing_group_idempotently(
    wired: OfflineAws, tmp_path: Path
) -> None:
    assert organised(wired, tmp_path, "gw-org", ORG) == 0
    iot = wired.client("iot")
    thing_type = iot.describe_thing_type(thingTypeName="EdgeWatchGateway")
    assert thing_type["thingTypeProperties"]["searchableAttributes"] == ["site", "model"]
    first = registry_state(wired, "gw-org")
    assert first == {
        "type": "EdgeWatchGateway",
        "attributes": {"site": "plant-a", "model": "rpi4"},
        "billing": "plant-a-billing",
        "groups": {"eu": None, "plant-a": "eu", "line-1": "plant-a"},
        "member_of": ["line-1"],  # one group per hierarchy: the leaf (deployments to eu reach it)
        "types": ["EdgeWatchGateway"],
        "billing_groups": ["plant-a-billing"],
    }
    assert iot.list_things_in_billing_group(billingGroupName="plant-a-billing")["things"] == ["gw-org"]
    assert "gw-org" in iot.list_things_in_thing_group(thingGroupName="eu", recursive=True)["things"]
    # Again: the same registry, and nothing was created or updated a second time.
    creates = [op for op in wired.iot.operations if op.startswith(("Create", "Update"))]
    (tmp_path / "again").mkdir()
    assert organised(wired, tmp_path / "again", "gw-org", ORG) == 0
    assert registry_state(wired, "gw-org") == first
    again = [op for op in wired.iot.operations if op.startswith(("Create", "Update"))][len(creates) :]
    # Only the certificate is new on each run (and the device policy check); the registry is untouched.
    assert not {"CreateThing", "CreateThingType", "CreateThingGroup", "CreateBillingGroup", "UpdateThing"} & set(
        again
    )


def test_changed_attributes_are_merged_into_an_existing_thing(wired: OfflineAws, tmp_path: Path) -> None:
    iot = wired.client("iot")
    iot.create_thing(thingName="gw-old", attributePayload={"attributes": {"owner": "ops"}})
    extra = ["--thing-group", "g", "--attribute", "site=plant-b"]
    assert organised(wired, tmp_path, "gw-old", extra) == 0
    described = iot.describe_thing(thingName="gw-old")
    assert described["thingTypeName"] == "EdgeWatchGateway"
    assert described["attributes"] == {"owner": "ops", "site": "plant-b"}  # set by hand: kept


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--attribute", "site plant=a"], "the name may be 1-128 of"),
        (["--attribute", "site=plant a"], "the value may be 1-800 of"),
        (["--attribute", "site="], "the value may be 1-800 of"),
        (["--attribute", "nokey"], "expects KEY=VALUE"),
        (["--no-thing-type", *[f"--attribute=a{i}=v" for i in range(4)]], "without a thing type has at most 3"),
        ([f"--attribute=a{i}=v" for i in range(51)], "with a thing type has at most 50"),
        ([f"--searchable-attribute=s{i}" for i in range(4)], "a thing type has at most 3"),
        (["--parent-group", "a/b/c/d/e/f/h"], "at most 7 deep"),
        (["--parent-group", "eu/g"], "cannot be its own ancestor"),
        (["--thing-type", "Edge Watch"], "--thing-type 'Edge Watch'"),
        (["--billing-group", "a/b"], "--billing-group 'a/b'"),
        (["--no-thing-type", "--searchable-attribute", "site"], "belongs to a thing type"),
    ],
)
def test_registry_options_are_checked_before_any_aws_call(
    aws_env: None, tmp_path: Path, caplog: pytest.LogCaptureFixture, extra: list[str], message: str
) -> None:
    argv = ["provision", "--thing-name", "t", "--thing-group", "g", "--bucket", "p", "--out", str(tmp_path)]
    assert cli.main([*argv, *extra, "--repo-root", str(REPO)], deps=NO_AWS) == 1
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and message in errors[0]


def test_a_group_under_another_parent_is_named_not_moved(
    wired: OfflineAws, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    iot = wired.client("iot")
    iot.create_thing_group(thingGroupName="us")
    iot.create_thing_group(thingGroupName="line-1", parentGroupName="us")
    assert organised(wired, tmp_path, "gw-x", ["--thing-group", "line-1", "--parent-group", "eu"]) == 1
    assert "thing group line-1 exists under us, not under eu; AWS cannot move a group" in caplog.text
    meta = iot.describe_thing_group(thingGroupName="line-1")["thingGroupMetadata"]
    assert meta["parentGroupName"] == "us"
    with pytest.raises(iot.exceptions.ResourceNotFoundException):
        iot.describe_thing(thingName="gw-x")


def test_a_dynamic_group_cannot_take_a_provisioned_device(
    wired: OfflineAws, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    iot = wired.client("iot")
    iot.update_indexing_configuration(thingIndexingConfiguration={"thingIndexingMode": "REGISTRY"})
    iot.create_dynamic_thing_group(thingGroupName="offline", queryString="connectivity.connected:false")
    assert organised(wired, tmp_path, "gw-d", ["--thing-group", "offline"]) == 1
    assert "offline is a dynamic group (its query decides its members): give a static --thing-group" in caplog.text
    with pytest.raises(iot.exceptions.ResourceNotFoundException):
        iot.describe_thing(thingName="gw-d")  # refused before the thing was created


def test_a_deprecated_thing_type_is_refused_with_the_way_out(
    wired: OfflineAws, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    iot = wired.client("iot")
    iot.create_thing_type(thingTypeName="OldGateway")
    iot.deprecate_thing_type(thingTypeName="OldGateway")
    assert organised(wired, tmp_path, "gw-dep", ["--thing-group", "g", "--thing-type", "OldGateway"]) == 1
    assert "thing type OldGateway is deprecated" in caplog.text and "--thing-type" in caplog.text
    with pytest.raises(iot.exceptions.ResourceNotFoundException):
        iot.describe_thing(thingName="gw-dep")  # refused before the thing was created


def test_the_name_patterns_are_the_api_models() -> None:
    from edgewatch.cloud import registry
    from edgewatch.cloud.model import service_model

    iot = service_model("iot")
    for ours, shape in (
        (registry.NAME, "ThingGroupName"),
        (registry.NAME, "ThingTypeName"),
        (registry.NAME, "BillingGroupName"),
        (registry.ATTRIBUTE_NAME, "AttributeName"),
        (registry.ATTRIBUTE_VALUE, "AttributeValue"),
    ):
        meta = iot.shape_for(shape).metadata
        assert ours.pattern.startswith(meta["pattern"].rstrip("+*")), shape
        assert ours.pattern.endswith(f",{meta['max']}}}"), shape


def test_a_new_billing_group_moves_the_thing(wired: OfflineAws, tmp_path: Path) -> None:
    assert organised(wired, tmp_path, "gw-b", ["--thing-group", "g", "--billing-group", "cost-a"]) == 0
    (tmp_path / "b").mkdir()
    assert organised(wired, tmp_path / "b", "gw-b", ["--thing-group", "g", "--billing-group", "cost-b"]) == 0
    iot = wired.client("iot")
    assert iot.describe_thing(thingName="gw-b")["billingGroupName"] == "cost-b"
    assert iot.list_things_in_billing_group(billingGroupName="cost-a")["things"] == []
    assert iot.list_things_in_billing_group(billingGroupName="cost-b")["things"] == ["gw-b"]


def test_an_existing_thing_type_is_used_as_it_is(
    wired: OfflineAws, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    iot = wired.client("iot")
    iot.create_thing_type(thingTypeName="EdgeWatchGateway", thingTypeProperties={"searchableAttributes": ["site"]})
    assert organised(wired, tmp_path, "gw-t", ["--thing-group", "g", "--attribute", "model=rpi5"]) == 0
    assert "exists without searchable attribute(s) model; left as it is" in caplog.text
    described = iot.describe_thing_type(thingTypeName="EdgeWatchGateway")
    assert described["thingTypeProperties"]["searchableAttributes"] == ["site"]
    assert iot.describe_thing(thingName="gw-t")["attributes"] == {"model": "rpi5"}
