"""Fixtures: an offline AWS (moto for sts/s3/iot/iam, model-validating doubles for greengrassv2)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from moto import mock_aws

from edgewatch.cloud.deps import CloudDeps
from edgewatch_testkit.aws_env import isolate_aws_environment
from tests.cloud.fakes import FakeGreengrass, IotWithJobs, S3KeepingBucketPolicies

REGION = "eu-west-1"
ACCOUNT = "123456789012"


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and region; nothing from the developer's machine leaks in."""
    isolate_aws_environment(monkeypatch, REGION)


@dataclass
class OfflineAws:
    """A ClientFactory: moto clients, the greengrassv2 double, IoT with the double's jobs."""

    region: str
    greengrass: FakeGreengrass
    iot: IotWithJobs
    _clients: dict[str, Any] = field(default_factory=dict)
    now: float = 0.0  # the injected clock: it moves only when the code under test sleeps

    def sleep(self, seconds: float) -> None:
        """Sleeping advances the clock and the rollouts of the greengrassv2 double."""
        self.now += seconds
        self.greengrass.advance(seconds)

    def deps(self, **overrides: Any) -> CloudDeps:
        """What the CLI handlers get: these clients whatever the profile/region, and this clock."""
        values: dict[str, Any] = {
            "client_maker": lambda profile, region, fallback: self,
            "sleep": self.sleep,
            "clock": lambda: self.now,
        }
        return CloudDeps(**{**values, **overrides})

    def client(self, service: str) -> Any:
        if service == "greengrassv2":
            return self.greengrass
        if service == "iot":
            return self.iot
        if service not in self._clients:
            self._clients[service] = boto3.client(service, region_name=self.region)
        return self._clients[service]


@pytest.fixture
def offline_aws(aws_env: None) -> Iterator[OfflineAws]:
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        moto_iot = boto3.client("iot", region_name=REGION)
        gg = FakeGreengrass(REGION, ACCOUNT, s3=s3)
        iot = IotWithJobs(moto_iot, gg)
        gg.iot = iot  # deployments reach the members of dynamic groups too
        yield OfflineAws(REGION, gg, iot, {"s3": S3KeepingBucketPolicies(s3)})


def no_clients(profile: str | None, region: str | None, fallback: str | None) -> Any:
    raise AssertionError("this command must not create AWS clients")


NO_AWS = CloudDeps(client_maker=no_clients)
