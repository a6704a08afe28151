"""`edgewatch cloud deploy | delete` against moto's CloudFormation, and the Lambda zip.

moto cannot create the real template's IoT rules, so the stack tests use a small template with the
same code parameters; the real template is covered by the dry run and tests/cloud/test_stack_template.py.
"""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from edgewatch.cli import build_parser
from edgewatch.cloud import stack
from edgewatch.cloud.deps import CloudDeps
from edgewatch.cloud.model import validate_request
from edgewatch.cloud.stack import StackDeployer, StackError
from tests.cloud.conftest import ACCOUNT, REGION
from tests.cloud.fakes import S3KeepingBucketPolicies, client_error, validate_response

ROOT = Path(__file__).resolve().parents[2]
SMALL_TEMPLATE = """\
AWSTemplateFormatVersion: "2010-09-09"
Parameters:
  LambdaCodeBucket: {Type: String}
  LambdaCodeKey: {Type: String}
  Greeting: {Type: String, Default: hello}
  Required: {Type: String}
Resources:
  Queue:
    Type: AWS::SQS::Queue
    Properties:
      Tags: [{Key: greeting, Value: !Ref Greeting}]
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
      KeySchema: [{AttributeName: id, KeyType: HASH}]
Outputs:
  QueueUrl: {Value: !Ref Queue}
"""


class Clients:
    region = REGION

    def __init__(self) -> None:
        self._clients: dict[str, Any] = {}

    def client(self, service: str) -> Any:
        if service not in self._clients:
            made = boto3.client(service, region_name=REGION)
            # moto would apply the TLS-only bucket policy without its condition (see the class).
            self._clients[service] = S3KeepingBucketPolicies(made) if service == "s3" else made
        return self._clients[service]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def moto_aws(aws_env: None) -> Iterator[Clients]:
    with mock_aws():
        yield Clients()


def run(argv: list[str], clients: Any) -> int:
    args = build_parser().parse_args(argv)
    clock = Clock()
    made: list[tuple[Any, ...]] = []

    def maker(*key: Any) -> Any:
        made.append(key)
        if clients is None:
            raise AssertionError("this command must not call AWS")
        return clients

    return int(args.func(args, CloudDeps(client_maker=maker, sleep=clock.sleep, clock=clock)))


@pytest.fixture
def small_template(tmp_path: Path) -> Path:
    path = tmp_path / "small.yaml"
    path.write_text(SMALL_TEMPLATE)
    return path


