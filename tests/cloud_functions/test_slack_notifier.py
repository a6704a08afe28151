"""The Slack Lambda against moto (DynamoDB, Secrets Manager, SQS) and the real local fake Slack server.

Alert documents are made by the AlertRouter's own code: a firing Alert's snapshot, grouped into a
Notification, published through its IoT Core integration (the bytes that reach `dt/edgewatch/{thing}/alerts`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import pytest
from alert_router.model import Alert, AlertState
from alert_router.notification import Notification, build
from alert_router.receivers.slack_blocks import render
from alert_router.receivers.topics import IotCoreIntegration

from edgewatch_lambdas import presence, slack_notifier
from edgewatch_lambdas.slack_notifier import DedupeStore, MalformedEvent, Notifier, TransientFailure
from tests.cloud_functions.conftest import DEDUPE_TABLE, PRESENCE_TABLE, CloudSide

THING = "edgewatch-gw-7"
T0 = 1_790_000_000.0


def router_notification(thing: str = THING, summary: str = "CPU above 90% for 5 minutes") -> Notification:
    alert = Alert(
        labels={"alertname": "HighCpu", "severity": "critical", "thing": thing, "site": "<!channel>"},
        annotations={"summary": summary, "description": "load & heat"}, state=AlertState.FIRING,
        active_at=T0 - 300, value=97.25, starts_at=T0,
    )  # fmt: skip
    return build("default", "{}/{alertname=\"HighCpu\"}", {"alertname": "HighCpu"}, thing, [alert.snapshot()], T0 + 1)


def published_on_iot(notification: Notification) -> tuple[str, bytes]:
    """What the router's iotCore integration publishes."""
    sent: list[tuple[str, bytes]] = []
    result = IotCoreIntegration("iot", f"dt/edgewatch/{notification.thing}/alerts",
                                lambda topic, payload: sent.append((topic, payload))).send(notification)  # fmt: skip
    assert type(result).__name__ == "Delivered" and len(sent) == 1
    return sent[0]


def rule_event(topic: str, payload: bytes) -> dict[str, Any]:
    """The topic rule's `SELECT *, topic(3) AS edgewatchTopicThing`."""
    return {**json.loads(payload), "edgewatchTopicThing": topic.split("/")[2]}


class Clock:
    def __init__(self, start: float = T0) -> None:
        self.now = start
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def notifier(cloud: CloudSide, clock: Clock, grace: int = 300) -> Notifier:
    return Notifier(
        secrets=cloud.secrets, secret_arn=cloud.secret_arn, dedupe=DedupeStore(cloud.dynamodb, DEDUPE_TABLE, clock),
        presence=presence.PresenceTable(cloud.dynamodb, PRESENCE_TABLE), grace_seconds=grace,
        clock=clock, sleep=clock.sleep,
    )  # fmt: skip


def plenty() -> float:
    return 55.0


class LambdaContext:
    def __init__(self, remaining: Callable[[], float]) -> None:
        self._remaining = remaining

    def get_remaining_time_in_millis(self) -> int:
        return int(self._remaining() * 1000)


# --- alert documents ----------------------------------------------------------------------------


