"""A policy linter in the spirit of Device Defender's overly-permissive-policy audit.

Rejects: wildcard actions (`*`, `iot:*`, `s3:*`...), `NotAction`/`NotResource` allows, `*`
resources (except for the few actions AWS only authorizes on `*`), whole-service resources
(`arn:aws:iot:*:*:*`), and any MQTT topic, topic filter, client ID or shadow a device could use to
reach another device's data, i.e. one not scoped by `${iot:Connection.Thing.ThingName}`.
"""

from __future__ import annotations

import re
from typing import Any

THING_VAR = "${iot:Connection.Thing.ThingName}"
# Actions that have no resource-level permissions in IAM: "*" is the only resource that works.
NO_RESOURCE_LEVEL_ACTIONS = frozenset(
    {
        "sts:getcalleridentity",
        "iot:describeendpoint",
        "iot:createkeysandcertificate",
        "iot:createcertificatefromcsr",
        "iot:getindexingconfiguration",
        "iot:updateindexingconfiguration",
    }
)
# Reserved fleet-provisioning topics: AWS answers only the connection that asked.
PROVISIONING_TOPIC = re.compile(
    r"^\$aws/(certificates/create(-from-csr)?/(json|cbor)(/accepted|/rejected)?"
    r"|provisioning-templates/[^/*+#]+/provision/(json|cbor)(/accepted|/rejected)?)$"
)
# Read-only fleet topics a hub or `fleet watch` may have (lint_policy(fleet_reader=True) only).
FLEET_READ_TOPIC = re.compile(
    r"^(dt/edgewatch/[*+]/(metrics|alerts)|\$aws/events/presence/(connected|disconnected)/[*+])$"
)
FLEET_READ_ACTIONS = frozenset({"iot:subscribe", "iot:receive"})
FLEET_WATCH_CLIENT = "edgewatch-fleet-watch-*"
_IOT_ARN = re.compile(r"^arn:[^:]+:iot:[^:]*:[^:]*:(?P<type>[a-z]+)/(?P<rest>.*)$")
_SHADOW_ACTIONS = {
    "iot:getthingshadow",
    "iot:updatethingshadow",
    "iot:deletethingshadow",
    "iot:listnamedshadowsforthing",
}


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _scoped_to_own_thing(path: str) -> bool:
    """True when a segment is exactly the thing variable and no wildcard comes before it."""
    segments = path.split("/")
    for seg in segments:
        if seg == THING_VAR:
            return True
        if any(ch in seg for ch in "*+#?"):
            return False
    return False


def _check_iot_resource(resource: str, actions: set[str], allow_any_client: bool, device_policy: bool,
                        fleet_reader: bool = False) -> str | None:
    match = _IOT_ARN.match(resource)
    if not match:
        return None
    kind, rest = match["type"], match["rest"]
    if kind in ("topic", "topicfilter"):
        if PROVISIONING_TOPIC.match(rest):
            return None
        if fleet_reader and FLEET_READ_TOPIC.match(rest):
            extra = sorted(actions - FLEET_READ_ACTIONS)
            return f"fleet {kind} {rest!r} may only be read (Subscribe/Receive), not {extra}" if extra else None
        if not _scoped_to_own_thing(rest):
            return f"{kind} {rest!r} is not scoped to {THING_VAR}: a device could reach another device's data"
    elif kind == "client":
        if allow_any_client and rest == "*":
            return None
        if fleet_reader and rest == FLEET_WATCH_CLIENT:
            return None
        if rest not in (THING_VAR, f"{THING_VAR}#*"):
            return f"client {rest!r}: a device may only connect as its own thing name"
    elif kind == "thing" and device_policy and actions & _SHADOW_ACTIONS and rest != THING_VAR:
        return f"thing {rest!r}: shadow access must be limited to {THING_VAR}"
    return None


def lint_policy(doc: dict[str, Any], *, allow_any_client: bool = False, fleet_reader: bool = False) -> list[str]:
    """Problems with a policy document (empty when it passes).

    `allow_any_client` is for the fleet-provisioning claim policy only: a claim certificate has no
    thing, so it cannot be tied to a client ID, and it may use nothing but provisioning topics.
    `fleet_reader` is for the hub and `fleet watch` policies only: they may Subscribe/Receive (never
    Publish) `dt/edgewatch/+/metrics|alerts` and presence events, and connect as `edgewatch-fleet-watch-*`.
    """
    problems: list[str] = []
    statements = _as_list(doc.get("Statement"))
    # A device (IoT) policy is one that lets a certificate connect; shadow scoping applies to those.
    device_policy = any("iot:connect" in {str(a).lower() for a in _as_list(st.get("Action"))} for st in statements)
    if not statements:
        problems.append("policy has no statements")
    for index, st in enumerate(statements):
        where = f"statement {st.get('Sid') or index}"
        if st.get("Effect") != "Allow":
            continue
        if "NotAction" in st or "NotResource" in st:
            problems.append(f"{where}: NotAction/NotResource in an Allow grants more than it names")
        actions = [str(a) for a in _as_list(st.get("Action"))]
        lowered = {a.lower() for a in actions}
        for action in actions:
            if action == "*" or action.endswith(":*"):
                problems.append(f"{where}: wildcard action {action!r}")
        if "Principal" in st:
            continue  # trust policies: the principal, not a resource, is what they grant
        resources = [str(r) for r in _as_list(st.get("Resource"))]
        if not resources:
            problems.append(f"{where}: no Resource")
        for resource in resources:
            if resource == "*":
                if not lowered <= NO_RESOURCE_LEVEL_ACTIONS:
                    problems.append(f"{where}: '*' resource for {sorted(lowered - NO_RESOURCE_LEVEL_ACTIONS)}")
                continue
            if re.fullmatch(r"arn:[^:]+:[^:]+:[^:]*:[^:]*:\*", resource) or resource.endswith(":::*"):
                problems.append(f"{where}: {resource!r} covers every resource of the service")
                continue
            problem = _check_iot_resource(resource, lowered, allow_any_client, device_policy, fleet_reader)
            if problem:
                problems.append(f"{where}: {problem}")
    return problems

