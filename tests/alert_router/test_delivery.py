"""Outbox + delivery workers + slack_sdk against a real local HTTP server that behaves like Slack."""

from __future__ import annotations

import itertools
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alert_router import notification
from alert_router.config import parse_config
from alert_router.delivery import Deliverer, DeliveryWorker, Pacer
from alert_router.outbox import Outbox
from alert_router.receivers.slack import SlackIntegration
from alert_router.receivers.topics import LogIntegration
from alert_router.secrets import Redactor, SecretError, SecretSource, read_secret_file

from edgewatch.local.testing import wait_until
from edgewatch_shared.backoff import Backoff
from edgewatch_testkit.fake_slack import TOKEN, WEBHOOK_PATH, FakeSlack


def make_notification(i: int = 0, labels: dict[str, str] | None = None, summary: str = "CPU high") -> Any:
    alert = {
        "fingerprint": f"fp{i}", "status": "firing", "value": 97.5, "startsAt": 1_763_800_000_000 + i,
        "endsAt": None, "annotations": {"summary": summary},
        "labels": {"alertname": "HighCpu", "severity": "critical", "thing": "gw-01", **(labels or {})},
    }  # fmt: skip
    return notification.build("ops", f"g{i}", {"alertname": "HighCpu"}, "gw-01", [alert], 1_763_800_000.0)


def slack_spec(fake: FakeSlack, tmp_path: Path, **slack: Any) -> Any:
    if not slack:
        slack = {"webhookUrl": fake.webhook_url}
    config = parse_config({"receivers": [{"name": "ops", "slack": slack}], "route": {"receiver": "ops"}})
    return config.receivers["ops"][0]


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as server:
        yield server


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[Outbox]:
    box = Outbox(tmp_path / "outbox.sqlite", max_rows=100)
    yield box
    box.close()


class Harness:
    def __init__(self, outbox: Outbox, *integrations: Any, policy: Backoff | None = None) -> None:
        self.redactor = Redactor()
        self.deliverer = Deliverer(outbox, policy or Backoff(initial=0.05, maximum=0.2), self.redactor.redact)
        self.deliverer.set_integrations({i.key: i for i in integrations})
        self.outbox = outbox

    def send(self, n: Any, *keys: str) -> None:
        self.outbox.add(list(keys), n, time.time())
        self.deliverer.wake()

    def health(self, key: str) -> Any:
        return self.deliverer.health.of(key)


@pytest.fixture
def harnesses() -> Iterator[list[Harness]]:
    made: list[Harness] = []
    yield made
    for h in made:
        h.deliverer.stop()


def test_webhook_delivery_renders_block_kit_and_escapes(fake: FakeSlack, outbox: Outbox, tmp_path: Path,
                                                        harnesses: list[Harness]) -> None:  # fmt: skip
    slack = SlackIntegration(slack_spec(fake, tmp_path), SecretSource(None, Redactor()))
    h = Harness(outbox, slack)
    harnesses.append(h)
    evil = make_notification(labels={"host": "<!channel>", "mount": "a&b"}, summary="<@U123> & <!here>")
    h.send(evil, slack.key)
    wait_until(lambda: fake.delivered(), what="the webhook to receive the message")
    body = fake.delivered()[0].body
    texts = [b["text"]["text"] for b in body["blocks"] if b["type"] == "section"]
    everything = body["text"] + "".join(texts)
    assert "<!channel>" not in everything and "<!here>" not in everything and "<@U123>" not in everything
    assert "&lt;!channel&gt;" in everything and "a&amp;b" in everything
    assert "&lt;@U123&gt; &amp; &lt;!here&gt;" in everything
    assert "CRITICAL" in texts[0] and "gw-01" in texts[0]
    assert "97.5" in texts[1] and "2025-11-22" in texts[1]  # value and start time
    assert all(len(t) <= 3000 for t in texts)
    wait_until(lambda: outbox.depth() == {}, what="the outbox to empty after success")


def test_section_text_is_cut_to_3000_characters(fake: FakeSlack, outbox: Outbox, tmp_path: Path,
                                                harnesses: list[Harness]) -> None:  # fmt: skip
    slack = SlackIntegration(slack_spec(fake, tmp_path), SecretSource(None, Redactor()))
    h = Harness(outbox, slack)
    harnesses.append(h)
    h.send(make_notification(summary="&" * 5000), slack.key)
    wait_until(lambda: fake.delivered(), what="delivery")
    texts = [b["text"]["text"] for b in fake.delivered()[0].body["blocks"] if b["type"] == "section"]
    assert max(len(t) for t in texts) <= 3000
    assert not texts[1].split("\n")[0].rstrip("…*").endswith(("&", "&a", "&am", "&amp"))


