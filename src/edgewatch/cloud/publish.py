"""`edgewatch publish`: what `gdk component publish` does, for the whole suite.

For each component: decide the version (gdk-config's, --version, or NEXT_PATCH from the cloud),
refuse one that already exists (re-uploading would change artifacts a published version points
to), make sure the bucket `<prefix>-<region>-<account>` exists (encrypted, public access blocked,
TLS only), upload the artifacts with progress, create the component version from the inline
recipe and wait until it is DEPLOYABLE.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import yaml
from botocore.exceptions import ClientError

from edgewatch.build.gdkconfig import load_suite_config
from edgewatch.build.suite import BuiltComponent, build_components
from edgewatch.cloud import versions
from edgewatch.cloud.aws import ClientFactory, account_id, partition_of
from edgewatch.cloud.errors import CloudError, client_error_code
from edgewatch.cloud.model import validate_request
from edgewatch.cloud.progress import UploadProgress
from edgewatch.cloud.recipes import artifact_key, bucket_name, recipe_bytes, render_publish_recipe

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Published:
    name: str
    version: str
    arn: str
    bucket: str


def component_arn(partition: str, region: str, account: str, name: str, version: str | None = None) -> str:
    arn = f"arn:{partition}:greengrass:{region}:{account}:components:{name}"
    return f"{arn}:versions:{version}" if version else arn


def published_versions(clients: ClientFactory, arn: str) -> list[str]:
    """Every version of a component in the cloud (empty when it was never published)."""
    gg = clients.client("greengrassv2")
    found: list[str] = []
    token = None
    while True:
        kwargs: dict[str, Any] = {"arn": arn, "maxResults": 100}
        if token:
            kwargs["nextToken"] = token
        validate_request("greengrassv2", "ListComponentVersions", kwargs)
        try:
            page = gg.list_component_versions(**kwargs)
        except ClientError as exc:
            if client_error_code(exc) == "ResourceNotFoundException":
                return found
            raise
        found.extend(str(v["componentVersion"]) for v in page.get("componentVersions", []))
        token = page.get("nextToken")
        if not token:
            return found


def ensure_bucket(clients: ClientFactory, bucket: str, region: str) -> bool:
    """Make sure the artifact bucket exists and is hardened (encrypted, private, TLS only); True when created.

    CreateBucket is the ownership check: BucketAlreadyOwnedByYou means ours, BucketAlreadyExists
    means another account holds the name, and we must not upload there. The hardening is applied on
    every call, not only at creation: the three calls are idempotent, and a run that failed between
    creating the bucket and hardening it must not leave the bucket unprotected for good.
    """
    s3 = clients.client("s3")
    kwargs: dict[str, Any] = {"Bucket": bucket}
    if region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
    created = True
    try:
        s3.create_bucket(**kwargs)
    except ClientError as exc:
        code = client_error_code(exc)
        if code == "BucketAlreadyExists":
            raise CloudError(
                f"bucket {bucket} exists and belongs to another AWS account; choose another prefix with --bucket"
            ) from exc
        if code != "BucketAlreadyOwnedByYou":
            raise
        created = False
    logger.info("%s bucket %s; applying encryption, public-access block and TLS-only policy",
                "created" if created else "reusing", bucket)
    harden_bucket(s3, bucket, region)
    return created


def harden_bucket(s3: Any, bucket: str, region: str) -> None:
    """Default encryption, the four public-access-block settings and a TLS-only policy (idempotent)."""
    s3.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": True}]
        },
    )
    s3.put_public_access_block(
        Bucket=bucket,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(tls_only_bucket_policy(bucket, partition_of(region))))


def tls_only_bucket_policy(bucket: str, partition: str = "aws") -> dict[str, Any]:
    """Deny any request to the bucket that is not over TLS."""
    arn = f"arn:{partition}:s3:::{bucket}"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [arn, f"{arn}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }


def version_exists(clients: ClientFactory, arn: str) -> bool:
    try:
        clients.client("greengrassv2").describe_component(arn=arn)
    except ClientError as exc:
        if client_error_code(exc) == "ResourceNotFoundException":
            return False
        raise
    return True


def wait_deployable(
    clients: ClientFactory,
    arn: str,
    *,
    poll_interval: float = 2.0,
    timeout: float = 300.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Poll DescribeComponent until DEPLOYABLE; FAILED raises with the service's reasons."""
    gg = clients.client("greengrassv2")
    deadline = clock() + timeout
    while True:
        status = gg.describe_component(arn=arn).get("status", {})
        state = status.get("componentState")
        if state == "DEPLOYABLE":
            return
        if state == "FAILED":
            errors = "; ".join(f"{k}: {v}" for k, v in (status.get("errors") or {}).items())
            reason = errors or status.get("message") or "no reason given"
            raise CloudError(f"{arn}: component version FAILED: {reason}")
        if clock() >= deadline:
            raise CloudError(f"{arn}: still {state} after {timeout:.0f}s; check the Greengrass console")
        sleep(poll_interval)