def test_the_router_document_becomes_one_slack_message_rendered_by_the_router(
    cloud: CloudSide, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = router_notification()
    topic, payload = published_on_iot(original)
    # Through the Lambda entry point: clients from the environment, as the stack configures them.
    monkeypatch.setenv("SLACK_SECRET_ARN", cloud.secret_arn)
    monkeypatch.setenv("DEDUPE_TABLE", DEDUPE_TABLE)
    monkeypatch.setenv("PRESENCE_TABLE", PRESENCE_TABLE)
    monkeypatch.setattr(slack_notifier, "_notifier", None)

    assert slack_notifier.handler(rule_event(topic, payload), LambdaContext(plenty)) is None

    messages = cloud.slack.delivered()
    assert len(messages) == 1
    text, blocks = render(original)
    assert messages[0].body == {"text": text, "blocks": blocks}
    assert "&lt;!channel&gt;" in json.dumps(blocks) and "<!channel>" not in json.dumps(blocks)  # router escaping
    assert messages[0].path.startswith("/services/")


def test_parse_alert_document_round_trips_what_the_router_publishes() -> None:
    original = router_notification()
    parsed = slack_notifier.parse_alert_document(rule_event(*published_on_iot(original)))
    assert render(parsed) == render(original)
    assert parsed.id == original.id and parsed.thing == THING and parsed.status == "firing"


def test_a_replayed_id_is_posted_once(cloud: CloudSide) -> None:
    n = notifier(cloud, Clock())
    event = rule_event(*published_on_iot(router_notification()))
    n.handle(event, plenty)
    n.handle(dict(event), plenty)  # IoT's at-least-once delivery, or a Lambda async retry
    assert len(cloud.slack.received) == 1


def test_429_waits_retry_after_and_5xx_backs_off_within_the_time_left(cloud: CloudSide) -> None:
    clock = Clock()
    cloud.slack.retry_after = 3
    cloud.slack.script("429", "500", "ok")
    n = notifier(cloud, clock)
    n.handle(rule_event(*published_on_iot(router_notification())), plenty)
    assert [r.answered for r in cloud.slack.received] == ["429", "500", "ok"]
    assert clock.slept[0] == 3.0  # Retry-After
    assert len(clock.slept) == 2


def test_out_of_time_hands_the_event_back_and_a_retry_posts_it(cloud: CloudSide) -> None:
    clock = Clock()
    cloud.slack.retry_after = 30
    cloud.slack.script("429")
    n = notifier(cloud, clock)
    event = rule_event(*published_on_iot(router_notification()))
    with pytest.raises(TransientFailure, match="no time left"):
        n.handle(event, lambda: 10.0)  # 10 s left: a 30 s Retry-After cannot be waited out
    assert clock.slept == []
    n.handle(event, plenty)  # the platform's retry: the claim was released
    assert [r.answered for r in cloud.slack.received] == ["429", "ok"]


def test_a_deleted_webhook_is_logged_and_dropped(cloud: CloudSide, caplog: pytest.LogCaptureFixture) -> None:
    cloud.slack.script("404")
    with caplog.at_level(logging.ERROR, logger="edgewatch_lambdas.slack_notifier"):
        assert notifier(cloud, Clock()).handle(rule_event(*published_on_iot(router_notification())), plenty) is None
    assert len(cloud.slack.received) == 1
    assert "Slack refused notification" in caplog.text and "HTTP 404" in caplog.text
    assert "XXXXSECRETXXXX" not in caplog.text  # the webhook URL is a secret


@pytest.mark.parametrize(
    ("mutate", "problem"),
    [
        (lambda d: "not an object", "expected an object"),
        (lambda d: {**d, "schema": "other/1"}, "schema"),
        (lambda d: {k: v for k, v in d.items() if k != "id"}, "alert document.id"),
        (lambda d: {**d, "alerts": []}, "alerts"),
        (lambda d: {**d, "alerts": [{**d["alerts"][0], "status": "weird"}]}, "alerts[0].status"),
        (lambda d: {**d, "alerts": [{**d["alerts"][0], "labels": {"severity": 3}}]}, "alerts[0].labels"),
        (lambda d: {**d, "edgewatchTopicThing": "someone-else"}, "published on the topic of thing"),
        (lambda d: {**d, "createdAt": "yesterday"}, "createdAt"),
    ],
)
def test_malformed_alert_documents_are_logged_and_dropped(
    cloud: CloudSide, caplog: pytest.LogCaptureFixture, mutate: Callable[[dict[str, Any]], Any], problem: str
) -> None:
    doc = mutate(rule_event(*published_on_iot(router_notification())))
    with pytest.raises(MalformedEvent, match=problem.replace("[", r"\[").replace("]", r"\]")):
        slack_notifier.parse_alert_document(doc)
    with caplog.at_level(logging.WARNING, logger="edgewatch_lambdas.slack_notifier"):
        assert notifier(cloud, Clock()).handle(doc, plenty) is None  # returns: never retried
    assert "dropped a malformed event" in caplog.text
    assert cloud.slack.received == []


# --- presence -----------------------------------------------------------------------------------


def presence_event(kind: str, ts_ms: int, thing: str = THING, reason: str = "CONNECTION_LOST") -> dict[str, Any]:
    event: dict[str, Any] = {
        "clientId": thing, "timestamp": ts_ms, "eventType": kind, "sessionIdentifier": f"s-{ts_ms}",
        "principalIdentifier": "abc123", "versionNumber": 1,
    }  # fmt: skip
    if kind == "disconnected":
        event.update(clientInitiatedDisconnect=False, disconnectReason=reason)
    return event


def delayed_disconnects(cloud: CloudSide, *events: dict[str, Any]) -> dict[str, Any]:
    """The disconnected rule's SQS action, then the event source mapping's batch (moto SQS)."""
    url = cloud.sqs.create_queue(QueueName="offline-checks")["QueueUrl"]
    for event in events:
        cloud.sqs.send_message(QueueUrl=url, MessageBody=json.dumps(event))
    received = cloud.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    return {"Records": [{"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
                         "eventSource": "aws:sqs"} for m in received]}  # fmt: skip


def test_a_disconnect_then_a_reconnect_within_the_grace_period_posts_nothing(cloud: CloudSide) -> None:
    clock = Clock()
    n = notifier(cloud, clock)
    t = int(T0 * 1000)
    n.handle(presence_event("connected", t - 60_000), plenty)
    n.handle(presence_event("connected", t + 40_000), plenty)  # back 40 s after the disconnect
    batch = delayed_disconnects(cloud, presence_event("disconnected", t))
    assert n.handle(batch, plenty) == {"batchItemFailures": []}
    assert cloud.slack.received == []


def test_a_device_still_away_after_the_grace_period_is_reported_offline_once(cloud: CloudSide) -> None:
    n = notifier(cloud, Clock(), grace=300)
    t = int(T0 * 1000)
    n.handle(presence_event("connected", t - 60_000), plenty)
    n.handle(presence_event("connected", t - 90_000), plenty)  # a late, older event moves nothing back
    disconnect = presence_event("disconnected", t)
    n.handle(delayed_disconnects(cloud, disconnect), plenty)
    n.handle(delayed_disconnects(cloud, disconnect), plenty)  # SQS delivers at least once
    messages = cloud.slack.delivered()
    assert len(messages) == 1
    body = json.dumps(messages[0].body)
    assert "DeviceOffline" in body and THING in body and "not connected again within 300 s" in body
    assert "CONNECTION_LOST" in body


def test_duplicate_client_ids_second_connections_and_fleet_watchers_are_not_devices_going_offline(
    cloud: CloudSide,
) -> None:
    n = notifier(cloud, Clock())
    t = int(T0 * 1000)
    batch = delayed_disconnects(
        cloud, presence_event("disconnected", t, reason="DUPLICATE_CLIENTID"),
        presence_event("disconnected", t, thing=f"{THING}#2"),
        presence_event("disconnected", t, thing="edgewatch-fleet-watch-alice"),
    )  # fmt: skip
    assert n.handle(batch, plenty) == {"batchItemFailures": []}
    assert cloud.slack.received == []


def test_malformed_sqs_records_are_dropped_and_a_slack_outage_retries_only_its_record(
    cloud: CloudSide, caplog: pytest.LogCaptureFixture
) -> None:
    n = notifier(cloud, Clock())
    cloud.slack.script(*["500"] * 50)
    good = delayed_disconnects(cloud, presence_event("disconnected", int(T0 * 1000)))["Records"][0]
    batch = {"Records": [{"messageId": "m-bad-json", "body": "{not json"},
                         {"messageId": "m-wrong-kind", "body": json.dumps({"eventType": "subscribed"})},
                         {"messageId": "m-no-body"}, good]}  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="edgewatch_lambdas.slack_notifier"):
        result = n.handle(batch, lambda: 6.0)
    assert result == {"batchItemFailures": [{"itemIdentifier": good["messageId"]}]}
    assert caplog.text.count("dropped malformed SQS record") == 3
    assert cloud.slack.delivered() == []


