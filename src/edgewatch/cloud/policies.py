"""Pure renderers of every IoT and IAM policy EdgeWatch uses (the one source of deployment/policies/).

Device policies are shared by the whole fleet and scoped per device with
`${iot:Connection.Thing.ThingName}`; provision attaches certificates to their thing exclusively, so
the variable always names the connecting device. `python -m edgewatch.cloud.policies --write DIR`
regenerates the files in deployment/ with {{PLACEHOLDER}} values (a test keeps them in sync).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgewatch.cloud.defaults import DEFAULT_THING_TYPE

logger = logging.getLogger(__name__)

THING = "${iot:Connection.Thing.ThingName}"
TOPIC_ROOT = "edgewatch"
DEFAULT_POLICY_NAME = "EdgeWatchCoreDevicePolicy"
DEFAULT_ROLE_NAME = "EdgeWatchTokenExchangeRole"
DEFAULT_ROLE_ALIAS = "EdgeWatchTokenExchangeRoleAlias"
DEFAULT_ROLE_POLICY_NAME = "EdgeWatchTokenExchangeAccess"
DEFAULT_TEMPLATE_NAME = "EdgeWatchFleetProvisioning"
DEFAULT_CLAIM_POLICY_NAME = "EdgeWatchProvisioningClaimPolicy"
# Log groups the Greengrass LogManager writes to.
LOG_GROUP_PREFIX = "/aws/greengrass/"

Policy = dict[str, Any]


@dataclass(frozen=True)
class Scope:
    """Where policies apply: partition, region and account."""

    region: str
    account: str
    partition: str = "aws"

    def iot(self, resource: str) -> str:
        return f"arn:{self.partition}:iot:{self.region}:{self.account}:{resource}"


def _doc(*statements: dict[str, Any]) -> Policy:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def device_topics(thing: str = THING, topic_root: str = TOPIC_ROOT) -> list[str]:
    """MQTT topics (policy wildcards) a core device publishes to and receives from: only its own."""
    return [
        f"$aws/things/{thing}/greengrass/health/json",
        f"$aws/things/{thing}/greengrassv2/health/json",
        f"$aws/things/{thing}/jobs/*",
        f"$aws/things/{thing}/shadow/*",
        f"dt/{topic_root}/{thing}/*",
    ]


def device_topic_filters(thing: str = THING) -> list[str]:
    """Topic filters a core device subscribes to: its own jobs and shadows."""
    return [f"$aws/things/{thing}/jobs/*", f"$aws/things/{thing}/shadow/*"]


def core_device_policy(
    scope: Scope, role_alias: str = DEFAULT_ROLE_ALIAS, source_vpce: str | None = None, topic_root: str = TOPIC_ROOT
) -> Policy:
    """The Greengrass core device IoT policy, one for the whole fleet (least privilege).

    - connect only with its own thing name as client ID (the nucleus adds `<thing>#2`, `#3`... for
      extra connections, hence the `#*` form; a bare `*` would let `gw-1` take over `gw-10`);
    - publish/receive/subscribe only on its own `$aws/things/<thing>/...` and EdgeWatch topics;
    - Greengrass data-plane calls are HTTPS, where thing policy variables do not resolve, so they are
      scoped to this account's components and things instead of `*`.
    """
    connect_condition: dict[str, Any] = {"Bool": {"iot:Connection.Thing.IsAttached": "true"}}
    if source_vpce:
        connect_condition["StringEquals"] = {"aws:SourceVpce": source_vpce}
    p = scope.partition
    return _doc(
        {
            "Sid": "ConnectAsOwnThingName",
            "Effect": "Allow",
            "Action": "iot:Connect",
            "Resource": [scope.iot(f"client/{THING}"), scope.iot(f"client/{THING}#*")],
            "Condition": connect_condition,
        },
        {
            "Sid": "PublishReceiveOwnTopics",
            "Effect": "Allow",
            "Action": ["iot:Publish", "iot:Receive"],
            "Resource": [scope.iot(f"topic/{t}") for t in device_topics(THING, topic_root)],
        },
        {
            "Sid": "SubscribeOwnTopics",
            "Effect": "Allow",
            "Action": "iot:Subscribe",
            "Resource": [scope.iot(f"topicfilter/{t}") for t in device_topic_filters(THING)],
        },
        {
            "Sid": "ShadowsOfOwnThing",
            "Effect": "Allow",
            "Action": ["iot:GetThingShadow", "iot:UpdateThingShadow", "iot:DeleteThingShadow"],
            "Resource": scope.iot(f"thing/{THING}"),
        },
        {
            "Sid": "TokenExchangeRoleAlias",
            "Effect": "Allow",
            "Action": "iot:AssumeRoleWithCertificate",
            "Resource": scope.iot(f"rolealias/{role_alias}"),
        },
        {
            "Sid": "GreengrassComponents",
            "Effect": "Allow",
            "Action": ["greengrass:GetComponentVersionArtifact", "greengrass:ResolveComponentCandidates"],
            "Resource": [
                f"arn:{p}:greengrass:{scope.region}:{scope.account}:components:*",
                f"arn:{p}:greengrass:{scope.region}:aws:components:*",
            ],
        },
        {
            "Sid": "GreengrassDeployments",
            "Effect": "Allow",
            "Action": ["greengrass:GetDeploymentConfiguration", "greengrass:ListThingGroupsForCoreDevice"],
            "Resource": scope.iot("thing/*"),
        },
    )


def role_alias_policy(scope: Scope, role_alias: str = DEFAULT_ROLE_ALIAS) -> Policy:
    """The role-alias policy alone (for devices that get the rest elsewhere)."""
    return _doc(
        {
            "Effect": "Allow",
            "Action": "iot:AssumeRoleWithCertificate",
            "Resource": scope.iot(f"rolealias/{role_alias}"),
        }
    )


def token_exchange_trust_policy() -> Policy:
    """Trust policy of the token exchange role: only the IoT credentials provider may assume it."""
    return _doc(
        {
            "Effect": "Allow",
            "Principal": {"Service": "credentials.iot.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    )


def token_exchange_access_policy(scope: Scope, artifact_bucket: str) -> Policy:
    """What devices may do with their temporary credentials: read artifacts, write Greengrass logs."""
    p = scope.partition
    logs = f"arn:{p}:logs:{scope.region}:{scope.account}:log-group:{LOG_GROUP_PREFIX}*"
    return _doc(
        {
            "Sid": "ReadComponentArtifacts",
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": f"arn:{p}:s3:::{artifact_bucket}/*",
        },
        {
            # The nucleus asks for the bucket's region before downloading.
            "Sid": "LocateArtifactBucket",
            "Effect": "Allow",
            "Action": "s3:GetBucketLocation",
            "Resource": f"arn:{p}:s3:::{artifact_bucket}",
        },
        {
            "Sid": "GreengrassLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
            "Resource": [logs, f"{logs}:log-stream:*"],
        },
    )


def claim_policy(scope: Scope, template_name: str = DEFAULT_TEMPLATE_NAME) -> Policy:
    """Policy of the fleet-provisioning claim certificate: provisioning topics and nothing else.

    The CSR topics are used so that device keys never leave the devices. A claim certificate has
    no thing, so the client ID cannot be tied to one; the certificate can do nothing but provision.
    """
    topics = [
        "$aws/certificates/create-from-csr/json",
        "$aws/certificates/create-from-csr/json/accepted",
        "$aws/certificates/create-from-csr/json/rejected",
        f"$aws/provisioning-templates/{template_name}/provision/json",
        f"$aws/provisioning-templates/{template_name}/provision/json/accepted",
        f"$aws/provisioning-templates/{template_name}/provision/json/rejected",
    ]
    return _doc(
        {"Effect": "Allow", "Action": "iot:Connect", "Resource": scope.iot("client/*")},
        {
            "Effect": "Allow",
            "Action": ["iot:Publish", "iot:Receive"],
            "Resource": [scope.iot(f"topic/{t}") for t in topics],
        },
        {"Effect": "Allow", "Action": "iot:Subscribe", "Resource": [scope.iot(f"topicfilter/{t}") for t in topics]},
    )


def provisioning_role_trust_policy() -> Policy:
    """Trust policy of the role fleet provisioning uses (with AWSIoTThingsRegistration attached)."""
    return _doc({"Effect": "Allow", "Principal": {"Service": "iot.amazonaws.com"}, "Action": "sts:AssumeRole"})


def fleet_provisioning_template(
    thing_group: str, policy_name: str = DEFAULT_POLICY_NAME, thing_name_prefix: str = ""
) -> dict[str, Any]:
    """Fleet provisioning (by claim) template: thing, certificate, shared device policy, fixed group.

    The thing group is fixed here, not a device-supplied parameter, so a claim holder cannot place
    itself in another group's deployments. Thing type and attributes (`site`, `model`,
    `provisionedBy`, as `edgewatch provision --attribute` names them) come from parameters that the
    pre-provisioning hook overrides (`edgewatch_lambdas.preprovision_hook`); the defaults apply
    without a hook. The thing type must exist (`edgewatch provision` creates it, or
    `aws iot create-thing-type`). `RegistrationToken` is declared for the hook to read.
    """
    thing_name: Any = {"Ref": "ThingName"}
    if thing_name_prefix:
        thing_name = {"Fn::Join": ["", [thing_name_prefix, {"Ref": "ThingName"}]]}
    return {
        "Parameters": {
            "ThingName": {"Type": "String"},
            "RegistrationToken": {"Type": "String", "Default": "none"},
            "ThingTypeName": {"Type": "String", "Default": DEFAULT_THING_TYPE},
            "Site": {"Type": "String", "Default": "unknown"},
            "Model": {"Type": "String", "Default": "unknown"},
            "ProvisionedBy": {"Type": "String", "Default": "fleet-provisioning"},
            "AWS::IoT::Certificate::Id": {"Type": "String"},
        },
        "Resources": {
            "EdgeWatchThing": {
                "Type": "AWS::IoT::Thing",
                "OverrideSettings": {
                    "AttributePayload": "REPLACE",
                    "ThingGroups": "REPLACE",
                    "ThingTypeName": "REPLACE",
                },
                "Properties": {
                    "ThingName": thing_name,
                    "ThingTypeName": {"Ref": "ThingTypeName"},
                    "AttributePayload": {
                        "site": {"Ref": "Site"},
                        "model": {"Ref": "Model"},
                        "provisionedBy": {"Ref": "ProvisionedBy"},
                    },
                    "ThingGroups": [thing_group],
                },
            },
            "EdgeWatchPolicy": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyName": policy_name}},
            "EdgeWatchCertificate": {
                "Type": "AWS::IoT::Certificate",
                "Properties": {"CertificateId": {"Ref": "AWS::IoT::Certificate::Id"}, "Status": "Active"},
            },
        },
    }


def operator_policy(scope: Scope, bucket_prefix: str) -> Policy:
    """What the person running `edgewatch publish|deploy|provision|fleet index|fleet group` needs, and no more."""
    p = scope.partition
    gg = f"arn:{p}:greengrass:{scope.region}:{scope.account}"
    return _doc(
        {
            "Sid": "ArtifactBucket",
            "Effect": "Allow",
            "Action": [
                "s3:CreateBucket",
                "s3:PutEncryptionConfiguration",
                "s3:PutBucketPublicAccessBlock",
                "s3:PutBucketPolicy",
                "s3:PutObject",
                "s3:AbortMultipartUpload",
                "s3:GetObject",
                "s3:ListBucket",
            ],
            "Resource": [f"arn:{p}:s3:::{bucket_prefix}-*", f"arn:{p}:s3:::{bucket_prefix}-*/*"],
        },
        {
            "Sid": "Components",
            "Effect": "Allow",
            "Action": [
                "greengrass:CreateComponentVersion",
                "greengrass:DescribeComponent",
                "greengrass:ListComponentVersions",
            ],
            "Resource": [f"{gg}:components:*"],
        },
        {
            "Sid": "Deployments",
            "Effect": "Allow",
            "Action": ["greengrass:CreateDeployment", "greengrass:GetDeployment"],
            "Resource": [f"{gg}:deployments:*", scope.iot("thinggroup/*"), scope.iot("thing/*")],
        },
        {
            # CreateDeployment creates and updates the IoT job that carries it and reads the target
            # and its shadow on the caller's behalf; --wait reads the job's counts.
            "Sid": "DeploymentJobs",
            "Effect": "Allow",
            "Action": [
                "iot:CreateJob",
                "iot:UpdateJob",
                "iot:CancelJob",
                "iot:DescribeJob",
                "iot:DescribeJobExecution",
                "iot:DescribeThing",
                "iot:GetThingShadow",
                "iot:UpdateThingShadow",
                "iot:DeleteThingShadow",
            ],
            "Resource": [scope.iot("job/*"), scope.iot("thinggroup/*"), scope.iot("thing/*")],
        },
        {
            # These actions have no resource-level permissions: "*" is the only resource AWS accepts
            # (the indexing configuration is the account's, `edgewatch fleet index enable`).
            "Sid": "ProvisioningWithoutResourceLevelPermissions",
            "Effect": "Allow",
            "Action": [
                "iot:DescribeEndpoint",
                "iot:CreateKeysAndCertificate",
                "iot:CreateCertificateFromCsr",
                "iot:GetIndexingConfiguration",
                "iot:UpdateIndexingConfiguration",
            ],
            "Resource": "*",
        },
        {
            "Sid": "ThingsAndGroups",
            "Effect": "Allow",
            "Action": [
                "iot:CreateThing",
                "iot:UpdateThing",
                "iot:AttachThingPrincipal",
                "iot:DescribeThingGroup",
                "iot:CreateThingGroup",
                "iot:AddThingToThingGroup",
                "iot:ListThingsInThingGroup",
                "iot:DescribeThingType",
                "iot:CreateThingType",
                "iot:DescribeBillingGroup",
                "iot:CreateBillingGroup",
                "iot:AddThingToBillingGroup",
                "iot:RemoveThingFromBillingGroup",
            ],
            "Resource": [
                scope.iot("thing/*"),
                scope.iot("thinggroup/*"),
                scope.iot("thingtype/*"),
                scope.iot("billinggroup/*"),
            ],
        },
        {
            # `edgewatch fleet group create`: a dynamic group is a thing group over the AWS_Things index.
            "Sid": "DynamicGroups",
            "Effect": "Allow",
            "Action": ["iot:CreateDynamicThingGroup", "iot:UpdateDynamicThingGroup"],
            "Resource": [scope.iot("thinggroup/*"), scope.iot("index/AWS_Things")],
        },
        {
            "Sid": "DevicePolicy",
            "Effect": "Allow",
            "Action": ["iot:GetPolicy", "iot:CreatePolicy", "iot:CreatePolicyVersion", "iot:AttachPolicy"],
            "Resource": [scope.iot("policy/EdgeWatch*"), scope.iot("cert/*")],
        },
        {
            "Sid": "RoleAlias",
            "Effect": "Allow",
            "Action": ["iot:CreateRoleAlias", "iot:DescribeRoleAlias", "iot:UpdateRoleAlias"],
            "Resource": scope.iot("rolealias/EdgeWatch*"),
        },
        {
            "Sid": "TokenExchangeRole",
            "Effect": "Allow",
            "Action": ["iam:GetRole", "iam:CreateRole", "iam:PutRolePolicy", "iam:PassRole"],
            "Resource": f"arn:{p}:iam::{scope.account}:role/EdgeWatch*",
        },
    )


FLEET_WATCH_CLIENT_PREFIX = "edgewatch-fleet-watch-"  # `edgewatch fleet watch` connects as <prefix><user>


def fleet_topic_filters(topic_root: str = TOPIC_ROOT) -> list[str]:
    """What a fleet reader subscribes to: every device's batches and alerts, and presence events."""
    return [f"dt/{topic_root}/+/metrics", f"dt/{topic_root}/+/alerts",
            "$aws/events/presence/connected/+", "$aws/events/presence/disconnected/+"]


