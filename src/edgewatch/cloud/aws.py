"""The AWS seam: sessions and clients through boto3's standard resolution.

Credentials, region and endpoint come from boto3 (`--profile`, environment, AWS config files,
`AWS_ENDPOINT_URL[_<SERVICE>]`); `--region` only overrides the region. Tests inject a
`ClientFactory` that returns moto-backed or model-validating clients.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Protocol

import boto3
from botocore.config import Config
from botocore.exceptions import NoRegionError

logger = logging.getLogger(__name__)

# Standard retries (exponential backoff with jitter, 8 attempts): provisioning and polling must
# survive throttling on large fleets.
_CONFIG = Config(retries={"mode": "standard", "max_attempts": 8}, user_agent_extra="edgewatch")


class ClientFactory(Protocol):
    region: str

    def client(self, service: str) -> Any: ...


def resolve_region(cli_region: str | None, session_region: str | None, fallback: str | None = None) -> str:
    """--region, else boto3's (AWS_REGION / profile), else the fallback (gdk-config publish.region)."""
    region = cli_region or session_region or fallback
    if not region:
        raise NoRegionError()
    return region


@dataclass
class BotoClients:
    """Real boto3 clients, created lazily, one per service."""

    session: boto3.Session
    region: str
    _clients: dict[str, Any] = field(default_factory=dict)

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self.session.client(service, region_name=self.region, config=_CONFIG)
        return self._clients[service]


def make_clients(profile: str | None, region: str | None, fallback_region: str | None = None) -> BotoClients:
    session = boto3.Session(profile_name=profile)
    resolved = resolve_region(region, session.region_name, fallback_region)
    logger.debug("AWS region %s (profile %s)", resolved, profile or "default chain")
    return BotoClients(session=session, region=resolved)


def account_id(clients: ClientFactory) -> str:
    """The caller's account (STS); also the first call, so credential problems surface here."""
    return str(clients.client("sts").get_caller_identity()["Account"])


def partition_of(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"
