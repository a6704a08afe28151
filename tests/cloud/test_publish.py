"""`edgewatch publish` end to end: moto for STS and S3, the greengrassv2 double for components."""

from __future__ import annotations

import io
import json
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from edgewatch.build.suite import build_components
from edgewatch.cloud.errors import CloudError
from edgewatch.cloud.publish import ensure_bucket, publish, wait_deployable
from tests.cloud.conftest import ACCOUNT, REGION, OfflineAws

REPO = Path(__file__).resolve().parents[2]
NAME = "com.edgewatch.MetricsCollector"
BUCKET = f"edgewatch-components-{REGION}-{ACCOUNT}"


@pytest.fixture
def builder(tmp_path: Path):  # type: ignore[no-untyped-def]
    """The real build, writing to a temporary folder instead of the repository."""
    calls: list[object] = []

    def build(root: Path, names: object) -> object:
        calls.append(names)
        return build_components(root, [NAME], out_dir=tmp_path / "gg-build")

    build.calls = calls  # type: ignore[attr-defined]
    return build


def _publish(aws: OfflineAws, builder, **kwargs):  # type: ignore[no-untyped-def]
    out = io.StringIO()
    done = publish(
        aws,
        REPO,
        [NAME],
        bucket_prefix=kwargs.get("prefix"),
        requested_version=kwargs.get("version"),
        out=out,
        build=builder,
        tty=False,
        sleep=lambda s: None,
    )
    return done, out.getvalue()


