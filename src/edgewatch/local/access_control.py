"""`accessControl` from recipes, enforced the way the nucleus enforces it."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from edgewatch.local.topics import glob_match, mqttproxy_resource_match, pubsub_resource_match

log = logging.getLogger(__name__)

PUBSUB = "aws.greengrass.ipc.pubsub"
MQTTPROXY = "aws.greengrass.ipc.mqttproxy"
SECRET_MANAGER = "aws.greengrass.SecretManager"
MAX_CACHED_DECISIONS = 4096

_RESOURCE_MATCHERS: dict[str, Callable[[str, str], bool]] = {
    PUBSUB: pubsub_resource_match,
    MQTTPROXY: mqttproxy_resource_match,
}


class UnauthorizedError(Exception):
    """Raised with the nucleus's exact wording."""


@dataclass(frozen=True, slots=True)
class Policy:
    policy_id: str
    operations: tuple[str, ...]
    resources: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AccessControl:
    """The policies of one component, keyed by destination service."""

    policies: Mapping[str, tuple[Policy, ...]]
    # Decisions are pure functions of (service, operation, resource): memoised, bounded.
    _decisions: dict[tuple[str, str, str], bool] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_config(cls, access_control: Mapping[str, Any] | None, thing_name: str) -> AccessControl:
        """Parse a recipe's `accessControl`, interpolating `{iot:thingName}` in resources."""
        parsed: dict[str, tuple[Policy, ...]] = {}
        for service, policies in (access_control or {}).items():
            if not isinstance(policies, Mapping):
                raise ValueError(f"accessControl.{service} must be an object of policies")
            entries = []
            for policy_id, body in policies.items():
                if not isinstance(body, Mapping):
                    raise ValueError(f"accessControl.{service}.{policy_id} must be an object")
                operations = tuple(str(op) for op in body.get("operations", []))
                resources = tuple(
                    str(r).replace("{iot:thingName}", thing_name) for r in body.get("resources", [])
                )
                entries.append(Policy(str(policy_id), operations, resources))
            parsed[service] = tuple(entries)
        return cls(parsed)

    def allows(self, service: str, operation: str, resource: str) -> bool:
        key = (service, operation, resource)
        decision = self._decisions.get(key)
        if decision is None:
            decision = self._evaluate(service, operation, resource)
            if len(self._decisions) >= MAX_CACHED_DECISIONS:
                self._decisions.clear()
            self._decisions[key] = decision
        return decision

    def _evaluate(self, service: str, operation: str, resource: str) -> bool:
        matcher = _RESOURCE_MATCHERS.get(service, glob_match)
        for policy in self.policies.get(service, ()):
            if not any(op == "*" or op == operation for op in policy.operations):
                continue
            if any(matcher(pattern, resource) for pattern in policy.resources):
                return True
        return False

    def check(self, principal: str, service: str, operation: str, resource: str) -> None:
        if not self.allows(service, operation, resource):
            message = (
                f"Principal {principal} is not authorized to perform {service}:{operation} "
                f"on resource {resource}"
            )
            log.info("denied: %s", message)
            raise UnauthorizedError(message)