def publish_component(
    clients: ClientFactory,
    built: BuiltComponent,
    *,
    account: str,
    bucket: str,
    requested_version: str | None,
    out: TextIO,
    tty: bool | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Published:
    """Publish one built component (its bucket already ensured)."""
    region = clients.region
    partition = partition_of(region)
    base_arn = component_arn(partition, region, account, built.name)
    wanted = requested_version or built.version
    existing = published_versions(clients, base_arn) if wanted == versions.NEXT_PATCH else None
    version = versions.resolve_version(requested_version, built.version, existing)
    arn = component_arn(partition, region, account, built.name, version)
    if version_exists(clients, arn):
        raise CloudError(
            f"{built.name} {version} already exists in {region}; published versions are immutable: "
            "bump the version in gdk-config.json or use --version NEXT_PATCH"
        )
    recipe = yaml.safe_load(built.recipe_file.read_text(encoding="utf-8"))
    rendered = render_publish_recipe(recipe, bucket, version)
    s3 = clients.client("s3")
    for path in built.artifact_files:
        key = artifact_key(built.name, version, path.name)
        progress = UploadProgress(f"s3://{bucket}/{key}", path.stat().st_size, out, tty)
        s3.upload_file(str(path), bucket, key, Callback=progress, ExtraArgs={"ExpectedBucketOwner": account})
    request = {"inlineRecipe": recipe_bytes(rendered)}
    validate_request("greengrassv2", "CreateComponentVersion", request)
    try:
        response = clients.client("greengrassv2").create_component_version(**request)
    except ClientError as exc:
        if client_error_code(exc) == "ConflictException":
            raise CloudError(f"{built.name} {version} already exists; bump the version or use NEXT_PATCH") from exc
        raise
    arn = str(response.get("arn") or arn)
    state = response.get("status", {}).get("componentState")
    if state != "DEPLOYABLE":
        wait_deployable(clients, arn, sleep=sleep, clock=clock)
    logger.info("published %s %s", built.name, version)
    return Published(built.name, version, arn, bucket)


def publish(
    clients: ClientFactory,
    repo_root: Path,
    names: Sequence[str] | None,
    *,
    bucket_prefix: str | None,
    requested_version: str | None,
    out: TextIO,
    build: Callable[..., list[BuiltComponent]] | None = None,
    tty: bool | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> list[Published]:
    """Build and publish the named components (all when None)."""
    suite = load_suite_config(repo_root)
    prefix = bucket_prefix or str(suite.publish.get("bucket") or "")
    if not prefix:
        raise CloudError("no bucket prefix: pass --bucket PREFIX or set publish.bucket in gdk-config.json")
    if requested_version and requested_version != versions.NEXT_PATCH and not versions.is_semver(requested_version):
        raise CloudError(f"--version must be X.Y.Z or NEXT_PATCH, not {requested_version!r}")
    account = account_id(clients)
    bucket = bucket_name(prefix, clients.region, account)
    built = (build or build_components)(repo_root, names or None)
    ensure_bucket(clients, bucket, clients.region)
    return [
        publish_component(
            clients,
            b,
            account=account,
            bucket=bucket,
            requested_version=requested_version,
            out=out,
            tty=tty,
            sleep=sleep,
            clock=clock,
        )
        for b in built
    ]