def test_publish_creates_a_secure_bucket_uploads_and_creates_a_deployable_version(
    offline_aws: OfflineAws, builder
) -> None:  # type: ignore[no-untyped-def]
    done, progress = _publish(offline_aws, builder)
    assert [(p.name, p.version, p.bucket) for p in done] == [(NAME, "0.1.0", BUCKET)]
    s3 = offline_aws.client("s3")
    enc = s3.get_bucket_encryption(Bucket=BUCKET)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert enc["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    pab = s3.get_public_access_block(Bucket=BUCKET)["PublicAccessBlockConfiguration"]
    assert all(pab.values()) and len(pab) == 4
    policy = s3.bucket_policies[BUCKET]
    assert policy["Statement"][0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    key = f"{NAME}/0.1.0/metrics-collector.zip"
    assert s3.head_object(Bucket=BUCKET, Key=key)["ContentLength"] > 0
    # The recipe sent to Greengrass names the uploaded object (the double checks it exists in S3).
    record = offline_aws.greengrass.components[done[0].arn]
    uris = {a["URI"] for m in record["recipe"]["Manifests"] for a in m["Artifacts"]}
    assert uris == {f"s3://{BUCKET}/{key}"}
    assert record["state"] == "DEPLOYABLE"
    # Existence check, create, then polls until DEPLOYABLE (REQUESTED first).
    assert offline_aws.greengrass.operations() == [
        "DescribeComponent",
        "CreateComponentVersion",
        "DescribeComponent",
        "DescribeComponent",
    ]
    assert "100%" in progress and f"s3://{BUCKET}/{key}" in progress


def test_next_patch_comes_from_the_cloud(offline_aws: OfflineAws, builder) -> None:  # type: ignore[no-untyped-def]
    for version in ("1.0.0", "1.0.9", "1.0.10", "0.9.0", "1.0.2"):
        offline_aws.greengrass.seed_component(NAME, version)
    done, _ = _publish(offline_aws, builder, version="NEXT_PATCH")
    assert done[0].version == "1.0.11"
    # Three pages of two: the pagination was followed.
    assert offline_aws.greengrass.operations().count("ListComponentVersions") == 3
    recipe = offline_aws.greengrass.components[done[0].arn]["recipe"]
    assert recipe["ComponentVersion"] == "1.0.11"
    assert offline_aws.client("s3").head_object(Bucket=BUCKET, Key=f"{NAME}/1.0.11/metrics-collector.zip")


def test_next_patch_of_a_new_component_is_1_0_0(offline_aws: OfflineAws, builder) -> None:  # type: ignore[no-untyped-def]
    done, _ = _publish(offline_aws, builder, version="NEXT_PATCH", prefix="my-prefix")
    assert done[0].version == "1.0.0"
    assert done[0].bucket == f"my-prefix-{REGION}-{ACCOUNT}"


def test_existing_version_is_refused_before_anything_is_uploaded(offline_aws: OfflineAws, builder) -> None:  # type: ignore[no-untyped-def]
    offline_aws.greengrass.seed_component(NAME, "0.1.0")
    with pytest.raises(CloudError, match=r"0\.1\.0 already exists"):
        _publish(offline_aws, builder)
    listed = offline_aws.client("s3").list_objects_v2(Bucket=BUCKET)
    assert listed.get("KeyCount", 0) == 0  # the published version's artifacts were not overwritten
    assert "CreateComponentVersion" not in offline_aws.greengrass.operations()


def test_bucket_owned_by_another_account_is_refused(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    with mock_aws():
        monkeypatch.setenv("MOTO_ACCOUNT_ID", "210987654321")
        boto3.client("s3", region_name=REGION).create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION}
        )
        monkeypatch.delenv("MOTO_ACCOUNT_ID")

        class Clients:
            region = REGION

            def client(self, service: str):  # type: ignore[no-untyped-def]
                return boto3.client(service, region_name=REGION)

        with pytest.raises(CloudError, match="belongs to another AWS account"):
            ensure_bucket(Clients(), BUCKET, REGION)


def _hardening(s3) -> tuple[object, object, object]:  # type: ignore[no-untyped-def]
    def read(call, key):  # type: ignore[no-untyped-def]
        try:
            return call(Bucket=BUCKET)[key]
        except s3.exceptions.ClientError:
            return None

    return (read(s3.get_bucket_encryption, "ServerSideEncryptionConfiguration"),
            read(s3.get_public_access_block, "PublicAccessBlockConfiguration"),
            s3.bucket_policies.get(BUCKET))


def test_existing_own_bucket_is_reused_and_hardened_again(offline_aws: OfflineAws) -> None:
    s3 = offline_aws.client("s3")
    assert ensure_bucket(offline_aws, BUCKET, REGION) is True
    hardened = _hardening(s3)
    assert all(hardened)
    # A bucket whose hardening was lost (an earlier run failed after CreateBucket, or someone undid it):
    s3.delete_bucket_encryption(Bucket=BUCKET)
    s3.delete_public_access_block(Bucket=BUCKET)
    s3.bucket_policies.pop(BUCKET)  # the double records policies instead of applying them
    assert _hardening(s3) == (None, None, None)
    assert ensure_bucket(offline_aws, BUCKET, REGION) is False  # reused, not created
    assert _hardening(s3) == hardened  # ... and hardened again, the same way
    assert ensure_bucket(offline_aws, BUCKET, REGION) is False  # idempotent
    assert _hardening(s3) == hardened


def test_failed_component_version_reports_the_reason(offline_aws: OfflineAws) -> None:
    gg = offline_aws.greengrass
    recipe = {
        "RecipeFormatVersion": "2020-01-25",
        "ComponentName": NAME,
        "ComponentVersion": "3.0.0",
        "Manifests": [{"Platform": {"os": "linux"}, "Artifacts": [{"URI": f"s3://{BUCKET}/missing.zip"}]}],
    }
    offline_aws.client("s3").create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    arn = gg.create_component_version(inlineRecipe=json.dumps(recipe).encode())["arn"]
    sleeps: list[float] = []
    with pytest.raises(CloudError, match=r"FAILED: s3://.*missing\.zip: The artifact could not be found"):
        wait_deployable(offline_aws, arn, sleep=sleeps.append, poll_interval=0.5)
    assert sleeps == [0.5]  # one poll REQUESTED, the next FAILED


def test_wait_deployable_times_out_with_an_injected_clock(offline_aws: OfflineAws) -> None:
    gg = offline_aws.greengrass
    gg.seed_component(NAME, "4.0.0")
    arn = next(iter(gg.components))
    gg.components[arn].update(state="INITIATED", final="INITIATED")
    now = [0.0]
    with pytest.raises(CloudError, match="still INITIATED after 10s"):
        wait_deployable(
            offline_aws,
            arn,
            poll_interval=3,
            timeout=10,
            sleep=lambda s: now.__setitem__(0, now[0] + s),
            clock=lambda: now[0],
        )


def test_cli_publish_prints_what_it_published(
    offline_aws: OfflineAws, builder, capsys: pytest.CaptureFixture[str]
) -> None:  # type: ignore[no-untyped-def]
    from edgewatch.cloud import cli

    argv = ["publish", NAME, "--version", "2.3.4", "--repo-root", str(REPO)]
    assert cli.main(argv, deps=offline_aws.deps(build=builder)) == 0
    arn = f"arn:aws:greengrass:{REGION}:{ACCOUNT}:components:{NAME}:versions:2.3.4"
    assert capsys.readouterr().out == f"{NAME} 2.3.4 {arn}\n"
    assert builder.calls == [[NAME]]


def test_conflict_on_create_is_reported_as_an_existing_version(
    offline_aws: OfflineAws, builder
) -> None:  # type: ignore[no-untyped-def]
    gg = offline_aws.greengrass
    # Someone published the same version between our existence check and our create.
    gg.before_create = lambda: gg.seed_component(NAME, "0.1.0")
    with pytest.raises(CloudError, match=r"0\.1\.0 already exists; bump the version"):
        _publish(offline_aws, builder)


def test_bad_version_is_refused_before_any_call(offline_aws: OfflineAws, builder) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(CloudError, match=r"X\.Y\.Z or NEXT_PATCH"):
        _publish(offline_aws, builder, version="latest")
    assert offline_aws.greengrass.calls == [] and builder.calls == []
