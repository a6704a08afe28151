"""deployment/cloud/edgewatch.yaml: cfn-lint, our policy linter on every policy, topic rules against
botocore's CreateTopicRule model, and the wiring between the template and the Lambda code."""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest
from cfnlint.api import lint
from moto import mock_aws

from edgewatch.cloud.defaults import DEFAULT_SEARCHABLE_ATTRIBUTES, DEFAULT_THING_TYPE
from edgewatch.cloud.model import validate_request
from edgewatch.cloud.policy_lint import lint_policy
from edgewatch.cloud.stack import TEMPLATE_PATH, load_template

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_TEXT = (ROOT / TEMPLATE_PATH).read_text(encoding="utf-8")
TEMPLATE = load_template(TEMPLATE_TEXT)
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]
REGION, ACCOUNT, PARTITION, STACK = "eu-west-1", "123456789012", "aws", "edgewatch"
SAMPLE_PARAMETERS = {
    "SlackSecretArn": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:edgewatch/slack-AbCdEf",
    "LambdaCodeBucket": "edgewatch-components-eu-west-1-123456789012",
    "LambdaCodeKey": "edgewatch/lambdas/0123456789abcdef0123.zip",
}
_ROUTER_SRC = ROOT / "components" / "alert-router" / "src"


# --- a small resolver: intrinsics → what CloudFormation would pass to the services -------------------


def _arn(logical: str) -> str:
    kind = RESOURCES[logical]["Type"]
    physical = _ref(logical)
    return {
        "AWS::Logs::LogGroup": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{physical}:*",
        "AWS::DynamoDB::Table": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{physical}",
        "AWS::SQS::Queue": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{logical}",
        "AWS::IAM::Role": f"arn:aws:iam::{ACCOUNT}:role/{STACK}-{logical}-ABC123",
        "AWS::Lambda::Function": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{physical}",
        "AWS::S3::Bucket": f"arn:aws:s3:::{physical}",
        "AWS::KinesisFirehose::DeliveryStream": f"arn:aws:firehose:{REGION}:{ACCOUNT}:deliverystream/{physical}",
        "AWS::IoT::TopicRule": f"arn:aws:iot:{REGION}:{ACCOUNT}:rule/{logical}",
    }[kind]


def _ref(name: str) -> str:
    pseudo = {"AWS::AccountId": ACCOUNT, "AWS::Region": REGION, "AWS::Partition": PARTITION, "AWS::StackName": STACK}
    if name in pseudo:
        return pseudo[name]
    if name in TEMPLATE["Parameters"]:
        spec = TEMPLATE["Parameters"][name]
        return str(SAMPLE_PARAMETERS.get(name, spec.get("Default")))
    resource = RESOURCES[name]
    props = resource.get("Properties", {})
    for key in ("LogGroupName", "FunctionName", "QueueName", "TableName", "BucketName", "DeliveryStreamName"):
        if key in props:
            return str(resolve(props[key]))
    if resource["Type"] == "AWS::SQS::Queue":
        return f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{name}"
    return f"{STACK}-{name}-XYZ789".lower()


def resolve(value: Any) -> Any:
    if isinstance(value, list):
        return [resolve(v) for v in value]
    if not isinstance(value, dict):
        return value
    if set(value) == {"Ref"}:
        return _ref(value["Ref"])
    if set(value) == {"Fn::GetAtt"}:
        logical, attribute = value["Fn::GetAtt"]
        assert attribute == "Arn", f"unexpected GetAtt {logical}.{attribute}"
        return _arn(logical)
    if set(value) == {"Fn::Sub"}:
        def sub(match: re.Match[str]) -> str:
            name = match[1]
            return _arn(name[: -len(".Arn")]) if name.endswith(".Arn") else _ref(name)

        return re.sub(r"\$\{([^}]+)\}", sub, value["Fn::Sub"])
    return {k: resolve(v) for k, v in value.items()}


def of_type(kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in RESOURCES.items() if r["Type"] == kind}


