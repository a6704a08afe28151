"""Configuration chores every component has: the start-up configuration, and answering a
deployment's validation request (SubscribeToValidateConfigurationUpdates) with ACCEPTED/REJECTED."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from awsiot.greengrasscoreipc import model
from awsiot.greengrasscoreipc.clientv2 import GreengrassCoreIPCClientV2

logger = logging.getLogger(__name__)

ConfigT = TypeVar("ConfigT")


def initial_config(read: Callable[[], Any], parse: Callable[[Any], ConfigT]) -> ConfigT:
    """The configuration at start; defaults (`parse(None)`) when it is unreadable or invalid."""
    try:
        raw = read()
    except Exception as err:
        logger.warning("starting with default configuration: could not read it (%s)", err)
        return parse(None)
    try:
        return parse(raw)
    except ValueError as err:
        logger.error("starting with default configuration: %s", err)
        return parse(None)


def answer_validation(
    client: GreengrassCoreIPCClientV2,
    event: model.ValidateConfigurationUpdateEvents,
    validate: Callable[[Mapping[str, Any]], str | None] | None,
) -> None:
    """Report a proposed configuration ACCEPTED, or REJECTED with `validate`'s reason."""
    request = event.validate_configuration_update_event
    if request is None or validate is None:
        return
    reason = validate(request.configuration or {})
    validity = model.ConfigurationValidityStatus
    status = validity.ACCEPTED if reason is None else validity.REJECTED
    logger.info("configuration of deployment %s: %s %s", request.deployment_id, status, reason or "")
    try:
        client.send_configuration_validity_report(
            configuration_validity_report=model.ConfigurationValidityReport(
                status=status, deployment_id=request.deployment_id, message=reason
            )
        )
    except Exception:
        logger.exception("could not send the configuration validity report")
