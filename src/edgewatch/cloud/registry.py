"""Where a device sits in the AWS IoT registry: thing type, attributes, nested static groups, billing group.

`parse_organisation` checks the options against AWS's limits before any call (pure). The `ensure_*`
adapters create what is missing and change only what differs, so running `edgewatch provision`
again converges instead of failing. Limits (AWS IoT developer guide, "Thing types" and "Static
thing groups"; AWS General Reference, IoT Device Management quotas): a thing with a thing type may
have 50 attributes, one without 3; a thing type has at most 3 searchable attributes; a group
hierarchy is at most 7 levels deep; names and values match the patterns of the API reference.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from edgewatch.cloud.defaults import DEFAULT_SEARCHABLE_ATTRIBUTES, DEFAULT_THING_TYPE
from edgewatch.cloud.errors import CloudError, client_error_code

logger = logging.getLogger(__name__)

# The API reference's patterns (ThingAttribute, ThingTypeName/ThingGroupName/BillingGroupName), matched
# in full: botocore does not check patterns, and AWS would refuse the request after the thing exists.
NAME = re.compile(r"[a-zA-Z0-9:_-]{1,128}")
ATTRIBUTE_NAME = re.compile(r"[a-zA-Z0-9_.,@/:#-]{1,128}")
ATTRIBUTE_VALUE = re.compile(r"[a-zA-Z0-9_.,@/:#=\[\]-]{0,800}")
MAX_ATTRIBUTES_WITH_TYPE = 50
MAX_ATTRIBUTES_WITHOUT_TYPE = 3
MAX_SEARCHABLE_ATTRIBUTES = 3
MAX_GROUP_DEPTH = 7


@dataclass(frozen=True)
class Organisation:
    """Registry placement of one device: all optional except the (static) thing group."""

    thing_group: str
    thing_type: str | None = DEFAULT_THING_TYPE
    searchable_attributes: tuple[str, ...] = DEFAULT_SEARCHABLE_ATTRIBUTES
    attributes: Mapping[str, str] = field(default_factory=dict)
    parent_groups: tuple[str, ...] = ()  # outermost first; the thing group is the innermost child
    billing_group: str | None = None


def _check_name(kind: str, name: str) -> None:
    if not NAME.fullmatch(name):
        raise CloudError(f"{kind} {name!r}: use 1-128 of a-z A-Z 0-9 : _ - (AWS IoT names)")


def parse_attributes(pairs: Sequence[str]) -> dict[str, str]:
    """`["site=plant-a", "model=rpi4"]` -> a dict; each name and value checked against AWS's patterns."""
    found: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise CloudError(f"--attribute expects KEY=VALUE, got {pair!r}")
        if not ATTRIBUTE_NAME.fullmatch(name):
            raise CloudError(f"--attribute {pair!r}: the name may be 1-128 of a-z A-Z 0-9 _ . , @ / : # -")
        if not value or not ATTRIBUTE_VALUE.fullmatch(value):
            # An empty value would delete the attribute in UpdateThing: refuse it rather than surprise.
            raise CloudError(f"--attribute {pair!r}: the value may be 1-800 of a-z A-Z 0-9 _ . , @ / : # = [ ] -")
        if name in found and found[name] != value:
            raise CloudError(f"--attribute {name} given twice ({found[name]!r}, {value!r})")
        found[name] = value
    return found


def parse_group_path(text: str | None) -> tuple[str, ...]:
    """`--parent-group eu/plant-a` -> ("eu", "plant-a"): eu is a root group, plant-a its child."""
    if not text:
        return ()
    parts = tuple(text.split("/"))
    for part in parts:
        _check_name("--parent-group", part)
    return parts