def test_deploy_creates_then_reports_no_changes_then_updates_keeping_previous_values(
    moto_aws: Clients, small_template: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["cloud", "deploy", "--stack", "ew-test", "--template", str(small_template), "--repo-root", str(ROOT)]
    assert run([*base, "--parameter", "Required=yes"], moto_aws) == 0
    out = capsys.readouterr().out
    bucket = f"edgewatch-components-{REGION}-{ACCOUNT}"  # gdk-config's publish bucket, created and hardened
    assert f"Lambda code s3://{bucket}/edgewatch/lambdas/" in out
    assert "Add      AWS::SQS::Queue" in out and "creating stack ew-test (2 change(s))" in out
    assert "CREATE_COMPLETE" in out and "stack ew-test CREATE_COMPLETE" in out  # (moto keeps no Outputs here)
    cfn = moto_aws.client("cloudformation")
    described = cfn.describe_stacks(StackName="ew-test")["Stacks"][0]
    params = {p["ParameterKey"]: p["ParameterValue"] for p in described["Parameters"]}
    assert params["Required"] == "yes" and params["LambdaCodeKey"].startswith("edgewatch/lambdas/")
    zipped = moto_aws.client("s3").get_object(Bucket=bucket, Key=params["LambdaCodeKey"])["Body"].read()
    assert zipped == stack.package_lambdas(ROOT)

    assert run(base, moto_aws) == 0  # same code, Required kept from the stack
    assert "no changes: stack ew-test is up to date" in capsys.readouterr().out

    assert run([*base, "--parameter", "Greeting=bonjour"], moto_aws) == 0
    out = capsys.readouterr().out
    assert "updating stack ew-test" in out and "stack ew-test UPDATE_COMPLETE" in out
    params = {p["ParameterKey"]: p["ParameterValue"]
              for p in cfn.describe_stacks(StackName="ew-test")["Stacks"][0]["Parameters"]}  # fmt: skip
    assert params["Greeting"] == "bonjour" and params["Required"] == "yes"


def test_delete_tears_the_stack_down_and_a_second_delete_says_nothing_to_do(
    moto_aws: Clients, small_template: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    deploy = ["cloud", "deploy", "--stack", "ew-gone", "--template", str(small_template), "--repo-root", str(ROOT)]
    assert run([*deploy, "--parameter", "Required=yes"], moto_aws) == 0
    capsys.readouterr()
    assert run(["cloud", "delete", "--stack", "ew-gone", "--repo-root", str(ROOT)], moto_aws) == 0
    assert "stack ew-gone DELETE_COMPLETE" in capsys.readouterr().out
    deployer = StackDeployer(moto_aws.client("cloudformation"), io.StringIO(), Clock().sleep, Clock())
    assert deployer.status("ew-gone") is None
    assert run(["cloud", "delete", "--stack", "ew-gone", "--repo-root", str(ROOT)], moto_aws) == 0
    assert "no stack ew-gone: nothing to delete" in capsys.readouterr().out


def test_a_first_deploy_without_a_required_parameter_or_with_an_unknown_one_fails_clearly(
    moto_aws: Clients, small_template: Path, caplog: pytest.LogCaptureFixture
) -> None:
    base = ["cloud", "deploy", "--stack", "ew-x", "--template", str(small_template), "--repo-root", str(ROOT),
            "--code-bucket", "my-code"]  # fmt: skip
    moto_aws.client("s3").create_bucket(Bucket="my-code", CreateBucketConfiguration={"LocationConstraint": REGION})
    with caplog.at_level(logging.ERROR):
        assert run(base, moto_aws) == 1
        assert run([*base, "--parameter", "Colour=blue"], moto_aws) == 1
    assert "creating stack ew-x needs --parameter Required=..." in caplog.text
    assert "unknown --parameter Colour; the template takes Greeting, LambdaCodeBucket" in caplog.text


def test_dry_run_prints_the_real_template_and_its_parameters_and_calls_nothing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["cloud", "deploy", "--dry-run", "--repo-root", str(ROOT), "--parameter", "OfflineGraceSeconds=120"]
    assert run(argv, None) == 0
    out = capsys.readouterr().out
    template = (ROOT / stack.TEMPLATE_PATH).read_text()
    assert out.startswith(template)
    params = json.loads(out[len(template):].split("# parameters\n", 1)[1].split("\n#", 1)[0])
    values = {p["ParameterKey"]: p["ParameterValue"] for p in params}
    assert values["OfflineGraceSeconds"] == "120"
    assert values["LambdaCodeKey"] == stack.code_key(stack.package_lambdas(ROOT))
    assert "# a first deployment also needs: SlackSecretArn" in out


# --- a rollback, through a model-validated CloudFormation double -----------------------------------


class RollingBackCloudFormation:
    """Creates nothing: the change set executes and the stack rolls back, as when a role is missing."""

    def __init__(self) -> None:
        self.stack_id = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/ew-fail/1"
        self.created = self.executed = False
        self.event_polls = 0

    def _event(self, n: int, logical: str, kind: str, status: str, reason: str = "") -> dict[str, Any]:
        event = {"StackId": self.stack_id, "EventId": f"e{n}", "StackName": "ew-fail", "LogicalResourceId": logical,
                 "ResourceType": kind, "ResourceStatus": status,
                 "Timestamp": datetime(2026, 12, 2, 1, 0, n, tzinfo=UTC)}
        if reason:
            event["ResourceStatusReason"] = reason
        return event  # fmt: skip

    def describe_stacks(self, **params: Any) -> dict[str, Any]:
        validate_request("cloudformation", "DescribeStacks", params)
        if not self.created:
            raise client_error("DescribeStacks", "ValidationError", "Stack with id ew-fail does not exist")
        if not self.executed:
            status = "REVIEW_IN_PROGRESS"
        else:
            status = "ROLLBACK_COMPLETE" if self.event_polls >= 3 else "ROLLBACK_IN_PROGRESS"
        return validate_response("cloudformation", "DescribeStacks", {"Stacks": [
            {"StackId": self.stack_id, "StackName": "ew-fail", "StackStatus": status,
             "CreationTime": datetime(2026, 12, 2, tzinfo=UTC)}]})  # fmt: skip

    def create_change_set(self, **params: Any) -> dict[str, Any]:
        validate_request("cloudformation", "CreateChangeSet", params)
        self.created = True
        return {"Id": f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:changeSet/{params['ChangeSetName']}/1",
                "StackId": self.stack_id}  # fmt: skip

    def describe_change_set(self, **params: Any) -> dict[str, Any]:
        validate_request("cloudformation", "DescribeChangeSet", params)
        return {"Status": "CREATE_COMPLETE", "Changes": [{"Type": "Resource", "ResourceChange": {
            "Action": "Add", "LogicalResourceId": "NotifierFunction", "ResourceType": "AWS::Lambda::Function"}}]}

    def execute_change_set(self, **params: Any) -> dict[str, Any]:
        validate_request("cloudformation", "ExecuteChangeSet", params)
        self.executed = True
        return {}

    def describe_stack_events(self, **params: Any) -> dict[str, Any]:
        validate_request("cloudformation", "DescribeStackEvents", params)
        events = [
            self._event(1, "ew-fail", "AWS::CloudFormation::Stack", "CREATE_IN_PROGRESS", "User Initiated"),
            self._event(2, "NotifierFunction", "AWS::Lambda::Function", "CREATE_IN_PROGRESS"),
            self._event(3, "HookFunction", "AWS::Lambda::Function", "CREATE_FAILED", "Resource creation cancelled"),
            self._event(4, "NotifierFunction", "AWS::Lambda::Function", "CREATE_FAILED",
                        "The role defined for the function cannot be assumed by Lambda."),
            self._event(5, "ew-fail", "AWS::CloudFormation::Stack", "ROLLBACK_IN_PROGRESS",
                        "The following resource(s) failed to create: [NotifierFunction]."),
            self._event(6, "ew-fail", "AWS::CloudFormation::Stack", "ROLLBACK_COMPLETE"),
        ]  # fmt: skip
        if self.executed:  # two more events at each poll
            self.event_polls += 1
        visible = events[: 2 * self.event_polls]
        return validate_response("cloudformation", "DescribeStackEvents", {"StackEvents": list(reversed(visible))})


def test_a_rollback_fails_with_the_failing_resource_and_its_reason() -> None:
    clock, out = Clock(), io.StringIO()
    deployer = StackDeployer(RollingBackCloudFormation(), out, clock.sleep, clock, poll_seconds=5)
    with pytest.raises(StackError) as raised:
        params = {"Required": "x", "LambdaCodeBucket": "b", "LambdaCodeKey": "k.zip"}
        deployer.deploy("ew-fail", SMALL_TEMPLATE, params, stack.load_template(SMALL_TEMPLATE))
    assert str(raised.value) == (
        "stack ew-fail ended ROLLBACK_COMPLETE: NotifierFunction (AWS::Lambda::Function): "
        "The role defined for the function cannot be assumed by Lambda."
    )
    lines = out.getvalue().splitlines()
    assert any("CREATE_FAILED" in line and "cannot be assumed" in line for line in lines)  # progress as it came
    assert [line.split()[1] for line in lines if line[:2].isdigit()][-1] == "ROLLBACK_COMPLETE"


def test_a_stack_left_by_a_failed_creation_must_be_deleted_first() -> None:
    class RolledBack(RollingBackCloudFormation):
        def describe_stacks(self, **params: Any) -> dict[str, Any]:
            self.created = self.executed = True
            self.event_polls = 3
            return super().describe_stacks(**params)

    deployer = StackDeployer(RolledBack(), io.StringIO(), Clock().sleep, Clock())
    with pytest.raises(StackError, match=r"ROLLBACK_COMPLETE .*edgewatch cloud delete --stack ew-fail"):
        deployer.deploy("ew-fail", SMALL_TEMPLATE, {}, stack.load_template(SMALL_TEMPLATE))


# --- the Lambda zip -----------------------------------------------------------------------------


def test_the_lambda_zip_is_deterministic_and_carries_the_routers_renderer() -> None:
    data = stack.package_lambdas(ROOT)
    assert data == stack.package_lambdas(ROOT)
    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert "alert_router/receivers/slack_blocks.py" in names and "alert_router/notification.py" in names
    assert "edgewatch_lambdas/slack_notifier.py" in names
    assert not any(n.startswith("alert_router/") and n.endswith(("slack.py", "service.py")) for n in names)


def test_the_zip_alone_imports_and_renders_in_a_bare_python(tmp_path: Path) -> None:
    archive = tmp_path / "lambdas.zip"
    archive.write_bytes(stack.package_lambdas(ROOT))
    # -I -S: no site-packages, no repository paths; only the standard library and the zip.
    code = (
        "import sys; sys.path.insert(0, sys.argv[1])\n"
        "from edgewatch_lambdas import slack_notifier, preprovision_hook, presence\n"
        "from alert_router.receivers.slack_blocks import render\n"
        "e = presence.parse_presence_event({'clientId': 'gw-1', 'eventType': 'disconnected', 'timestamp': 1})\n"
        "text, blocks = render(presence.offline_notification(e, 60))\n"
        "print(slack_notifier.__file__.startswith(sys.argv[1]), len(blocks), text)\n"
    )
    result = subprocess.run([sys.executable, "-I", "-S", "-c", code, str(archive)], capture_output=True, text=True,
                            timeout=60, check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("True 4 :red_circle: *[CRITICAL] DeviceOffline* on *gw-1*")


def test_a_change_set_without_changes_is_deleted_and_reported() -> None:
    class UpToDate(RollingBackCloudFormation):
        deleted: list[str] = []

        def describe_stacks(self, **params: Any) -> dict[str, Any]:
            validate_request("cloudformation", "DescribeStacks", params)
            return validate_response("cloudformation", "DescribeStacks", {"Stacks": [
                {"StackId": self.stack_id, "StackName": "ew-fail", "StackStatus": "UPDATE_COMPLETE",
                 "CreationTime": datetime(2026, 12, 2, tzinfo=UTC),
                 "Parameters": [{"ParameterKey": "Required", "ParameterValue": "x"}]}]})  # fmt: skip

        def describe_change_set(self, **params: Any) -> dict[str, Any]:
            validate_request("cloudformation", "DescribeChangeSet", params)
            return {"Status": "FAILED", "StatusReason": "The submitted information didn't contain changes. "
                    "Submit different information to create a change set."}  # fmt: skip

        def delete_change_set(self, **params: Any) -> dict[str, Any]:
            validate_request("cloudformation", "DeleteChangeSet", params)
            self.deleted.append(params["ChangeSetName"])
            return {}

    double, out = UpToDate(), io.StringIO()
    params = {"LambdaCodeBucket": "b", "LambdaCodeKey": "k.zip"}
    result = StackDeployer(double, out, Clock().sleep, Clock()).deploy(
        "ew-fail", SMALL_TEMPLATE, params, stack.load_template(SMALL_TEMPLATE)
    )
    assert result == "unchanged" and len(double.deleted) == 1 and double.executed is False
    assert out.getvalue() == "no changes: stack ew-fail is up to date\n"


def test_every_lambda_module_is_in_the_zip() -> None:
    modules = {f"edgewatch_lambdas/{p.name}" for p in (ROOT / "src" / "edgewatch_lambdas").glob("*.py")}
    names = set(zipfile.ZipFile(io.BytesIO(stack.package_lambdas(ROOT))).namelist())
    assert modules and modules <= names


def test_registering_the_stack_parser_imports_no_sdk() -> None:
    code = (
        "import argparse, json, sys\n"
        "from edgewatch.cloud.stack_cli import add_stack_parser\n"
        "add_stack_parser(argparse.ArgumentParser().add_subparsers())\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True).stdout
    loaded = json.loads(out)
    heavy = ("boto3", "botocore", "yaml", "edgewatch.cloud.stack", "edgewatch.build")
    assert [m for m in loaded if any(m == h or m.startswith(h + ".") for h in heavy)] == []
    assert "edgewatch.cloud.stack_cli" in loaded
