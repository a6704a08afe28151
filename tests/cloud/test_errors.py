"""Error paths: each gives one line saying what to fix, and a non-zero exit."""

from __future__ import annotations

from pathlib import Path

import pytest
from botocore.exceptions import ClientError, NoCredentialsError, NoRegionError

from edgewatch.cloud import cli
from edgewatch.cloud.aws import resolve_region
from edgewatch.cloud.errors import explain
from tests.cloud.conftest import OfflineAws

REPO = Path(__file__).resolve().parents[2]


def error_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]


@pytest.fixture
def no_credentials(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance-metadata lookups
    for var in (
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ):
        monkeypatch.delenv(var, raising=False)


@pytest.mark.parametrize(
    "argv",
    [
        ["publish"],
        ["deploy", "--thing-group", "g"],
        ["provision", "--thing-name", "t", "--thing-group", "g"],
    ],
    ids=["publish", "deploy", "provision"],
)
def test_no_credentials(
    no_credentials: None, argv: list[str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # No mock_aws here: it would provide fake credentials. Signing fails before anything is sent.
    code = cli.main([*argv, "--repo-root", str(REPO)] + (["--out", str(tmp_path)] if argv[0] == "provision" else []))
    assert code == 1
    (line,) = error_lines(caplog)
    assert line.startswith("no AWS credentials found") and "--profile" in line and "\n" not in line


def test_missing_region(aws_env: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    # Outside the suite there is no gdk-config.json region to fall back on.
    argv = ["provision", "--thing-name", "t", "--thing-group", "g", "--bucket", "p", "--repo-root", str(tmp_path)]
    assert cli.main(argv) == 1
    (line,) = error_lines(caplog)
    assert line.startswith("no AWS region") and "--region" in line and "AWS_REGION" in line


def test_region_precedence() -> None:
    assert resolve_region("us-east-2", "eu-west-1", "eu-central-1") == "us-east-2"
    assert resolve_region(None, "eu-west-1", "eu-central-1") == "eu-west-1"
    assert resolve_region(None, None, "eu-central-1") == "eu-central-1"
    with pytest.raises(NoRegionError):
        resolve_region(None, None, None)


def test_access_denied_names_the_operation_and_the_fix(
    offline_aws: OfflineAws, caplog: pytest.LogCaptureFixture
) -> None:
    for name in ("com.edgewatch.MetricsCollector", "com.edgewatch.AlertRouter"):
        offline_aws.greengrass.seed_component(name, "0.1.0")
    offline_aws.greengrass.denied.add("CreateDeployment")
    assert cli.main(["deploy", "--thing-group", "g", "--repo-root", str(REPO)], deps=offline_aws.deps()) == 1
    (line,) = error_lines(caplog)
    assert line.startswith("access denied calling CreateDeployment")
    assert "deployment/policies/operator-policy.json" in line


@pytest.mark.parametrize(
    ("exc", "start"),
    [
        (NoCredentialsError(), "no AWS credentials found"),
        (NoRegionError(), "no AWS region"),
        (
            ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "PutObject"),
            "access denied calling PutObject",
        ),
        (
            ClientError({"Error": {"Code": "ExpiredToken", "Message": "old"}}, "GetCallerIdentity"),
            "AWS credentials rejected",
        ),
        (
            ClientError({"Error": {"Code": "Throttling", "Message": "slow"}}, "CreateThing"),
            "CreateThing failed: Throttling",
        ),
    ],
)
def test_explain(exc: Exception, start: str) -> None:
    message = explain(exc)
    assert message.startswith(start) and "\n" not in message