def parse_organisation(
    *,
    thing_group: str,
    thing_type: str | None,
    searchable_attributes: Sequence[str] | None,
    attribute_pairs: Sequence[str],
    parent_group: str | None,
    billing_group: str | None,
) -> Organisation:
    """Validate every registry option; raises CloudError naming the option and the limit."""
    _check_name("--thing-group", thing_group)
    if thing_type:
        _check_name("--thing-type", thing_type)
    elif searchable_attributes:
        raise CloudError("--searchable-attribute belongs to a thing type: drop it or --no-thing-type")
    searchable = tuple(searchable_attributes) if searchable_attributes else DEFAULT_SEARCHABLE_ATTRIBUTES
    if len(searchable) > MAX_SEARCHABLE_ATTRIBUTES:
        raise CloudError(
            f"--searchable-attribute: a thing type has at most {MAX_SEARCHABLE_ATTRIBUTES} (got {len(searchable)})"
        )
    for name in searchable:
        if not ATTRIBUTE_NAME.fullmatch(name):
            raise CloudError(f"--searchable-attribute {name!r}: 1-128 of a-z A-Z 0-9 _ . , @ / : # -")
    attributes = parse_attributes(attribute_pairs)
    limit = MAX_ATTRIBUTES_WITH_TYPE if thing_type else MAX_ATTRIBUTES_WITHOUT_TYPE
    if len(attributes) > limit:
        kind = "with a thing type" if thing_type else "without a thing type"
        raise CloudError(f"--attribute: a thing {kind} has at most {limit} attributes (got {len(attributes)})")
    parents = parse_group_path(parent_group)
    if thing_group in parents or len(set(parents)) != len(parents):
        raise CloudError(f"--parent-group {parent_group}: a group cannot be its own ancestor")
    if len(parents) + 1 > MAX_GROUP_DEPTH:
        raise CloudError(f"--parent-group {parent_group}: a thing group hierarchy is at most {MAX_GROUP_DEPTH} deep")
    if billing_group:
        _check_name("--billing-group", billing_group)
    return Organisation(thing_group, thing_type or None, searchable, attributes, parents, billing_group or None)


def _describe(call: Any, **params: Any) -> dict[str, Any] | None:
    """The Describe* answer, or None when the resource does not exist."""
    try:
        result: dict[str, Any] = call(**params)
    except ClientError as exc:
        if client_error_code(exc) != "ResourceNotFoundException":
            raise
        return None
    return result


def ensure_thing_type(iot: Any, name: str, searchable: Sequence[str]) -> bool:
    """Create the thing type when missing; True when created. An existing type is never changed."""
    described = _describe(iot.describe_thing_type, thingTypeName=name)
    if described is None:
        properties = {
            "thingTypeDescription": "EdgeWatch Greengrass gateway",
            "searchableAttributes": list(searchable),
        }
        try:
            iot.create_thing_type(thingTypeName=name, thingTypeProperties=properties)
        except ClientError as exc:
            if client_error_code(exc) != "ResourceAlreadyExistsException":  # created meanwhile
                raise
            return False
        logger.info("created thing type %s (searchable: %s)", name, ", ".join(searchable))
        return True
    if (described.get("thingTypeMetadata") or {}).get("deprecated"):
        raise CloudError(
            f"thing type {name} is deprecated, so no thing can take it; undeprecate it or pass another --thing-type"
        )
    # Shared by the fleet: one device's provisioning does not rewrite it. Say what will not be searchable.
    have = set((described.get("thingTypeProperties") or {}).get("searchableAttributes") or [])
    missing = [a for a in searchable if a not in have]
    if missing:
        logger.warning(
            "thing type %s exists without searchable attribute(s) %s; left as it is", name, ", ".join(missing)
        )
    return False


def ensure_thing(iot: Any, name: str, thing_type: str | None, attributes: Mapping[str, str]) -> str:
    """Create the thing, or bring its type and the given attributes up to date; returns its ARN."""
    described = _describe(iot.describe_thing, thingName=name)
    if described is None:
        params: dict[str, Any] = {"thingName": name}
        if thing_type:
            params["thingTypeName"] = thing_type
        if attributes:
            params["attributePayload"] = {"attributes": dict(attributes)}
        arn = str(iot.create_thing(**params)["thingArn"])
        logger.info("created thing %s", name)
        return arn
    update: dict[str, Any] = {}
    if thing_type and described.get("thingTypeName") != thing_type:
        update["thingTypeName"] = thing_type
    current = described.get("attributes") or {}
    changed = {k: v for k, v in attributes.items() if current.get(k) != v}
    if changed:
        # merge: attributes set by others (or by hand) stay.
        update["attributePayload"] = {"attributes": changed, "merge": True}
    if update:
        iot.update_thing(thingName=name, **update)
        logger.info("updated thing %s (%s)", name, ", ".join(sorted(update)))
    return str(described["thingArn"])


