"""The pre-provisioning hook of fleet provisioning by claim: the token check, AWS-native.

AWS IoT calls it with `{"claimCertificateId", "certificateId", "certificatePem", "templateArn",
"clientId", "parameters": {...}}` (the device's RegisterThing parameters) and expects
`{"allowProvisioning": bool, "parameterOverrides": {...}}`. A device is accepted only when its
`RegistrationToken` is one of the valid tokens kept in SSM Parameter Store (a SecureString or
StringList; tokens separated by commas or new lines) and its `ThingName` matches the allowed
pattern. The overrides set the thing type (`ThingTypeName`) and the attributes (`Site`, `Model`,
`ProvisionedBy`) that the provisioning template references. Every refusal is logged with its reason
(never the token); the contract has no field for it. Any failure (SSM unreachable, a bad pattern)
refuses: the hook fails closed.
"""

from __future__ import annotations

import hmac
import logging
import os
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)

TOKEN_PARAMETER = "RegistrationToken"
THING_NAME_PARAMETER = "ThingName"
ATTRIBUTE_PARAMETERS = ("Site", "Model")
# IoT thing attribute values: [a-zA-Z0-9_.,@/:#=\[\]-]*, up to 800 characters.
ATTRIBUTE_VALUE = re.compile(r"^[a-zA-Z0-9_.,@/:#=\[\]-]{1,800}$")
MAX_THING_NAME = 128
MAX_PATTERN_CHARS = 256
MAX_TOKEN_CHARS = 512
PROVISIONED_BY = "edgewatch-preprovisioning-hook"


@dataclass(frozen=True)
class HookConfig:
    tokens_parameter: str
    thing_name_pattern: str
    thing_type: str


@dataclass(frozen=True)
class Decision:
    allow: bool
    reason: str
    overrides: Mapping[str, str] = field(default_factory=dict)

    def response(self) -> dict[str, Any]:
        """What AWS IoT reads (the reason stays in the log)."""
        if not self.allow:
            return {"allowProvisioning": False}
        return {"allowProvisioning": True, "parameterOverrides": dict(self.overrides)}


def parse_tokens(value: str) -> frozenset[str]:
    return frozenset(t.strip() for t in re.split(r"[,\n]", value) if t.strip())


def _token_valid(token: str, valid: Collection[str]) -> bool:
    # Compare against every token in constant time each, so timing says nothing about which one.
    found = False
    for candidate in valid:
        found |= hmac.compare_digest(token.encode(), candidate.encode())
    return found


def decide(event: Any, valid_tokens: Collection[str], config: HookConfig) -> Decision:
    """Accept or refuse one RegisterThing request, with the reason."""
    params = event.get("parameters") if isinstance(event, dict) else None
    if not isinstance(params, dict):
        return Decision(False, "the event has no parameters object")
    thing = params.get(THING_NAME_PARAMETER)
    if not isinstance(thing, str) or not thing:
        return Decision(False, f"parameter {THING_NAME_PARAMETER} is missing")
    # The pattern is the operator's (a stack parameter) and the name is at most 128 characters: both
    # bounded. Python's re, not RE2: the Lambda zip carries no compiled wheels.
    if not 0 < len(config.thing_name_pattern) <= MAX_PATTERN_CHARS:
        return Decision(False, f"THING_NAME_PATTERN must have 1 to {MAX_PATTERN_CHARS} characters")
    try:
        pattern = re.compile(config.thing_name_pattern)
    except re.error as err:
        return Decision(False, f"THING_NAME_PATTERN {config.thing_name_pattern!r} is not a valid regex: {err}")
    if len(thing) > MAX_THING_NAME or not pattern.fullmatch(thing):
        return Decision(False, f"thing name {thing[:MAX_THING_NAME]!r} does not match {config.thing_name_pattern!r}")
    token = params.get(TOKEN_PARAMETER)
    if not isinstance(token, str) or not token:
        return Decision(False, f"parameter {TOKEN_PARAMETER} is missing (thing {thing})")
    if len(token) > MAX_TOKEN_CHARS or not _token_valid(token, valid_tokens):
        return Decision(False, f"registration token of thing {thing} is not a valid token")
    overrides = {"ThingTypeName": config.thing_type, "ProvisionedBy": PROVISIONED_BY}
    for name in ATTRIBUTE_PARAMETERS:
        value = params.get(name)
        if value is None:
            continue
        if not isinstance(value, str) or not ATTRIBUTE_VALUE.match(value):
            return Decision(False, f"parameter {name} of thing {thing} is not a valid attribute value")
        overrides[name] = value
    return Decision(True, f"thing {thing} accepted", overrides)


@dataclass
class Hook:
    ssm: Any
    config: HookConfig

    def valid_tokens(self) -> frozenset[str]:
        # Read at every request: a token revoked in Parameter Store is refused at once.
        value = self.ssm.get_parameter(Name=self.config.tokens_parameter, WithDecryption=True)["Parameter"]["Value"]
        return parse_tokens(str(value))

    def handle(self, event: Any) -> dict[str, Any]:
        try:
            decision = decide(event, self.valid_tokens(), self.config)
        except Exception as err:  # fail closed; the error class only (the parameter holds secrets)
            decision = Decision(False, f"cannot read the valid tokens from {self.config.tokens_parameter}: "
                                       f"{type(err).__name__}")  # fmt: skip
        if decision.allow:
            logger.info("provisioning allowed: %s", decision.reason)
        else:
            logger.warning("provisioning refused: %s", decision.reason)
        return decision.response()


_hook: Hook | None = None


def _from_environment() -> Hook:
    import boto3  # the Lambda runtime provides it

    return Hook(boto3.client("ssm"), HookConfig(
        tokens_parameter=os.environ["TOKENS_PARAMETER"], thing_name_pattern=os.environ["THING_NAME_PATTERN"],
        thing_type=os.environ.get("THING_TYPE_NAME", "EdgeWatchGateway"),
    ))  # fmt: skip


def handler(event: Any, context: Any) -> dict[str, Any]:
    global _hook
    if _hook is None:
        _hook = _from_environment()
    return _hook.handle(event)
