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
from tests.cloud.conftest import ACCOUNT, REGION, OfflineAws

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