def _fleet_read_statements(scope: Scope, topic_root: str) -> list[dict[str, Any]]:
    # Subscribe is checked against the filter string itself; Receive against each concrete topic.
    return [
        {"Sid": "SubscribeFleetTopics", "Effect": "Allow", "Action": "iot:Subscribe",
         "Resource": [scope.iot(f"topicfilter/{f}") for f in fleet_topic_filters(topic_root)]},
        {"Sid": "ReceiveFleetTopics", "Effect": "Allow", "Action": "iot:Receive",
         "Resource": [scope.iot(f"topic/{f.replace('+', '*')}") for f in fleet_topic_filters(topic_root)]},
    ]


def hub_device_policy(scope: Scope, role_alias: str = DEFAULT_ROLE_ALIAS, topic_root: str = TOPIC_ROOT) -> Policy:
    """The hub gateway's IoT policy: the core device policy plus read-only access to the fleet topics."""
    doc = core_device_policy(scope, role_alias=role_alias, topic_root=topic_root)
    doc["Statement"].extend(_fleet_read_statements(scope, topic_root))
    return doc


def fleet_watch_policy(scope: Scope, iam: bool = True, topic_root: str = TOPIC_ROOT) -> Policy:
    """What `edgewatch fleet watch` needs: connect as edgewatch-fleet-watch-*, read the fleet topics.

    `iam=True` is the operator's IAM policy (WebSocket + SigV4) and adds iot:DescribeEndpoint, which
    has no resource-level permissions; `iam=False` is the IoT policy for a backend host's certificate.
    """
    statements = [
        {"Sid": "ConnectAsFleetWatch", "Effect": "Allow", "Action": "iot:Connect",
         "Resource": scope.iot(f"client/{FLEET_WATCH_CLIENT_PREFIX}*")},
        *_fleet_read_statements(scope, topic_root),
    ]
    if iam:
        statements.append({"Sid": "FindTheDataEndpoint", "Effect": "Allow", "Action": "iot:DescribeEndpoint",
                           "Resource": "*"})
    return _doc(*statements)


