"""The pre-provisioning hook against moto's SSM Parameter Store, with AWS's event shape."""

from __future__ import annotations

import logging
from typing import Any

import boto3
import pytest

from edgewatch_lambdas import preprovision_hook
from edgewatch_lambdas.preprovision_hook import Hook, HookConfig, decide
from tests.cloud_functions.conftest import REGION

PARAMETER = "/edgewatch/provisioning/registration-tokens"
GOOD_TOKEN = "f3b1c6d2-factory-batch-0042"
CONFIG = HookConfig(PARAMETER, r"edgewatch-[A-Za-z0-9_-]{1,118}", "EdgeWatchGateway")


def event(**parameters: str) -> dict[str, Any]:
    """What AWS IoT sends the hook (payloadVersion 2020-04-01)."""
    return {
        "claimCertificateId": "a" * 64, "certificateId": "b" * 64, "certificatePem": "-----BEGIN CERTIFICATE-----",
        "templateArn": f"arn:aws:iot:{REGION}:123456789012:provisioningtemplate/EdgeWatchFleet",
        "clientId": "7f0c2a4e-claim", "parameters": parameters,
    }  # fmt: skip


@pytest.fixture
def ssm(aws: None) -> Any:
    client = boto3.client("ssm", region_name=REGION)
    client.put_parameter(Name=PARAMETER, Type="SecureString", Value=f"old-revoked-x,\n{GOOD_TOKEN}\n, spare-token-99")
    return client


def test_a_valid_token_and_name_is_accepted_with_thing_type_and_attributes(ssm: Any) -> None:
    response = Hook(ssm, CONFIG).handle(event(ThingName="edgewatch-gw-1", RegistrationToken=GOOD_TOKEN,
                                              Site="plant-a", Model="rpi5"))  # fmt: skip
    assert response == {
        "allowProvisioning": True,
        "parameterOverrides": {"ThingTypeName": "EdgeWatchGateway", "ProvisionedBy": "edgewatch-preprovisioning-hook",
                               "Site": "plant-a", "Model": "rpi5"},
    }  # fmt: skip


def test_a_bad_token_is_refused_with_a_reason_and_the_token_is_not_logged(
    ssm: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="edgewatch_lambdas.preprovision_hook"):
        response = Hook(ssm, CONFIG).handle(event(ThingName="edgewatch-gw-1", RegistrationToken="guessed-token-1"))
    assert response == {"allowProvisioning": False}
    assert "provisioning refused: registration token of thing edgewatch-gw-1 is not a valid token" in caplog.text
    assert "guessed-token-1" not in caplog.text


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"ThingName": "laptop-of-bob", "RegistrationToken": GOOD_TOKEN}, "does not match"),
        ({"ThingName": "edgewatch-gw-1/../x", "RegistrationToken": GOOD_TOKEN}, "does not match"),
        ({"ThingName": "edgewatch-" + "x" * 200, "RegistrationToken": GOOD_TOKEN}, "does not match"),
        ({"RegistrationToken": GOOD_TOKEN}, "ThingName is missing"),
        ({"ThingName": "edgewatch-gw-1"}, "RegistrationToken is missing"),
        ({"ThingName": "edgewatch-gw-1", "RegistrationToken": GOOD_TOKEN[:-1]}, "not a valid token"),
        ({"ThingName": "edgewatch-gw-1", "RegistrationToken": GOOD_TOKEN, "Site": "a b"}, "Site"),
    ],
)
def test_refusals_name_their_reason(params: dict[str, str], reason: str) -> None:
    decision = decide(event(**params), preprovision_hook.parse_tokens(GOOD_TOKEN), CONFIG)
    assert decision.allow is False and reason in decision.reason
    assert decision.response() == {"allowProvisioning": False}


def test_malformed_events_are_refused_not_raised() -> None:
    for bad in (None, "x", {"parameters": "ThingName=a"}, {}):
        decision = decide(bad, {GOOD_TOKEN}, CONFIG)
        assert decision.allow is False and "parameters" in decision.reason


def test_without_the_token_parameter_the_hook_fails_closed(aws: None, caplog: pytest.LogCaptureFixture) -> None:
    ssm = boto3.client("ssm", region_name=REGION)
    with caplog.at_level(logging.WARNING, logger="edgewatch_lambdas.preprovision_hook"):
        response = Hook(ssm, CONFIG).handle(event(ThingName="edgewatch-gw-1", RegistrationToken=GOOD_TOKEN))
    assert response == {"allowProvisioning": False}
    assert f"cannot read the valid tokens from {PARAMETER}: ParameterNotFound" in caplog.text


def test_a_revoked_token_is_refused_at_once(ssm: Any) -> None:
    hook = Hook(ssm, CONFIG)
    request = event(ThingName="edgewatch-gw-1", RegistrationToken=GOOD_TOKEN)
    assert hook.handle(request)["allowProvisioning"] is True
    ssm.put_parameter(Name=PARAMETER, Type="SecureString", Value="spare-token-99", Overwrite=True)
    assert hook.handle(request) == {"allowProvisioning": False}


def test_the_lambda_entry_point_reads_its_configuration_from_the_environment(
    ssm: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOKENS_PARAMETER", PARAMETER)
    monkeypatch.setenv("THING_NAME_PATTERN", r"gw-[0-9]{3}")
    monkeypatch.setenv("THING_TYPE_NAME", "SmallGateway")
    monkeypatch.setattr(preprovision_hook, "_hook", None)
    accepted = preprovision_hook.handler(event(ThingName="gw-042", RegistrationToken=GOOD_TOKEN), None)
    assert accepted["parameterOverrides"]["ThingTypeName"] == "SmallGateway"
    assert preprovision_hook.handler(event(ThingName="edgewatch-gw-1", RegistrationToken=GOOD_TOKEN), None) == {
        "allowProvisioning": False
    }


def test_a_broken_or_oversized_pattern_refuses_everyone_with_the_reason() -> None:
    request = event(ThingName="edgewatch-gw-1", RegistrationToken=GOOD_TOKEN)
    broken = decide(request, {GOOD_TOKEN}, HookConfig(PARAMETER, "edgewatch-(", "EdgeWatchGateway"))
    assert broken.allow is False and "not a valid regex" in broken.reason
    huge = decide(request, {GOOD_TOKEN}, HookConfig(PARAMETER, "x" * 257, "EdgeWatchGateway"))
    assert huge.allow is False and "1 to 256 characters" in huge.reason