def ensure_static_group(iot: Any, name: str, parent: str | None = None, *, for_members: bool = False) -> bool:
    """Create the static thing group (under `parent` when given) if missing; True when created.

    AWS cannot move a group to another parent, and a dynamic group has no parent and no explicit
    members: both are errors that name the group, rather than a request AWS would refuse later.
    `for_members`: things will be added to it, so an existing dynamic group is an error.
    """
    described = _describe(iot.describe_thing_group, thingGroupName=name)
    if described is not None:
        if for_members and described.get("queryString"):
            raise CloudError(
                f"thing group {name} is a dynamic group (its query decides its members): give a static --thing-group"
            )
        if parent is not None and described.get("queryString"):
            raise CloudError(f"thing group {name} is a dynamic group: it cannot sit under --parent-group {parent}")
        current_parent = (described.get("thingGroupMetadata") or {}).get("parentGroupName")
        if parent is not None and current_parent != parent:
            where = f"under {current_parent}" if current_parent else "as a root group"
            raise CloudError(
                f"thing group {name} exists {where}, not under {parent}; AWS cannot move a group "
                "(drop --parent-group or choose another group name)"
            )
        return False
    params: dict[str, Any] = {"thingGroupName": name}
    if parent is not None:
        params["parentGroupName"] = parent
    try:
        iot.create_thing_group(**params)
    except ClientError as exc:
        if client_error_code(exc) != "ResourceAlreadyExistsException":  # created concurrently
            raise
        return False
    logger.info("created thing group %s%s", name, f" under {parent}" if parent else "")
    return True


def ensure_group_path(iot: Any, parents: Sequence[str], leaf: str) -> None:
    """Each group of `parents` + `leaf`, outermost first, created under the one before it."""
    parent: str | None = None
    for name in parents:
        ensure_static_group(iot, name, parent)
        parent = name
    ensure_static_group(iot, leaf, parent, for_members=True)


def ensure_billing_group(iot: Any, name: str, thing: str) -> bool:
    """Create the billing group when missing and put the thing in it (a thing has one billing group)."""
    created = False
    if _describe(iot.describe_billing_group, billingGroupName=name) is None:
        try:
            iot.create_billing_group(billingGroupName=name)
            created = True
            logger.info("created billing group %s", name)
        except ClientError as exc:
            if client_error_code(exc) != "ResourceAlreadyExistsException":
                raise
    current = iot.describe_thing(thingName=thing).get("billingGroupName")
    if current == name:
        return created
    if current:
        logger.info("moving thing %s from billing group %s to %s", thing, current, name)
        iot.remove_thing_from_billing_group(billingGroupName=current, thingName=thing)
    iot.add_thing_to_billing_group(billingGroupName=name, thingName=thing)
    return created


def organise(iot: Any, thing: str, org: Organisation) -> str:
    """Thing type, group path, thing (with attributes) and membership, billing group; the thing's ARN.

    The type and the groups come first: what AWS's current state refuses (a deprecated type, a group
    under another parent, a dynamic group) stops provisioning before the thing exists.
    """
    if org.thing_type:
        ensure_thing_type(iot, org.thing_type, org.searchable_attributes)
    ensure_group_path(iot, org.parent_groups, org.thing_group)
    arn = ensure_thing(iot, thing, org.thing_type, org.attributes)
    iot.add_thing_to_thing_group(thingGroupName=org.thing_group, thingName=thing)
    if org.billing_group:
        ensure_billing_group(iot, org.billing_group, thing)
    return arn
