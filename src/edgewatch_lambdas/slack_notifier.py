"""The Slack Lambda: alert documents from IoT Core, and "device offline" after a grace period.

Three kinds of event reach it (deployment/cloud/edgewatch.yaml):

- an alert document, from the topic rule on `dt/edgewatch/+/alerts` (the AlertRouter's `iotCore`
  integration publishes `Notification.to_dict()`; the rule adds `edgewatchTopicThing`, `topic(3)`);
- a presence `connected` event, from the rule on `$aws/events/presence/connected/+`: recorded in the
  presence table (see `presence`);
- SQS records, each a presence `disconnected` event that the rule on
  `$aws/events/presence/disconnected/+` put on a delay queue (DelaySeconds = the grace period):
  when one arrives, the device is reported offline unless it connected again since.

Messages are rendered by the AlertRouter's own Block Kit renderer (`slack_blocks.render`), posted
to the incoming webhook kept in Secrets Manager, retried on 429 (Retry-After) and 5xx while the
invocation has time left, and deduplicated on the notification id with a conditional put in DynamoDB
(a TTL expires old ids). A malformed event is logged and dropped (the handler returns normally, so
neither Lambda's async retries nor SQS redrive it); only a transient Slack failure is handed back
for a bounded retry (async invoke: 2 retries; SQS: maxReceiveCount, then the dead-letter queue).
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from alert_router.notification import SCHEMA_ID, Notification
from alert_router.receivers.slack_blocks import render

from edgewatch_lambdas import presence

logger = logging.getLogger(__name__)

MAX_ID_CHARS = 256
MAX_ATTEMPT_SECONDS = 10.0
SAFETY_MARGIN_SECONDS = 2.0  # left for the DynamoDB writes after the last attempt
MAX_BACKOFF_SECONDS = 8.0
SECRET_CACHE_SECONDS = 300.0  # a rotated webhook is picked up within five minutes
DEDUPE_TTL_SECONDS = 7 * 24 * 3600
CLAIM_LEASE_SECONDS = 180.0  # longer than the function's timeout: a crashed sender's claim expires
_STATUSES = ("firing", "resolved")


class MalformedEvent(ValueError):
    """An event this function cannot use; logged and dropped, never retried."""


class TransientFailure(RuntimeError):
    """Slack did not take the message in the time we had: the platform retries (bounded)."""


# --- the alert document -------------------------------------------------------------------------


def _str_map(value: Any, where: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise MalformedEvent(f"{where}: expected an object of strings, found {type(value).__name__}")
    return value


def _ms_or_none(value: Any, where: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise MalformedEvent(f"{where}: expected epoch milliseconds or null, found {value!r}")
    return value


def _alert(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise MalformedEvent(f"{where}: expected an object, found {type(value).__name__}")
    if value.get("status") not in _STATUSES:
        raise MalformedEvent(f"{where}.status: expected one of {_STATUSES}, found {value.get('status')!r}")
    number = value.get("value")
    if number is not None and (isinstance(number, bool) or not isinstance(number, int | float)):
        raise MalformedEvent(f"{where}.value: expected a number or null, found {number!r}")
    return {
        "fingerprint": str(value.get("fingerprint", "")),
        "status": value["status"],
        "labels": _str_map(value.get("labels"), f"{where}.labels"),
        "annotations": _str_map(value.get("annotations", {}), f"{where}.annotations"),
        "value": number,
        "startsAt": _ms_or_none(value.get("startsAt"), f"{where}.startsAt"),
        "endsAt": _ms_or_none(value.get("endsAt"), f"{where}.endsAt"),
    }


def parse_alert_document(doc: Any) -> Notification:
    """The AlertRouter's IoT Core document (`Notification.to_dict()`, schema edgewatch.alerts/1) → Notification.

    Raises MalformedEvent naming the field. When the topic rule added `edgewatchTopicThing` (the
    thing in the topic, which the device policy ties to the sender), the document's `thing` must match.
    """
    if not isinstance(doc, dict):
        raise MalformedEvent(f"alert document: expected an object, found {type(doc).__name__}")
    if doc.get("schema") != SCHEMA_ID:
        raise MalformedEvent(f"alert document.schema: expected {SCHEMA_ID!r}, found {doc.get('schema')!r}")
    for key in ("id", "receiver", "groupKey", "thing"):
        if not isinstance(doc.get(key), str) or not doc[key]:
            raise MalformedEvent(f"alert document.{key}: expected a non-empty string, found {doc.get(key)!r}")
    if len(doc["id"]) > MAX_ID_CHARS:
        raise MalformedEvent(f"alert document.id: longer than {MAX_ID_CHARS} characters")
    topic_thing = doc.get("edgewatchTopicThing")
    if topic_thing is not None and topic_thing != doc["thing"]:
        raise MalformedEvent(f"alert document.thing: {doc['thing']!r} published on the topic of thing {topic_thing!r}")
    if doc.get("status") not in _STATUSES:
        raise MalformedEvent(f"alert document.status: expected one of {_STATUSES}, found {doc.get('status')!r}")
    alerts = doc.get("alerts")
    if not isinstance(alerts, list) or not alerts:
        raise MalformedEvent("alert document.alerts: expected a non-empty list")
    created = doc.get("createdAt")
    if isinstance(created, bool) or not isinstance(created, int | float):
        raise MalformedEvent(f"alert document.createdAt: expected epoch milliseconds, found {created!r}")
    return Notification(
        id=doc["id"], receiver=doc["receiver"], group_key=doc["groupKey"], status=doc["status"], thing=doc["thing"],
        group_labels=_str_map(doc.get("groupLabels", {}), "alert document.groupLabels"),
        common_labels=_str_map(doc.get("commonLabels", {}), "alert document.commonLabels"),
        alerts=tuple(_alert(a, f"alert document.alerts[{i}]") for i, a in enumerate(alerts)),
        created_at=created / 1000.0, repeat=doc.get("repeat") is True,
    )  # fmt: skip


# --- Slack --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: Mapping[str, str]
    body: str


Post = Callable[[str, bytes, float], HttpResponse]  # (url, JSON body, timeout seconds)


def urllib_post(url: str, body: bytes, timeout: float) -> HttpResponse:
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/json; charset=utf-8"})  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return HttpResponse(response.status, dict(response.headers), response.read(4096).decode("utf-8", "replace"))
    except urllib.error.HTTPError as err:
        return HttpResponse(err.code, dict(err.headers or {}), err.read(4096).decode("utf-8", "replace"))


@dataclass(frozen=True)
class Outcome:
    delivered: bool
    permanent: bool
    reason: str
    attempts: int


def _retry_after(headers: Mapping[str, str]) -> float | None:
    for name, value in headers.items():
        if name.lower() == "retry-after":
            try:
                return max(0.0, float(value))
            except ValueError:
                return None
    return None


def post_with_retries(
    post: Post, url: str, payload: Mapping[str, Any], remaining_seconds: Callable[[], float],
    sleep: Callable[[float], None],
) -> Outcome:  # fmt: skip
    """Post until Slack takes it, it refuses for good (4xx other than 429), or the time is up.

    `remaining_seconds` is the invocation's time left (context.get_remaining_time_in_millis() / 1000):
    no attempt or wait is started that could not finish before the safety margin.
    """
    body = json.dumps(payload, separators=(",", ":")).encode()
    attempt, backoff = 0, 1.0
    while True:
        budget = remaining_seconds() - SAFETY_MARGIN_SECONDS
        if budget <= 0.5:
            return Outcome(False, False, f"out of time after {attempt} attempt(s)", attempt)
        attempt += 1
        try:
            response = post(url, body, min(MAX_ATTEMPT_SECONDS, budget))
        except (OSError, TimeoutError) as err:  # URLError, refused connection, timeout (no URL in it)
            reason, wait = f"network error {type(err).__name__}", backoff
        else:
            if 200 <= response.status < 300:
                return Outcome(True, False, "delivered", attempt)
            if response.status == 429:
                reason, wait = "429 rate limited", _retry_after(response.headers) or backoff
            elif response.status >= 500:
                reason, wait = f"HTTP {response.status}", backoff
            else:  # 400 invalid_payload, 403/404/410 a revoked or deleted webhook: a human must act
                return Outcome(False, True, f"HTTP {response.status} {response.body[:200]!r}", attempt)
        backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
        if remaining_seconds() - SAFETY_MARGIN_SECONDS - wait <= 0.5:
            return Outcome(False, False, f"{reason}; no time left to wait {wait:.1f} s (attempt {attempt})", attempt)
        logger.info("Slack answered %s; retrying in %.1f s (attempt %d)", reason, wait, attempt)
        sleep(wait)


def webhook_url_from_secret(secret_string: str) -> str:
    """A secret holds the URL itself, or JSON with `webhookUrl` (or `url`), as for the AlertRouter."""
    text = secret_string.strip()
    if text.startswith("{"):
        try:
            doc = json.loads(text)
        except ValueError as err:
            raise ValueError("the Slack secret is not valid JSON") from err
        text = str(doc.get("webhookUrl") or doc.get("url") or "") if isinstance(doc, dict) else ""
    if not re.match(r"^https?://[^\s/]+/", text):
        raise ValueError("the Slack secret holds no webhook URL (a URL, or JSON with webhookUrl)")
    return text


# --- dedupe -------------------------------------------------------------------------------------


class DedupeStore:
    """One item per notification id: claimed before posting, marked sent after, released on failure."""

    def __init__(self, dynamodb: Any, table: str, clock: Callable[[], float]) -> None:
        self.dynamodb, self.table, self.clock = dynamodb, table, clock

    def claim(self, notification_id: str) -> bool:
        """True when this invocation may post it (never sent, and no live claim by another sender)."""
        now = self.clock()
        try:
            self.dynamodb.put_item(
                TableName=self.table,
                Item={"id": {"S": notification_id}, "state": {"S": "sending"}, "claimedAt": {"N": f"{now:.3f}"},
                      "expiresAt": {"N": str(int(now + DEDUPE_TTL_SECONDS))}},
                ConditionExpression="attribute_not_exists(id) OR (#s = :sending AND claimedAt < :stale)",
                ExpressionAttributeNames={"#s": "state"},
                ExpressionAttributeValues={":sending": {"S": "sending"},
                                           ":stale": {"N": f"{now - CLAIM_LEASE_SECONDS:.3f}"}},
            )  # fmt: skip
        except self.dynamodb.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def mark_sent(self, notification_id: str) -> None:
        self.dynamodb.update_item(
            TableName=self.table, Key={"id": {"S": notification_id}}, UpdateExpression="SET #s = :sent",
            ExpressionAttributeNames={"#s": "state"}, ExpressionAttributeValues={":sent": {"S": "sent"}},
        )  # fmt: skip

    def release(self, notification_id: str) -> None:
        try:
            self.dynamodb.delete_item(
                TableName=self.table, Key={"id": {"S": notification_id}}, ConditionExpression="#s = :sending",
                ExpressionAttributeNames={"#s": "state"}, ExpressionAttributeValues={":sending": {"S": "sending"}},
            )  # fmt: skip
        except self.dynamodb.exceptions.ConditionalCheckFailedException:
            logger.info("claim on %s was already gone", notification_id)  # its lease expired and another took it


def dedupe_key(notification: Notification) -> str:
    """The router gives a repeat reminder the id of the news it repeats; it is posted, but once per reminder."""
    if notification.repeat:
        return f"{notification.id}:repeat:{round(notification.created_at * 1000)}"
    return notification.id


# --- the notifier -------------------------------------------------------------------------------


@dataclass
class Notifier:
    secrets: Any  # secretsmanager client
    secret_arn: str
    dedupe: DedupeStore
    presence: presence.PresenceTable
    grace_seconds: int
    post: Post = urllib_post
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    _webhook: tuple[str, float] | None = None

    def webhook_url(self) -> str:
        if self._webhook is None or self.clock() - self._webhook[1] > SECRET_CACHE_SECONDS:
            secret = self.secrets.get_secret_value(SecretId=self.secret_arn)
            self._webhook = (webhook_url_from_secret(str(secret.get("SecretString", ""))), self.clock())
        return self._webhook[0]

    def notify(self, notification: Notification, remaining_seconds: Callable[[], float]) -> Outcome | None:
        """Post it once; None when it was already posted (or is being posted). Raises TransientFailure."""
        key = dedupe_key(notification)
        if not self.dedupe.claim(key):
            logger.info("notification %s already posted; skipped", key)
            return None
        try:
            text, blocks = render(notification)
            outcome = post_with_retries(self.post, self.webhook_url(), {"text": text, "blocks": blocks},
                                        remaining_seconds, self.sleep)  # fmt: skip
        except BaseException:
            self.dedupe.release(key)
            raise
        if outcome.delivered:
            self.dedupe.mark_sent(key)
            logger.info("notification %s posted to Slack (%d attempt(s))", notification.id, outcome.attempts)
            return outcome
        if outcome.permanent:
            # Keep the claim released: once the webhook is fixed, a replay may post it.
            self.dedupe.release(key)
            logger.error("Slack refused notification %s: %s; dropped", notification.id, outcome.reason)
            return outcome
        self.dedupe.release(key)
        raise TransientFailure(f"notification {notification.id}: {outcome.reason}")

    def handle(self, event: Any, remaining_seconds: Callable[[], float]) -> dict[str, Any] | None:
        if isinstance(event, dict) and isinstance(event.get("Records"), list):
            return self._handle_sqs(event["Records"], remaining_seconds)
        try:
            if isinstance(event, dict) and event.get("eventType") == "connected":
                self._presence(presence.parse_presence_event(event), remaining_seconds)
                return None
            if isinstance(event, dict) and event.get("eventType") == "disconnected":
                # Only the delay queue may hand in a disconnect: reporting it now would skip the grace period.
                raise MalformedEvent("a disconnected event must come through the offline-check queue")
            notification = parse_alert_document(event)
        except (MalformedEvent, presence.MalformedPresenceEvent) as err:
            logger.warning("dropped a malformed event: %s", err)
            return None
        self.notify(notification, remaining_seconds)
        return None

    def _presence(self, event: presence.PresenceEvent, remaining_seconds: Callable[[], float]) -> None:
        if presence.ignored(event):
            logger.debug("presence of client %s ignored", event.client_id)
        elif event.event_type == "connected":
            self.presence.record_connected(event.thing, event.timestamp_ms, self.clock())
        elif self.presence.reconnected_since(event.thing, event.timestamp_ms):
            logger.info("%s connected again within %d s of its disconnect: nothing to report", event.thing,
                        self.grace_seconds)  # fmt: skip
        else:
            self.notify(presence.offline_notification(event, self.grace_seconds), remaining_seconds)

    def _handle_sqs(self, records: list[Any], remaining_seconds: Callable[[], float]) -> dict[str, Any]:
        """Delayed disconnect checks; failures are reported per record (ReportBatchItemFailures)."""
        failures: list[dict[str, str]] = []
        for index, record in enumerate(records):
            message_id = record.get("messageId") if isinstance(record, dict) else None
            try:
                body = json.loads(record["body"])
                if not isinstance(body, dict) or body.get("eventType") != "disconnected":
                    raise presence.MalformedPresenceEvent(f"record {index}: not a disconnected event")
                event = presence.parse_presence_event(body)
            except (KeyError, TypeError, ValueError) as err:  # MalformedPresenceEvent is a ValueError
                logger.warning("dropped malformed SQS record %s: %s", message_id or index, err)
                continue
            try:
                self._presence(event, remaining_seconds)
            except Exception as err:  # Slack, DynamoDB or the secret: SQS redelivers it (maxReceiveCount, then DLQ)
                logger.warning("will retry SQS record %s: %s: %s", message_id, type(err).__name__, err)
                if isinstance(message_id, str):
                    failures.append({"itemIdentifier": message_id})
        return {"batchItemFailures": failures}


_notifier: Notifier | None = None


def _from_environment() -> Notifier:
    import boto3  # the Lambda runtime provides it; imported here so tests and tools need no AWS at import

    return Notifier(
        secrets=boto3.client("secretsmanager"), secret_arn=os.environ["SLACK_SECRET_ARN"],
        dedupe=DedupeStore(boto3.client("dynamodb"), os.environ["DEDUPE_TABLE"], time.time),
        presence=presence.PresenceTable(boto3.client("dynamodb"), os.environ["PRESENCE_TABLE"]),
        grace_seconds=int(os.environ.get("OFFLINE_GRACE_SECONDS", "300")),
    )  # fmt: skip


def handler(event: Any, context: Any) -> dict[str, Any] | None:
    """Lambda entry point: IoT rule events and SQS batches (see the module docstring)."""
    global _notifier
    if _notifier is None:
        _notifier = _from_environment()
    return _notifier.handle(event, lambda: context.get_remaining_time_in_millis() / 1000.0)