def test_429_honours_retry_after(fake: FakeSlack, outbox: Outbox, tmp_path: Path, harnesses: list[Harness]) -> None:
    fake.retry_after = 1
    fake.script("429")
    slack = SlackIntegration(slack_spec(fake, tmp_path), SecretSource(None, Redactor()))
    h = Harness(outbox, slack)
    harnesses.append(h)
    h.send(make_notification(), slack.key)
    wait_until(lambda: fake.delivered(), timeout=10, what="delivery after the 429")
    # the server has the message; the worker records success once it has read the answer
    wait_until(lambda: h.health(slack.key).delivered == 1, timeout=10, what="the delivery recorded")
    first, second = fake.received[0], fake.received[1]
    assert first.answered == "429"
    assert second.at - first.at >= 0.95, "retried before Retry-After"
    assert h.health(slack.key).retries == 1 and h.health(slack.key).delivered == 1


def test_web_api_429_and_500s_are_retried_then_delivered(fake: FakeSlack, outbox: Outbox, tmp_path: Path,
                                                         harnesses: list[Harness]) -> None:  # fmt: skip
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    token_file.chmod(0o600)
    fake.retry_after = 0
    fake.script("500", "500", "429")
    spec = slack_spec(fake, tmp_path, botTokenFile=str(token_file), channel="#ops", apiUrl=fake.api_url)
    slack = SlackIntegration(spec, SecretSource(None, Redactor()))
    h = Harness(outbox, slack)
    harnesses.append(h)
    h.send(make_notification(), slack.key)
    wait_until(lambda: fake.delivered(), timeout=10, what="delivery after 500, 500, 429")
    assert [r.answered for r in fake.received] == ["500", "500", "429", "ok"]
    assert fake.delivered()[0].path == "/api/chat.postMessage"
    assert fake.delivered()[0].body["channel"] == "#ops"
    assert h.health(slack.key).retries == 3


def test_timeout_is_retried(fake: FakeSlack, outbox: Outbox, tmp_path: Path, harnesses: list[Harness]) -> None:
    fake.late_seconds = 3
    fake.script("timeout")
    slack = SlackIntegration(slack_spec(fake, tmp_path, webhookUrl=fake.webhook_url, timeoutSeconds=1),
                             SecretSource(None, Redactor()))  # fmt: skip
    h = Harness(outbox, slack)
    harnesses.append(h)
    h.send(make_notification(), slack.key)
    wait_until(lambda: h.health(slack.key).retries >= 1, timeout=10, what="the timeout to count as a retry")
    assert "unreachable" in h.health(slack.key).last_error or "timed out" in h.health(slack.key).last_error
    wait_until(lambda: h.health(slack.key).delivered == 1, timeout=10, what="delivery after the timeout")


@pytest.mark.parametrize("kind", ["invalid_auth", "channel_not_found"])
def test_web_api_permanent_errors_stop_and_are_visible(kind: str, fake: FakeSlack, outbox: Outbox, tmp_path: Path,
                                                       harnesses: list[Harness],
                                                       caplog: pytest.LogCaptureFixture) -> None:  # fmt: skip
    caplog.set_level(logging.DEBUG)
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    token_file.chmod(0o600)
    fake.script(kind)
    spec = slack_spec(fake, tmp_path, botTokenFile=str(token_file), channel="#ops", apiUrl=fake.api_url)
    slack = SlackIntegration(spec, SecretSource(None, Redactor()))
    h = Harness(outbox, slack)
    harnesses.append(h)
    h.send(make_notification(), slack.key)
    wait_until(lambda: h.health(slack.key).permanent_failures == 1, what="a permanent failure")
    assert kind in h.health(slack.key).last_error
    assert outbox.depth() == {}
    assert next((k, reason) for k, _, reason in outbox.dead_letters())[0] == slack.key
    h.send(make_notification(1), slack.key)  # the next one is tried (the error is per message)
    wait_until(lambda: fake.delivered(), what="the next notification")
    assert len(fake.received) == 2, "a permanent error must not be retried"
    assert TOKEN not in caplog.text


def test_404_webhook_is_permanent_and_the_url_is_redacted(fake: FakeSlack, outbox: Outbox, tmp_path: Path,
                                                          harnesses: list[Harness],
                                                          caplog: pytest.LogCaptureFixture) -> None:  # fmt: skip
    caplog.set_level(logging.DEBUG)
    url_file = tmp_path / "webhook"
    url_file.write_text(fake.base + "/services/T000/B000/GONEGONEGONE")
    url_file.chmod(0o600)
    slack = SlackIntegration(slack_spec(fake, tmp_path, webhookUrlFile=str(url_file)),
                             SecretSource(None, h_redactor := Redactor()))  # fmt: skip
    h = Harness(outbox, slack)
    h.redactor = h_redactor
    harnesses.append(h)
    h.send(make_notification(), slack.key)
    wait_until(lambda: h.health(slack.key).permanent_failures == 1, what="a permanent failure")
    assert "404" in h.health(slack.key).last_error
    assert len(fake.received) == 1
    assert "GONEGONEGONE" not in caplog.text and WEBHOOK_PATH not in caplog.text


