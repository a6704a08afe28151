"""`edgewatch provision`: one Greengrass core device, end to end, least privilege by default.

Thing (with its thing type and attributes), certificate (from a CSR when given, so the key never
leaves the device), the shared device IoT policy, the token-exchange role and role alias, thing
group membership (nested static groups) and billing group; key and certificate are written 0600;
the nucleus config.yaml is returned for printing. Everything but the certificate is created only
when missing, so provisioning a device again converges.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from edgewatch.cloud import policies
from edgewatch.cloud.aws import ClientFactory, account_id, partition_of
from edgewatch.cloud.errors import CloudError, client_error_code
from edgewatch.cloud.nucleus_config import CERT_FILE, KEY_FILE, NucleusSettings, render_config_yaml
from edgewatch.cloud.policy_lint import lint_policy
from edgewatch.cloud.recipes import bucket_name
from edgewatch.cloud.registry import Organisation, organise

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProvisionRequest:
    thing_name: str
    organisation: Organisation  # thing group (and its parents), thing type, attributes, billing group
    bucket_prefix: str
    out_dir: Path
    csr: str | None = None
    iot_data_endpoint: str | None = None
    iot_cred_endpoint: str | None = None
    source_vpce: str | None = None
    port_443: bool = False
    policy_name: str = policies.DEFAULT_POLICY_NAME
    role_name: str = policies.DEFAULT_ROLE_NAME
    role_alias: str = policies.DEFAULT_ROLE_ALIAS
    root: str = "/greengrass/v2"
    nucleus_version: str = "2.14.3"


@dataclass(frozen=True)
class ProvisionResult:
    thing_arn: str
    certificate_arn: str
    policy_name: str
    role_alias_arn: str
    files: tuple[Path, ...]
    config_yaml: str


def write_secret(path: Path, text: str) -> None:
    """Create a file readable by its owner only (0600 from the start, not chmod after)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(path, 0o600)  # umask may have removed bits; never added any


def effective_policy_name(request: ProvisionRequest) -> str:
    """A VPC-endpoint-restricted policy gets its own name, so it never replaces the fleet's."""
    if request.source_vpce and request.policy_name == policies.DEFAULT_POLICY_NAME:
        return f"{request.policy_name}-{request.source_vpce}"
    return request.policy_name


def ensure_iot_policy(clients: ClientFactory, name: str, document: dict[str, Any]) -> None:
    """Create the policy, or make `document` its default version when it differs."""
    iot = clients.client("iot")
    text = json.dumps(document, separators=(",", ":"))
    try:
        current = iot.get_policy(policyName=name)
    except ClientError as exc:
        if client_error_code(exc) != "ResourceNotFoundException":
            raise
        iot.create_policy(policyName=name, policyDocument=text)
        logger.info("created IoT policy %s", name)
        return
    if json.loads(current["policyDocument"]) != document:
        iot.create_policy_version(policyName=name, policyDocument=text, setAsDefault=True)
        logger.info("updated IoT policy %s (new default version)", name)


def ensure_token_exchange_role(clients: ClientFactory, request: ProvisionRequest, access: dict[str, Any]) -> str:
    """Create (or update the access policy of) the token exchange role; returns its ARN."""
    iam = clients.client("iam")
    try:
        arn = iam.get_role(RoleName=request.role_name)["Role"]["Arn"]
    except ClientError as exc:
        if client_error_code(exc) != "NoSuchEntity":
            raise
        arn = iam.create_role(
            RoleName=request.role_name,
            AssumeRolePolicyDocument=json.dumps(policies.token_exchange_trust_policy()),
            Description="EdgeWatch Greengrass core devices: read component artifacts, write logs",
        )["Role"]["Arn"]
        logger.info("created IAM role %s", request.role_name)
    # put_role_policy replaces the inline policy: re-running converges on the current bucket.
    iam.put_role_policy(
        RoleName=request.role_name, PolicyName=policies.DEFAULT_ROLE_POLICY_NAME, PolicyDocument=json.dumps(access)
    )
    return str(arn)


def ensure_role_alias(clients: ClientFactory, alias: str, role_arn: str) -> str:
    iot = clients.client("iot")
    try:
        described = iot.describe_role_alias(roleAlias=alias)["roleAliasDescription"]
    except ClientError as exc:
        if client_error_code(exc) != "ResourceNotFoundException":
            raise
        created = iot.create_role_alias(roleAlias=alias, roleArn=role_arn, credentialDurationSeconds=3600)
        logger.info("created role alias %s", alias)
        return str(created["roleAliasArn"])
    if described.get("roleArn") != role_arn:
        iot.update_role_alias(roleAlias=alias, roleArn=role_arn)
        logger.info("role alias %s now points to %s", alias, role_arn)
    return str(described["roleAliasArn"])


def provision(clients: ClientFactory, request: ProvisionRequest) -> ProvisionResult:
    region = clients.region
    account = account_id(clients)
    scope = policies.Scope(region=region, account=account, partition=partition_of(region))
    iot = clients.client("iot")

    device_policy = policies.core_device_policy(scope, request.role_alias, request.source_vpce)
    access = policies.token_exchange_access_policy(scope, bucket_name(request.bucket_prefix, region, account))
    # Never create a policy the linter would reject, whatever the options.
    problems = lint_policy(device_policy) + lint_policy(access)
    if problems:
        raise CloudError("refusing to create an overly permissive policy: " + "; ".join(problems))

    data_endpoint = request.iot_data_endpoint or iot.describe_endpoint(endpointType="iot:Data-ATS")["endpointAddress"]
    cred_endpoint = (
        request.iot_cred_endpoint or iot.describe_endpoint(endpointType="iot:CredentialProvider")["endpointAddress"]
    )

    thing_arn = organise(iot, request.thing_name, request.organisation)

    files: list[Path] = []
    out = request.out_dir
    if request.csr:
        cert = iot.create_certificate_from_csr(certificateSigningRequest=request.csr, setAsActive=True)
    else:
        cert = iot.create_keys_and_certificate(setAsActive=True)
        logger.warning("the private key was generated in the cloud; use --csr so it never leaves the device")
        write_secret(out / KEY_FILE, cert["keyPair"]["PrivateKey"])
        files.append(out / KEY_FILE)
    write_secret(out / CERT_FILE, cert["certificatePem"])
    files.append(out / CERT_FILE)

    policy_name = effective_policy_name(request)
    ensure_iot_policy(clients, policy_name, device_policy)
    iot.attach_policy(policyName=policy_name, target=cert["certificateArn"])
    # Exclusive: the certificate can never serve another thing, so the thing-name variable is sound.
    iot.attach_thing_principal(
        thingName=request.thing_name, principal=cert["certificateArn"], thingPrincipalType="EXCLUSIVE_THING"
    )
    role_arn = ensure_token_exchange_role(clients, request, access)
    alias_arn = ensure_role_alias(clients, request.role_alias, role_arn)

    settings = NucleusSettings(
        thing_name=request.thing_name,
        region=region,
        role_alias=request.role_alias,
        data_endpoint=data_endpoint,
        cred_endpoint=cred_endpoint,
        root=request.root,
        nucleus_version=request.nucleus_version,
        port_443=request.port_443,
        private_data_endpoint=bool(request.iot_data_endpoint),
    )
    config_yaml = render_config_yaml(settings)
    config_path = out / "config.yaml"
    config_path.write_text(config_yaml, encoding="utf-8")
    files.append(config_path)
    return ProvisionResult(thing_arn, cert["certificateArn"], policy_name, alias_arn, tuple(files), config_yaml)
