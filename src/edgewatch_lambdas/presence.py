"""Presence: is a device that disconnected still away once the grace period is over?

Design (the simplest that is correct, see the README): the rule on
`$aws/events/presence/disconnected/+` puts the event on an SQS queue whose DelaySeconds is the grace
period (at most 900 s), so the check runs that much later with no scheduler and no state machine.
The rule on `$aws/events/presence/connected/+` records each thing's newest connect time in a
DynamoDB table (a conditional write, so an event that arrives late never moves it back). When the
delayed disconnect arrives, the device reconnected within the grace period exactly when its newest
connect is later than the disconnect. Fleet indexing is not needed (it may be off, and it lags).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from alert_router.notification import Notification

# Thing names: what IoT allows (and so what a device policy ties a client ID to).
THING_NAME = re.compile(r"^[a-zA-Z0-9:_-]{1,128}$")
# Connections that do not stand for a device being up: a second nucleus connection (thing#2 ...,
# over 50 subscriptions) and the `edgewatch fleet watch` / hub readers.
IGNORED_CLIENTS = re.compile(r"#|^edgewatch-fleet-watch-")
PRESENCE_TTL_SECONDS = 90 * 24 * 3600


class MalformedPresenceEvent(ValueError):
    """Not a usable presence event; logged and dropped."""


@dataclass(frozen=True)
class PresenceEvent:
    client_id: str
    event_type: str  # "connected" | "disconnected"
    timestamp_ms: int
    session: str
    disconnect_reason: str

    @property
    def thing(self) -> str:
        return self.client_id


def parse_presence_event(doc: Any) -> PresenceEvent:
    """An AWS IoT lifecycle event (clientId, timestamp, eventType, sessionIdentifier, disconnectReason)."""
    if not isinstance(doc, dict):
        raise MalformedPresenceEvent(f"presence event: expected an object, found {type(doc).__name__}")
    client, kind, ts = doc.get("clientId"), doc.get("eventType"), doc.get("timestamp")
    if not isinstance(client, str) or not client or len(client) > 256:
        raise MalformedPresenceEvent(f"presence event.clientId: expected a client id, found {client!r}")
    if kind not in ("connected", "disconnected"):
        raise MalformedPresenceEvent(f"presence event.eventType: expected connected/disconnected, found {kind!r}")
    if isinstance(ts, bool) or not isinstance(ts, int) or ts <= 0:
        raise MalformedPresenceEvent(f"presence event.timestamp: expected epoch milliseconds, found {ts!r}")
    return PresenceEvent(client, kind, ts, str(doc.get("sessionIdentifier", "")), str(doc.get("disconnectReason", "")))


def ignored(event: PresenceEvent) -> bool:
    """Events that say nothing about a device being offline."""
    if IGNORED_CLIENTS.search(event.client_id) or not THING_NAME.match(event.client_id):
        return True
    # Another connection with the same client ID took over: the device is, by definition, connected.
    return event.event_type == "disconnected" and event.disconnect_reason == "DUPLICATE_CLIENTID"


class PresenceTable:
    """thing → newest connect time (epoch ms), in DynamoDB."""

    def __init__(self, dynamodb: Any, table: str) -> None:
        self.dynamodb, self.table = dynamodb, table

    def record_connected(self, thing: str, timestamp_ms: int, now: float) -> bool:
        """True when this connect is the newest seen (a late, older event changes nothing)."""
        try:
            self.dynamodb.update_item(
                TableName=self.table, Key={"thing": {"S": thing}},
                UpdateExpression="SET connectedAt = :t, expiresAt = :e",
                ConditionExpression="attribute_not_exists(connectedAt) OR connectedAt < :t",
                ExpressionAttributeValues={":t": {"N": str(timestamp_ms)},
                                           ":e": {"N": str(int(now + PRESENCE_TTL_SECONDS))}},
            )  # fmt: skip
        except self.dynamodb.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def reconnected_since(self, thing: str, disconnected_ms: int) -> bool:
        item = self.dynamodb.get_item(TableName=self.table, Key={"thing": {"S": thing}}, ConsistentRead=True)
        connected = item.get("Item", {}).get("connectedAt", {}).get("N")
        return connected is not None and int(connected) > disconnected_ms


def offline_notification(event: PresenceEvent, grace_seconds: int) -> Notification:
    """A DeviceOffline notification, rendered like any AlertRouter alert; its id is per disconnect."""
    identity = f"offline:{event.thing}:{event.timestamp_ms}:{event.session}"
    digest = hashlib.sha256(identity.encode()).hexdigest()[:24]
    when = datetime.fromtimestamp(event.timestamp_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    labels = {"alertname": "DeviceOffline", "severity": "critical", "thing": event.thing}
    reason = f", reason {event.disconnect_reason}" if event.disconnect_reason else ""
    alert = {
        "fingerprint": hashlib.sha256(f"DeviceOffline:{event.thing}".encode()).hexdigest()[:16],
        "status": "firing", "labels": labels,
        "annotations": {"summary": f"{event.thing} is offline",
                        "description": f"disconnected from AWS IoT Core at {when}{reason}; "
                                       f"not connected again within {grace_seconds} s"},
        "value": None, "startsAt": event.timestamp_ms, "endsAt": None,
    }  # fmt: skip
    return Notification(
        id=digest, receiver="cloud-presence", group_key=f"presence/{event.thing}", status="firing",
        thing=event.thing, group_labels={"alertname": "DeviceOffline"}, common_labels=labels, alerts=(alert,),
        created_at=event.timestamp_ms / 1000.0,
    )  # fmt: skip
