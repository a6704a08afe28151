"""Fixtures for the Lambdas: moto (DynamoDB, Secrets Manager, SSM, SQS), the tables as the stack makes them,
and the real local fake Slack server."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

# The Lambdas import the AlertRouter's renderer, which ships in the component's own source folder
# (and in the Lambda zip, see edgewatch.cloud.stack.LAMBDA_FILES).
_ROUTER_SRC = Path(__file__).resolve().parents[2] / "components" / "alert-router" / "src"
if str(_ROUTER_SRC) not in sys.path:
    sys.path.insert(0, str(_ROUTER_SRC))

from edgewatch_testkit.aws_env import isolate_aws_environment  # noqa: E402
from edgewatch_testkit.fake_slack import FakeSlack  # noqa: E402

REGION = "eu-west-1"
DEDUPE_TABLE = "edgewatch-dedupe"
PRESENCE_TABLE = "edgewatch-presence"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fake credentials and region (nothing from the developer's machine), inside moto."""
    isolate_aws_environment(monkeypatch, REGION)
    with mock_aws():
        yield


def _table(dynamodb: Any, name: str, key: str) -> None:
    # As deployment/cloud/edgewatch.yaml declares them.
    dynamodb.create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
        KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
    )  # fmt: skip
    ttl = {"AttributeName": "expiresAt", "Enabled": True}
    dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)


@dataclass
class CloudSide:
    dynamodb: Any
    secrets: Any
    sqs: Any
    secret_arn: str
    slack: FakeSlack


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


@pytest.fixture
def cloud(aws: None, slack: FakeSlack) -> CloudSide:
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    _table(dynamodb, DEDUPE_TABLE, "id")
    _table(dynamodb, PRESENCE_TABLE, "thing")
    secrets = boto3.client("secretsmanager", region_name=REGION)
    arn = secrets.create_secret(Name="edgewatch/slack", SecretString=f'{{"webhookUrl": "{slack.webhook_url}"}}')["ARN"]
    return CloudSide(dynamodb, secrets, boto3.client("sqs", region_name=REGION), arn, slack)
