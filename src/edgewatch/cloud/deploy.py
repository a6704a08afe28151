"""`edgewatch deploy`: render a deployment document and create the deployment for a thing group."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from edgewatch.cloud import versions
from edgewatch.cloud.aws import ClientFactory, partition_of
from edgewatch.cloud.deployment_doc import (
    Override,
    api_request,
    load_document,
    placeholders,
    render_deployment,
    target_kind,
)
from edgewatch.cloud.errors import CloudError
from edgewatch.cloud.publish import component_arn, published_versions
from edgewatch.cloud.registry import ensure_static_group

logger = logging.getLogger(__name__)


def placeholder_values(region: str, account: str, thing_group: str | None, thing_name: str | None) -> dict[str, str]:
    values = {"AWS_REGION": region, "AWS_ACCOUNT_ID": account}
    if thing_group:
        values["THING_GROUP"] = thing_group
    if thing_name:
        values["THING_NAME"] = thing_name
    return values


def latest_published(clients: ClientFactory, account: str, names: Iterable[str]) -> dict[str, str]:
    """Each component's highest published version; a component never published is an error."""
    region = clients.region
    found: dict[str, str] = {}
    for name in names:
        top = versions.latest(published_versions(clients, component_arn(partition_of(region), region, account, name)))
        if top is None:
            raise CloudError(f"{name} is not published in {region}; run `edgewatch publish` first")
        found[name] = top
    return found


def plan(
    template_path: Path,
    *,
    region: str,
    account: str,
    thing_group: str | None,
    thing_name: str | None,
    versions_by_name: Mapping[str, str],
    overrides: Iterable[Override],
) -> dict[str, Any]:
    """The CreateDeployment request (validated), without calling anything."""
    template = load_document(template_path)
    values = placeholder_values(region, account, thing_group, thing_name)
    missing = sorted(placeholders(template) - set(values))
    if missing:
        options = {"THING_GROUP": "--thing-group", "THING_NAME": "--thing-name"}
        wanted = ", ".join(f"{options.get(m, '?')} (for {{{{{m}}}}})" for m in missing)
        raise CloudError(f"{template_path} needs {wanted}")
    return render_deployment(template, values, versions_by_name, overrides)


def dry_run_requests(params: dict[str, Any]) -> list[dict[str, Any]]:
    """The exact requests `deploy` makes, in order, as {"service","operation","params"} objects.

    A dry run calls nothing, so it cannot know whether the thing group exists: CreateThingGroup is
    always listed for a thing-group target. Replaying it is safe: IoT answers an existing group
    created with the same properties with success (it is idempotent).
    """
    requests = []
    kind, name = target_kind(params["targetArn"])
    if kind == "thinggroup":
        requests.append(api_request("iot", "CreateThingGroup", {"thingGroupName": name}))
    requests.append(api_request("greengrassv2", "CreateDeployment", params))
    return requests


def ensure_thing_group(clients: ClientFactory, name: str) -> bool:
    """Create the thing group (a static root group) if missing; True when created.

    An existing group is used as it is: nested, or dynamic (`edgewatch fleet group create`), whose
    ARN is a thinggroup ARN like any other, so Greengrass deploys to its members of the moment.
    """
    return ensure_static_group(clients.client("iot"), name)


def create_deployment(clients: ClientFactory, params: dict[str, Any]) -> str:
    """Ensure the target group exists, then CreateDeployment; returns the deployment ID."""
    kind, name = target_kind(params["targetArn"])
    if kind == "thinggroup":
        ensure_thing_group(clients, name)
    response = clients.client("greengrassv2").create_deployment(**params)
    deployment_id = str(response["deploymentId"])
    logger.info("created deployment %s for %s %s", deployment_id, kind, name)
    return deployment_id