def policies() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for name, role in of_type("AWS::IAM::Role").items():
        found.append((f"{name} trust", resolve(role["Properties"]["AssumeRolePolicyDocument"])))
        for policy in role["Properties"].get("Policies", []):
            found.append((f"{name} {policy['PolicyName']}", resolve(policy["PolicyDocument"])))
    for name, bucket_policy in of_type("AWS::S3::BucketPolicy").items():
        found.append((name, resolve(bucket_policy["Properties"]["PolicyDocument"])))
    return found


def _api_casing(value: Any) -> Any:
    """CloudFormation's TopicRulePayload (PascalCase) → the IoT API's (camelCase)."""
    if isinstance(value, list):
        return [_api_casing(v) for v in value]
    if isinstance(value, dict):
        return {k[0].lower() + k[1:]: _api_casing(v) for k, v in value.items()}
    return value


# --- tests --------------------------------------------------------------------------------------


def test_the_template_passes_cfn_lint_in_several_regions() -> None:
    matches = lint(TEMPLATE_TEXT, regions=["eu-west-1", "us-east-1", "ap-southeast-2"])
    assert [str(m) for m in matches] == []


def test_every_policy_in_the_template_passes_our_policy_linter() -> None:
    found = policies()
    assert len(found) >= 12  # six roles, each with a trust and a permissions policy, and the bucket policy
    problems = [f"{name}: {p}" for name, doc in found for p in lint_policy(doc)]
    assert problems == []


def test_the_policy_check_would_catch_a_wildcard() -> None:
    # The resolver must hand the linter real resources: a '*' slipped into the template is caught.
    role = resolve(RESOURCES["NotifierRole"]["Properties"]["Policies"][0]["PolicyDocument"])
    role["Statement"][0]["Resource"] = "*"
    assert lint_policy(role)


def test_every_topic_rule_validates_against_create_topic_rule_and_has_an_error_action() -> None:
    rules = of_type("AWS::IoT::TopicRule")
    topics = {}
    for name, rule in rules.items():
        payload = _api_casing(resolve(rule["Properties"]["TopicRulePayload"]))
        validate_request("iot", "CreateTopicRule", {"ruleName": name, "topicRulePayload": payload})
        assert payload["awsIotSqlVersion"] == "2016-03-23"
        assert set(payload["errorAction"]) == {"cloudwatchLogs"}, name
        assert payload["errorAction"]["cloudwatchLogs"]["logGroupName"] == _ref("RuleErrorLogGroup")
        match = re.fullmatch(r"SELECT (?P<select>.+) FROM '(?P<topic>[^']+)'", payload["sql"])
        assert match, f"{name}: unexpected SQL {payload['sql']!r}"
        topics[match["topic"]] = (name, match["select"], payload["actions"])
    assert set(topics) == {"dt/edgewatch/+/alerts", "dt/edgewatch/+/metrics", "$aws/events/presence/connected/+",
                           "$aws/events/presence/disconnected/+"}  # fmt: skip
    notifier = _arn("NotifierFunction")
    assert topics["dt/edgewatch/+/alerts"][2] == [{"lambda": {"functionArn": notifier}}]
    assert "topic(3) AS edgewatchTopicThing" in topics["dt/edgewatch/+/alerts"][1]
    assert topics["$aws/events/presence/connected/+"][2] == [{"lambda": {"functionArn": notifier}}]
    assert list(topics["$aws/events/presence/disconnected/+"][2][0]) == ["sqs"]
    assert list(topics["dt/edgewatch/+/metrics"][2][0]) == ["firehose"]
    assert "topic(3) AS edgewatchThing" in topics["dt/edgewatch/+/metrics"][1]


def test_each_rule_that_invokes_a_lambda_has_its_own_permission() -> None:
    granted = {resolve(p["Properties"]["SourceArn"]) for p in of_type("AWS::Lambda::Permission").values()
               if "SourceArn" in p["Properties"]}  # fmt: skip
    for name, rule in of_type("AWS::IoT::TopicRule").items():
        if any("Lambda" in a for a in rule["Properties"]["TopicRulePayload"]["Actions"]):
            assert _arn(name) in granted, name