def test_malformed_presence_events_are_dropped(cloud: CloudSide, caplog: pytest.LogCaptureFixture) -> None:
    n = notifier(cloud, Clock())
    with caplog.at_level(logging.WARNING, logger="edgewatch_lambdas.slack_notifier"):
        assert n.handle({"eventType": "connected", "clientId": THING, "timestamp": "soon"}, plenty) is None
        assert n.handle({"eventType": "connected", "timestamp": 5}, plenty) is None
    assert caplog.text.count("dropped a malformed event") == 2
    item = cloud.dynamodb.get_item(TableName=PRESENCE_TABLE, Key={"thing": {"S": THING}})
    assert "Item" not in item


def test_the_webhook_secret_may_be_the_url_itself_or_json() -> None:
    url = "https://hooks.slack.com/services/T/B/X"
    assert slack_notifier.webhook_url_from_secret(url) == url
    assert slack_notifier.webhook_url_from_secret(json.dumps({"url": url})) == url
    with pytest.raises(ValueError, match="no webhook URL"):
        slack_notifier.webhook_url_from_secret(json.dumps({"token": "xoxb-1"}))


def test_a_disconnect_that_skips_the_delay_queue_is_dropped(cloud: CloudSide, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="edgewatch_lambdas.slack_notifier"):
        assert notifier(cloud, Clock()).handle(presence_event("disconnected", int(T0 * 1000)), plenty) is None
    assert "must come through the offline-check queue" in caplog.text
    assert cloud.slack.received == []


def test_a_broken_secret_retries_the_record_instead_of_dropping_it(cloud: CloudSide) -> None:
    cloud.secrets.put_secret_value(SecretId=cloud.secret_arn, SecretString='{"token": "not a webhook"}')
    n = notifier(cloud, Clock())
    batch = delayed_disconnects(cloud, presence_event("disconnected", int(T0 * 1000)))
    assert n.handle(batch, plenty) == {"batchItemFailures": [{"itemIdentifier": batch["Records"][0]["messageId"]}]}
    cloud.secrets.put_secret_value(SecretId=cloud.secret_arn, SecretString=cloud.slack.webhook_url)
    n = notifier(cloud, Clock())  # a new container (the secret is cached for five minutes)
    assert n.handle(batch, plenty) == {"batchItemFailures": []}  # SQS's redelivery: the claim was released
    assert len(cloud.slack.delivered()) == 1


def test_a_repeat_reminder_keeps_the_id_but_is_posted_once_per_reminder(cloud: CloudSide) -> None:
    first = router_notification()
    alert = dict(first.alerts[0])
    reminder = build("default", first.group_key, first.group_labels, THING, [alert], T0 + 4 * 3600, repeat=True)
    assert reminder.id == first.id  # the router's contract: same news, same id
    n = notifier(cloud, Clock())
    for notification in (first, first, reminder, reminder):
        n.handle(rule_event(*published_on_iot(notification)), plenty)
    bodies = [r.body for r in cloud.slack.delivered()]
    assert len(bodies) == 2 and "(repeat)" in bodies[1]["text"] and "(repeat)" not in bodies[0]["text"]