# The files in deployment/policies and deployment/provisioning, rendered with placeholders.
PLACEHOLDER_SCOPE = Scope(region="{{AWS_REGION}}", account="{{AWS_ACCOUNT_ID}}")


def placeholder_files() -> dict[str, Any]:
    """Relative path under deployment/ -> document, with {{PLACEHOLDERS}} (documented in README.md)."""
    s = PLACEHOLDER_SCOPE
    return {
        "policies/core-device-iot-policy.json": core_device_policy(s, role_alias="{{ROLE_ALIAS}}"),
        "policies/core-device-iot-policy-vpce.json": core_device_policy(
            s, role_alias="{{ROLE_ALIAS}}", source_vpce="{{VPC_ENDPOINT_ID}}"
        ),
        "policies/role-alias-policy.json": role_alias_policy(s, role_alias="{{ROLE_ALIAS}}"),
        "policies/token-exchange-role-trust.json": token_exchange_trust_policy(),
        "policies/token-exchange-role-access.json": token_exchange_access_policy(s, "{{ARTIFACT_BUCKET}}"),
        "policies/operator-policy.json": operator_policy(s, "{{BUCKET_PREFIX}}"),
        "policies/core-device-iot-policy-hub.json": hub_device_policy(s, role_alias="{{ROLE_ALIAS}}"),
        "policies/fleet-watch-policy.json": fleet_watch_policy(s),
        "policies/fleet-watch-iot-policy.json": fleet_watch_policy(s, iam=False),
        "provisioning/claim-policy.json": claim_policy(s, template_name="{{TEMPLATE_NAME}}"),
        "provisioning/provisioning-role-trust.json": provisioning_role_trust_policy(),
        "provisioning/fleet-provisioning-template.json": fleet_provisioning_template(
            "{{THING_GROUP}}", policy_name="{{POLICY_NAME}}"
        ),
    }


def dumps(doc: Any) -> str:
    return json.dumps(doc, indent=2) + "\n"


def write_placeholder_files(deployment_dir: Path) -> list[Path]:
    """Write (only changed) placeholder files; return the paths written."""
    written = []
    for rel, doc in placeholder_files().items():
        path = deployment_dir / rel
        text = dumps(doc)
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    parser = argparse.ArgumentParser(prog="python -m edgewatch.cloud.policies")
    parser.add_argument("--write", type=Path, metavar="DEPLOYMENT_DIR", required=True)
    args = parser.parse_args(argv)
    for path in write_placeholder_files(args.write):
        logger.info("wrote %s", path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