def test_metrics_are_partitioned_by_the_thing_the_rule_takes_from_the_topic_and_by_date() -> None:
    s3 = RESOURCES["MetricsDeliveryStream"]["Properties"]["ExtendedS3DestinationConfiguration"]
    assert s3["Prefix"] == "metrics/thing=!{partitionKeyFromQuery:thing}/date=!{timestamp:yyyy-MM-dd}/"
    assert s3["DynamicPartitioningConfiguration"]["Enabled"] is True
    processor = s3["ProcessingConfiguration"]["Processors"][0]
    extraction = {p["ParameterName"]: p["ParameterValue"] for p in processor["Parameters"]}
    assert extraction["MetadataExtractionQuery"] == "{thing: .edgewatchThing}"
    assert RESOURCES["MetricsBucket"]["DeletionPolicy"] == "Retain"


def test_the_grace_period_is_the_queue_delay_and_sqs_allows_it() -> None:
    queue = RESOURCES["OfflineCheckQueue"]["Properties"]
    assert queue["DelaySeconds"] == {"Ref": "OfflineGraceSeconds"}
    assert TEMPLATE["Parameters"]["OfflineGraceSeconds"]["MaxValue"] == 900  # SQS's DelaySeconds maximum
    assert queue["RedrivePolicy"]["maxReceiveCount"] <= 10  # retries are bounded, then the dead-letter queue
    notifier = RESOURCES["NotifierFunction"]["Properties"]
    assert queue["VisibilityTimeout"] >= 6 * notifier["Timeout"]  # AWS's advice for SQS event sources


@pytest.fixture
def router_on_path() -> Any:
    sys.path.insert(0, str(_ROUTER_SRC))
    yield
    sys.path.remove(str(_ROUTER_SRC))


def test_functions_point_at_real_handlers_and_get_the_environment_they_read(router_on_path: None) -> None:
    readers = {
        "NotifierFunction": {"SLACK_SECRET_ARN", "DEDUPE_TABLE", "PRESENCE_TABLE", "OFFLINE_GRACE_SECONDS"},
        "PreProvisioningHookFunction": {"TOKENS_PARAMETER", "THING_NAME_PATTERN", "THING_TYPE_NAME"},
    }
    for name, function in of_type("AWS::Lambda::Function").items():
        props = function["Properties"]
        module, _, attribute = props["Handler"].rpartition(".")
        loaded = importlib.import_module(module)
        assert callable(getattr(loaded, attribute)), props["Handler"]
        source = Path(loaded.__file__ or "").read_text()
        used = set(re.findall(r"os\.environ(?:\.get)?[\[(]\"([A-Z_]+)\"", source))
        assert used == readers[name], name
        assert set(props["Environment"]["Variables"]) == readers[name], name
        assert props["Code"] == {"S3Bucket": {"Ref": "LambdaCodeBucket"}, "S3Key": {"Ref": "LambdaCodeKey"}}


def test_moto_iot_accepts_every_rule_as_the_stack_creates_it(aws_env: None) -> None:
    with mock_aws():
        iot = boto3.client("iot", region_name=REGION)
        for name, rule in of_type("AWS::IoT::TopicRule").items():
            payload = _api_casing(resolve(rule["Properties"]["TopicRulePayload"]))
            iot.create_topic_rule(ruleName=name, topicRulePayload=payload)
            stored = iot.get_topic_rule(ruleName=name)["rule"]
            assert stored["sql"] == payload["sql"] and stored["errorAction"] == payload["errorAction"]


def test_the_thing_type_is_created_only_when_asked_and_matches_provision() -> None:
    thing_type = RESOURCES["GatewayThingType"]
    assert thing_type["Condition"] == "CreatesThingType" and thing_type["DeletionPolicy"] == "Retain"
    assert TEMPLATE["Parameters"]["CreateThingType"]["Default"] == "false"  # provision may have made it
    assert TEMPLATE["Parameters"]["ThingTypeName"]["Default"] == DEFAULT_THING_TYPE
    properties = thing_type["Properties"]["ThingTypeProperties"]
    assert tuple(properties["SearchableAttributes"]) == DEFAULT_SEARCHABLE_ATTRIBUTES
    validate_request("iot", "CreateThingType", {"thingTypeName": DEFAULT_THING_TYPE, "thingTypeProperties": {
        "thingTypeDescription": properties["ThingTypeDescription"],
        "searchableAttributes": properties["SearchableAttributes"]}})  # fmt: skip