def test_a_slow_receiver_does_not_block_the_others(fake: FakeSlack, outbox: Outbox, tmp_path: Path,
                                                   harnesses: list[Harness]) -> None:  # fmt: skip
    fake.late_seconds = 5
    fake.script("timeout")
    slack = SlackIntegration(slack_spec(fake, tmp_path, webhookUrl=fake.webhook_url, timeoutSeconds=5),
                             SecretSource(None, Redactor()))  # fmt: skip
    log = LogIntegration("ops/log")
    h = Harness(outbox, slack, log)
    harnesses.append(h)
    start = time.monotonic()
    h.send(make_notification(), slack.key, log.key)
    wait_until(lambda: h.health(log.key).delivered == 1, timeout=2, what="the log integration")
    assert time.monotonic() - start < 2
    assert h.health(slack.key).delivered == 0  # still hanging on the slow Slack


def test_pacing_one_message_per_interval_per_channel(fake: FakeSlack, outbox: Outbox, tmp_path: Path,
                                                     harnesses: list[Harness]) -> None:  # fmt: skip
    slack = SlackIntegration(slack_spec(fake, tmp_path, webhookUrl=fake.webhook_url, minIntervalSeconds=0.3),
                             SecretSource(None, Redactor()))  # fmt: skip
    h = Harness(outbox, slack)
    harnesses.append(h)
    for i in range(3):
        h.send(make_notification(i), slack.key)
    wait_until(lambda: len(fake.delivered()) == 3, what="three messages")
    times = [r.at for r in fake.delivered()]
    assert all(b - a >= 0.28 for a, b in itertools.pairwise(times))
    # In order, per integration.
    assert [r.body["blocks"][-1]["elements"][0]["text"] for r in fake.delivered()] == [
        f"notification `{make_notification(i).id}`" for i in range(3)
    ]


def test_pacer_and_retry_policy_are_pure() -> None:
    pacer = Pacer()
    assert pacer.reserve("c", 1.0, 10.0) == 0.0
    assert pacer.reserve("c", 1.0, 10.4) == pytest.approx(0.6)
    assert pacer.reserve("other", 1.0, 10.4) == 0.0
    assert pacer.reserve("c", 1.0, 11.0) == 0.0
    policy = Backoff(initial=1, maximum=30, random_fraction=lambda: 1.0)
    assert [policy.delay(a, None) for a in range(7)] == [1, 2, 4, 8, 16, 30, 30]
    assert Backoff(initial=1, random_fraction=lambda: 0.0).delay(3, None) == 4.0  # jitter: half the ceiling
    assert policy.delay(0, 7.0) == 7.0  # Retry-After wins


def test_outbox_is_bounded_persistent_and_in_order(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite", max_rows=10)
    for i in range(15):
        box.add(["ops/slack"], make_notification(i), 100.0 + i)
    assert box.stats.overflow_dropped == 5
    box.close()
    box = Outbox(tmp_path / "o.sqlite", max_rows=10)
    head = box.head("ops/slack")
    assert head is not None and head.notification.id == make_notification(5).id
    assert box.depth() == {"ops/slack": 10}
    box.close()


def test_outbox_write_failure_keeps_the_notification_in_memory(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite", max_rows=10)
    box._db.execute("PRAGMA query_only = ON")  # every write now fails, as on a full or read-only disk
    box.add(["ops/log"], make_notification(), 1.0)
    assert box.stats.write_errors == 1
    item = box.head("ops/log")
    assert item is not None and item.seq < 0
    worker = DeliveryWorker(LogIntegration("ops/log"), box, Backoff(), Pacer(), Deliverer(box, Backoff(),
                            str).health, str)  # fmt: skip
    worker.step()
    assert box.head("ops/log") is None
    box.close()


def test_secret_files_must_be_0600(tmp_path: Path) -> None:
    secret = tmp_path / "s"
    secret.write_text("https://hooks.slack.com/services/T/B/abc\n")
    os.chmod(secret, 0o644)
    with pytest.raises(SecretError, match="0600"):
        read_secret_file(str(secret))
    os.chmod(secret, 0o600)
    assert read_secret_file(str(secret)) == "https://hooks.slack.com/services/T/B/abc"
    redactor = Redactor()
    source = SecretSource(lambda arn: '{"webhookUrl": "https://example.test/hook/s3cr3t-value"}', redactor)
    arn = "arn:aws:secretsmanager:eu-west-1:1:secret:x"
    assert source.read(arn=arn, fields=("webhookUrl",)).endswith("s3cr3t-value")
    assert "s3cr3t" not in redactor.redact("POST https://example.test/hook/s3cr3t-value failed")
    assert redactor.redact("token xoxb-1-2-abc and hooks.slack.com/services/T/B/zzz") == (
        "token *** and hooks.slack.com/services/***"
    )
