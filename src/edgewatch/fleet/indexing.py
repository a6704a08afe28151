"""Fleet indexing and dynamic thing groups: `edgewatch fleet index enable`, `edgewatch fleet group create`.

The index holds the registry, every gateway's `edgewatch` named shadow (its status: component
versions, alerts by severity) and connectivity, so a dynamic thing group can select "every gateway
still on collector 0.1.x", "every gateway with a critical alert" or "every disconnected gateway",
and `edgewatch deploy --thing-group` can target it. The decisions (what configuration to send, what a
query needs) are pure functions of what AWS answered; the adapters make one call each.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from edgewatch.cloud.defaults import STATUS_SHADOW
from edgewatch.cloud.errors import CloudError, client_error_code

logger = logging.getLogger(__name__)

INDEX_NAME = "AWS_Things"
QUERY_VERSION = "2017-09-30"  # the only query version AWS supports
# Default quota: named shadows in the indexing filter (AWS General Reference, IoT Device Management quotas).
MAX_INDEXED_SHADOWS = 10
_GROUP_NAME = re.compile(r"[a-zA-Z0-9:_-]{1,128}")
_NAMED_SHADOW_FIELD = re.compile(r"\bshadow\.name\.([$a-zA-Z0-9:_-]+)\.")
_CLASSIC_SHADOW_FIELD = re.compile(r"\bshadow\.(reported|desired|delta|metadata|hasDelta|version)\b")
_CONNECTIVITY_FIELD = re.compile(r"\bconnectivity\.")

# The README's ready-made queries, on the keys of the AlertRouter's status shadow (alert_router.status_shadow:
# `versions.<component name without com.edgewatch.>`, `firingAlerts.<severity>` counts, 0 included).
READY_QUERIES = {
    "outdated-collector": f"shadow.name.{STATUS_SHADOW}.reported.versions.MetricsCollector:0.1.*",
    "critical-alerts": f"shadow.name.{STATUS_SHADOW}.reported.firingAlerts.critical>0",
    "disconnected": "connectivity.connected:false",
}


def thing_config(answer: dict[str, Any]) -> dict[str, Any]:
    """The thingIndexingConfiguration of a GetIndexingConfiguration answer ({} when absent)."""
    return dict(answer.get("thingIndexingConfiguration") or {})


def wanted_thing_indexing(current: dict[str, Any], shadow: str = STATUS_SHADOW) -> dict[str, Any] | None:
    """The thingIndexingConfiguration to send so that registry, `shadow` and connectivity are indexed.

    None when `current` already has all of it. Everything else the account configured is kept:
    other named shadows, custom fields, geolocation, Device Defender. `managedFields` are AWS's own
    (read-only) and are not sent back.
    """
    names = list((current.get("filter") or {}).get("namedShadowNames") or [])
    if (
        current.get("thingIndexingMode") == "REGISTRY_AND_SHADOW"
        and current.get("thingConnectivityIndexingMode") == "STATUS"
        and current.get("namedShadowIndexingMode") == "ON"
        and shadow in names
    ):
        return None
    if shadow not in names:
        names.append(shadow)
    if len(names) > MAX_INDEXED_SHADOWS:
        raise CloudError(
            f"the indexing filter already names {len(names) - 1} shadows ({', '.join(names[:-1])}); AWS allows "
            f"{MAX_INDEXED_SHADOWS} by default: remove one or ask for a quota increase"
        )
    wanted = {k: v for k, v in current.items() if k != "managedFields"}
    wanted["thingIndexingMode"] = "REGISTRY_AND_SHADOW"
    wanted["thingConnectivityIndexingMode"] = "STATUS"
    wanted["namedShadowIndexingMode"] = "ON"
    wanted["filter"] = {**(current.get("filter") or {}), "namedShadowNames": names}
    return wanted


def query_problems(current: dict[str, Any], query: str) -> list[str]:
    """What the index lacks for `query` (empty when it can answer it), each saying what to run."""
    enable = "run `edgewatch fleet index enable`"
    mode = current.get("thingIndexingMode", "OFF")
    if mode == "OFF":
        return [f"fleet indexing is off, and dynamic thing groups need it: {enable} first"]
    problems = []
    indexed = set((current.get("filter") or {}).get("namedShadowNames") or [])
    named_on = current.get("namedShadowIndexingMode") == "ON"
    for shadow in sorted(set(_NAMED_SHADOW_FIELD.findall(query))):
        if mode != "REGISTRY_AND_SHADOW" or not named_on or shadow not in indexed:
            problems.append(f"the query reads named shadow {shadow!r}, which is not indexed: {enable}")
    if _CLASSIC_SHADOW_FIELD.search(query) and mode != "REGISTRY_AND_SHADOW":
        problems.append(f"the query reads the classic shadow, which is not indexed ({mode}): {enable}")
    if _CONNECTIVITY_FIELD.search(query) and current.get("thingConnectivityIndexingMode") != "STATUS":
        problems.append(f"the query reads connectivity, which is not indexed: {enable}")
    return problems


def enable_indexing(iot: Any, shadow: str = STATUS_SHADOW) -> bool:
    """Turn on registry + shadow + connectivity indexing with `shadow`; True when something changed."""
    wanted = wanted_thing_indexing(thing_config(iot.get_indexing_configuration()), shadow)
    if wanted is None:
        logger.info("fleet indexing already covers the registry, named shadow %s and connectivity", shadow)
        return False
    iot.update_indexing_configuration(thingIndexingConfiguration=wanted)
    logger.info("fleet indexing: registry, named shadow %s and connectivity (the index rebuilds)", shadow)
    return True


@dataclass(frozen=True)
class GroupOutcome:
    name: str
    arn: str
    action: str  # "created", "updated" or "unchanged"


def create_dynamic_group(iot: Any, name: str, query: str, *, update: bool = False) -> GroupOutcome:
    """Create the dynamic thing group; the same again is a no-op, another query needs `update`."""
    if not _GROUP_NAME.fullmatch(name):
        raise CloudError(f"group name {name!r}: use 1-128 of a-z A-Z 0-9 : _ - (AWS IoT names)")
    if not query.strip():
        raise CloudError("--query is empty")
    problems = query_problems(thing_config(iot.get_indexing_configuration()), query)
    if problems:
        raise CloudError("; ".join(problems))
    try:
        existing = iot.describe_thing_group(thingGroupName=name)
    except ClientError as exc:
        if client_error_code(exc) != "ResourceNotFoundException":
            raise
        existing = None
    if existing is None:
        created = iot.create_dynamic_thing_group(
            thingGroupName=name, queryString=query, indexName=INDEX_NAME, queryVersion=QUERY_VERSION
        )
        logger.info("created dynamic thing group %s", name)
        return GroupOutcome(name, str(created["thingGroupArn"]), "created")
    arn = str(existing["thingGroupArn"])
    current_query = existing.get("queryString")
    if not current_query:
        raise CloudError(f"thing group {name} exists as a static group; choose another name for the dynamic group")
    if current_query == query:
        return GroupOutcome(name, arn, "unchanged")
    if not update:
        raise CloudError(f"dynamic group {name} exists with query {current_query!r}; pass --update to replace it")
    iot.update_dynamic_thing_group(thingGroupName=name, thingGroupProperties={}, queryString=query)
    logger.info("dynamic thing group %s: query replaced", name)
    return GroupOutcome(name, arn, "updated")
