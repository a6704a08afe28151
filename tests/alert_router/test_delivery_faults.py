"""Delivery under faults: held items keep their place, finished rows are never re-sent, stale news is
dropped, workers are replaced without blocking, secrets are re-read on auth failures and never leak.

The outbox is the real SQLite store; writes are refused with `PRAGMA query_only` (what a full or
read-only disk does to SQLite); Slack is the local fake server; time is injected where it matters.
"""

from __future__ import annotations

import logging
import random
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alert_router import notification
from alert_router.config import parse_config
from alert_router.delivery import Delivered, Deliverer, DeliveryResult, Permanent
from alert_router.notification import Notification
from alert_router.outbox import RESTART_RETRY_SECONDS, Outbox
from alert_router.receivers.slack import SlackIntegration
from alert_router.secrets import Redactor, SecretSource

from edgewatch.local.testing import wait_until
from edgewatch_shared.backoff import Backoff
from edgewatch_testkit.fake_slack import TOKEN, WEBHOOK_PATH, FakeSlack

KEY = "ops/test"


def alert(fp: str, status: str = "firing") -> dict[str, Any]:
    return {"fingerprint": fp, "status": status, "value": 1.0, "startsAt": 1_000, "endsAt": None,
            "annotations": {"summary": fp}, "labels": {"alertname": fp, "thing": "gw-01"}}  # fmt: skip


def news(group: str, *alerts: dict[str, Any], now: float = 1000.0) -> Notification:
    return notification.build("ops", group, {}, "gw-01", list(alerts), now)


class Recorder:
    """An integration that records what it was given (and can be held inside `send`)."""

    pacing_key = None
    min_interval = 0.0

    def __init__(self, key: str = KEY, hold: threading.Event | None = None) -> None:
        self.key = key
        self.sent: list[str] = []
        self._hold = hold
        self._lock = threading.Lock()
        self.in_send = 0
        self.max_in_send = 0

    def send(self, n: Notification) -> DeliveryResult:
        with self._lock:
            self.in_send += 1
            self.max_in_send = max(self.max_in_send, self.in_send)
        try:
            if self._hold is not None:
                self._hold.wait(10)
            self.sent.append(n.id)
            return Delivered()
        finally:
            with self._lock:
                self.in_send -= 1


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def refuse_writes(box: Outbox, refused: bool) -> None:
    assert box._db is not None
    box._db.execute(f"PRAGMA query_only = {'ON' if refused else 'OFF'}")


def drain(box: Outbox, key: str = KEY, now: float = 1000.0, max_age: float | None = None) -> list[str]:
    out = []
    while (item := box.head(key, now, max_age)) is not None:
        out.append(item.notification.id)
        box.delivered(item)
    return out


@pytest.fixture
def box(tmp_path: Path) -> Iterator[Outbox]:
    outbox = Outbox(tmp_path / "o.sqlite", max_rows=100, clock=Clock())
    yield outbox
    outbox.close()


def test_items_held_in_memory_keep_their_place_in_the_queue(box: Outbox) -> None:
    first, held, later = news("g1", alert("a")), news("g2", alert("b")), news("g3", alert("c"))
    box.add([KEY], first, 1000.0)
    refuse_writes(box, True)
    box.add([KEY], held, 1000.0)
    assert box.stats.write_errors == 1 and box.held_in_memory() == 1
    refuse_writes(box, False)
    box.add([KEY], later, 1000.0)
    assert box.depth() == {KEY: 3}
    assert drain(box) == [first.id, held.id, later.id]  # the held one neither jumps ahead nor falls behind


def test_a_delivered_row_whose_delete_fails_is_never_handed_out_again(box: Outbox, tmp_path: Path) -> None:
    sent, nxt = news("g1", alert("a")), news("g2", alert("b"))
    box.add([KEY], sent, 1000.0)
    box.add([KEY], nxt, 1000.0)
    item = box.head(KEY, 1000.0)
    assert item is not None and item.notification.id == sent.id
    refuse_writes(box, True)
    box.delivered(item)  # the DELETE fails
    assert box.stats.write_errors == 1
    again = box.head(KEY, 1000.0)
    assert again is not None and again.notification.id == nxt.id, "a delivered row came back"
    assert box.depth() == {KEY: 1}
    refuse_writes(box, False)
    box.add([KEY], news("g3", alert("c")), 1000.0)  # the next write also completes the DELETE
    box.close()
    reopened = Outbox(tmp_path / "o.sqlite", max_rows=100, clock=Clock())
    assert sent.id not in drain(reopened)
    reopened.close()


def test_a_failed_retry_update_keeps_the_backoff_in_memory(box: Outbox) -> None:
    box.add([KEY], news("g1", alert("a")), 1000.0)
    item = box.head(KEY, 1000.0)
    assert item is not None
    refuse_writes(box, True)
    box.retry_later(item, 1060.0, "HTTP 500")
    later = box.head(KEY, 1000.0)
    assert later is not None and later.next_attempt == 1060.0 and later.attempts == 1


def test_restored_backoff_gives_way_to_a_prompt_retry_after_restart(tmp_path: Path) -> None:
    clock = Clock(1000.0)
    box = Outbox(tmp_path / "o.sqlite", max_rows=100, clock=clock)
    box.add([KEY], news("g1", alert("a")), 1000.0)
    item = box.head(KEY, 1000.0)
    assert item is not None
    box.retry_later(item, 1300.0, "HTTP 500")  # five minutes of backoff stored
    after = box.head(KEY, 1000.0)
    assert after is not None and after.next_attempt == 1300.0  # in this process the policy holds
    box.close()
    clock.now = 1010.0  # restarted ten seconds later
    box = Outbox(tmp_path / "o.sqlite", max_rows=100, clock=clock)
    restored = box.head(KEY, 1010.0)
    assert restored is not None and restored.attempts == 1
    assert restored.next_attempt <= 1010.0 + RESTART_RETRY_SECONDS
    box.retry_later(restored, 1014.0, "HTTP 500 again")  # then the normal policy again
    again = box.head(KEY, 1010.5)
    assert again is not None and again.next_attempt == 1014.0 and again.attempts == 2
    box.close()


def test_newer_news_of_a_group_supersedes_undelivered_older_news_and_order_holds(box: Outbox) -> None:
    firing_a = news("gA", alert("a"))
    firing_b = news("gB", alert("b"))
    resolved_a = news("gA", alert("a", "resolved"))
    for n in (firing_a, firing_b, resolved_a):
        box.add([KEY], n, 1000.0)
    assert drain(box) == [firing_b.id, resolved_a.id]
    assert box.stats.superseded == 1


def test_older_news_carrying_an_alert_the_newer_lacks_is_still_sent(box: Outbox) -> None:
    # The older message is the only one that tells of b's resolution: it must not be dropped.
    older = news("g", alert("a"), alert("b", "resolved"))
    newer = news("g", alert("a"), alert("c"))
    box.add([KEY], older, 1000.0)
    box.add([KEY], newer, 1000.0)
    assert drain(box) == [older.id, newer.id]
    assert box.stats.superseded == 0


def test_supersession_also_applies_between_disk_rows_and_held_items(box: Outbox) -> None:
    on_disk, held = news("g", alert("a")), news("g", alert("a", "resolved"))
    box.add([KEY], on_disk, 1000.0)
    refuse_writes(box, True)
    box.add([KEY], held, 1000.0)
    refuse_writes(box, False)
    assert drain(box) == [held.id] and box.stats.superseded == 1


def test_notifications_older_than_the_maximum_age_are_dropped_counted_and_logged(
    box: Outbox, caplog: pytest.LogCaptureFixture
) -> None:
    old, fresh = news("g1", alert("a")), news("g2", alert("b"))
    box.add([KEY], old, 1000.0)
    box.add([KEY], fresh, 90_000.0)
    caplog.set_level(logging.INFO)
    assert drain(box, now=90_000.0, max_age=86_400) == [fresh.id]
    assert box.stats.expired == 1
    assert "dropped unsent" in caplog.text and old.id in caplog.text
    assert [(k, nid) for k, nid, _ in box.dead_letters()] == [(KEY, old.id)]


def test_stale_news_through_the_worker_with_an_injected_clock(box: Outbox) -> None:
    clock = Clock(100_000.0)
    rec = Recorder()
    deliverer = Deliverer(box, Backoff(), str, clock=clock, max_age=3600)
    box.add([KEY], news("old", alert("x")), 100_000.0 - 7200)  # two hours old: beyond the bound
    box.add([KEY], news("g", alert("a")), 100_000.0)
    box.add([KEY], keep := news("g", alert("a", "resolved")), 100_000.0)
    deliverer.set_integrations({KEY: rec})
    try:
        wait_until(lambda: box.depth() == {}, what="the queue to drain")
    finally:
        deliverer.stop()
    assert rec.sent == [keep.id]
    assert (box.stats.expired, box.stats.superseded) == (1, 1)


def test_corruption_found_while_running_is_quarantined_and_the_rows_carried_over(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    box = Outbox(path, max_rows=1000)
    queued = [news(f"g{i}", alert(f"a{i}")) for i in range(150)]
    for n in queued:
        box.add([KEY], n, 1000.0)
    box.close()
    box = Outbox(path, max_rows=1000)  # sound at open
    assert box.quarantined_to is None
    rnd = random.Random(7)
    with path.open("r+b") as f:  # damage every page but the header page behind its back
        for page in range(1, path.stat().st_size // 4096):
            f.seek(page * 4096)
            f.write(rnd.randbytes(4096))
    other = sqlite3.connect(str(path))  # another writer makes the connection drop its page cache
    try:
        other.execute("INSERT INTO silences VALUES ('x', '{}', 1)")
        other.commit()
    except sqlite3.DatabaseError:
        pass
    finally:
        other.close()
    first = box.head(KEY, 1000.0)  # no crash: recovered
    assert box.quarantined_to is not None and box.quarantined_to.exists()
    assert box.quarantined_to.name.startswith("o.sqlite.corrupt-")
    assert box.stats.corruption_recoveries == 1
    delivered = drain(box)
    assert first is not None and delivered[0] == first.notification.id
    positions = [[n.id for n in queued].index(i) for i in delivered]
    assert positions == sorted(positions), "recovered rows out of order"
    box.add([KEY], last := news("after", alert("z")), 1000.0)  # and it keeps working
    assert drain(box) == [last.id]
    box.close()


def test_replacing_a_worker_never_blocks_and_one_queue_has_one_sender(box: Outbox) -> None:
    hold = threading.Event()
    old = Recorder(hold=hold)
    deliverer = Deliverer(box, Backoff(), str)
    deliverer.set_integrations({KEY: old})
    first, second = news("g1", alert("a")), news("g2", alert("b"))
    box.add([KEY], first, time.time())
    box.add([KEY], second, time.time())
    deliverer.wake()
    try:
        wait_until(lambda: old.in_send == 1, what="the old worker to be inside send")
        new = Recorder()
        start = time.monotonic()
        deliverer.set_integrations({KEY: new})  # e.g. a configuration change of this receiver
        assert time.monotonic() - start < 0.5, "replacing a worker blocked the router loop"
        assert deliverer.senders(KEY) == 2  # the new one exists but waits
        deliverer.wake()
        with pytest.raises(TimeoutError):  # a successor that did not wait would send within this window
            wait_until(lambda: new.sent or new.in_send, timeout=0.5, what="a second sender")
        hold.set()
        wait_until(lambda: new.sent == [second.id], what="the successor to send the next one")
        wait_until(lambda: deliverer.senders(KEY) == 1, what="the old worker to end")
        # Removed, then added back while its old worker is still inside a send: the newcomer waits too.
        hold.clear()
        box.add([KEY], third := news("g3", alert("c")), time.time())
        held = Recorder(hold=hold)
        deliverer.set_integrations({KEY: held})
        wait_until(lambda: held.in_send == 1, what="the third worker inside send")
        deliverer.set_integrations({})
        box.add([KEY], fourth := news("g4", alert("d")), time.time())
        back = Recorder()
        deliverer.set_integrations({KEY: back})
        deliverer.wake()
        with pytest.raises(TimeoutError):
            wait_until(lambda: back.sent or back.in_send, timeout=0.5, what="a second sender")
        hold.set()
        wait_until(lambda: back.sent == [fourth.id], what="the re-added worker to send")
        assert held.sent == [third.id]
    finally:
        hold.set()
        deliverer.stop()
    assert old.sent == [first.id] and new.sent == [second.id]  # nothing twice, nothing skipped


# -- Slack: secrets re-read on auth failure; nothing secret in logs or files


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as server:
        yield server


def slack(fake: FakeSlack, redactor: Redactor, receiver: str = "ops", **spec: Any) -> SlackIntegration:
    config = parse_config({"receivers": [{"name": receiver, "slack": {"minIntervalSeconds": 0, **spec}}],
                           "route": {"receiver": receiver}})  # fmt: skip
    return SlackIntegration(config.receivers[receiver][0], SecretSource(None, redactor))


def secret_file(path: Path, value: str) -> Path:
    path.write_text(value + "\n")
    path.chmod(0o600)
    return path


def test_a_rotated_bot_token_is_read_again_after_invalid_auth(fake: FakeSlack, tmp_path: Path) -> None:
    token = secret_file(tmp_path / "token", "xoxb-old-revoked-token-0000")
    integration = slack(fake, Redactor(), botTokenFile=str(token), channel="#ops", apiUrl=fake.api_url)
    assert isinstance(integration.send(news("g", alert("a"))), Permanent)  # old token, and still the old one
    old = "Bearer xoxb-old-revoked-token-0000"  # the fake answers invalid_auth to any token but TOKEN
    assert [r.headers["Authorization"] for r in fake.received] == [old]  # re-read found no change: no retry
    secret_file(token, TOKEN)  # the operator rotates the secret; the integration still holds the old one
    result = integration.send(news("g", alert("b")))
    assert isinstance(result, Delivered), result
    assert [r.headers["Authorization"] for r in fake.received] == [old, old, f"Bearer {TOKEN}"]


def test_a_rotated_webhook_file_is_read_again_after_a_404(fake: FakeSlack, tmp_path: Path) -> None:
    old = "/services/T000/B000/ROTATEDAWAY"
    url = secret_file(tmp_path / "webhook", fake.base + old)
    integration = slack(fake, Redactor(), webhookUrlFile=str(url))
    integration._credential()  # read (and cached) before the rotation
    secret_file(url, fake.webhook_url)
    assert isinstance(integration.send(news("g", alert("a"))), Delivered)
    assert [r.path for r in fake.received] == [old, WEBHOOK_PATH]  # the old path got a 404


def test_an_inline_webhook_url_is_not_reread_and_fails_permanently(fake: FakeSlack) -> None:
    integration = slack(fake, Redactor(), webhookUrl=fake.base + "/services/T000/B000/GONE")
    result = integration.send(news("g", alert("a")))
    assert isinstance(result, Permanent) and "404" in result.reason
    assert len(fake.received) == 1


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_webhook_url_never_appears_in_logs_or_files(fake: FakeSlack, tmp_path: Path,
                                                       caplog: pytest.LogCaptureFixture) -> None:  # fmt: skip
    caplog.set_level(logging.DEBUG)
    redactor = Redactor()
    box = Outbox(tmp_path / "o.sqlite", max_rows=100)
    deliverer = Deliverer(box, Backoff(initial=0.02, maximum=0.05), redactor.redact)
    secret = "ZQ7SECRETTOKEN9"
    urls = {
        "space": f"{fake.base}/services/T000/B000/ZQ7SECRET TOKEN9",
        "refused": f"http://127.0.0.1:{closed_port()}/services/T000/B000/{secret}",
        "500": f"{fake.base}/services/T000/B000/{secret}",
        "invalid_auth": f"{fake.base}/services/T000/B000/{secret}",
    }
    fake.script("500", "invalid_auth")
    integrations = {f"{name}/slack": slack(fake, redactor, name, webhookUrl=url) for name, url in urls.items()}
    deliverer.set_integrations(integrations)
    for key in integrations:
        box.add([key], news(key, alert("a")), time.time())
    deliverer.wake()
    try:
        wait_until(lambda: deliverer.health.of("space/slack").permanent_failures, what="the URL with a space to fail")
        wait_until(lambda: deliverer.health.of("refused/slack").retries >= 2, what="connection refused, retried")
        wait_until(lambda: len(fake.received) >= 2, what="the 500 and the invalid_auth")
    finally:
        deliverer.stop()
    box.close()
    errors = [h.last_error for h in deliverer.health.integrations.values()]
    assert any("InvalidURL" in e or "control characters" in e for e in errors), errors
    assert any("refused" in e.lower() for e in errors), errors
    db = sqlite3.connect(str(tmp_path / "o.sqlite"))
    stored = [r for (r,) in db.execute("SELECT reason FROM dead_letters UNION ALL SELECT last_error FROM outbox")]
    db.close()
    assert any("InvalidURL" in e for e in stored) and any("refused" in e for e in stored), stored  # stored...
    assert "HTTP 500" in caplog.text and "invalid_auth" in caplog.text  # ...and logged
    files = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.is_file())
    assert {p.name: p.stat().st_mode & 0o777 for p in tmp_path.glob("o.sqlite*")}["o.sqlite"] == 0o600
    for piece in (secret, "ZQ7SECRET", "TOKEN9", "SECRET TOKEN", "SECRET%20TOKEN"):
        assert piece not in caplog.text, piece  # ...but no piece of the secret, in logs
        assert piece.encode() not in files, piece  # ...or in the outbox


def test_max_notification_age_is_configurable_with_a_sensible_default() -> None:
    from alert_router.config import validity_reason

    assert parse_config({}).max_notification_age == 86400
    assert parse_config({"maxNotificationAgeSeconds": "2h"}).max_notification_age == 7200
    reason = validity_reason({"maxNotificationAgeSeconds": 5})
    assert reason is not None and reason.startswith("maxNotificationAgeSeconds")


def test_without_a_usable_file_the_outbox_runs_in_memory_then_stores_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "work"
    blocker.write_text("a file where the work folder should be")  # the store cannot be created
    clock = Clock(1000.0)
    box = Outbox(blocker / "o.sqlite", max_rows=100, clock=clock)
    assert box.stats.memory_only and "in memory only" in caplog.text
    held = news("g1", alert("a"))
    box.add([KEY], held, 1000.0)
    assert box.held_in_memory() == 1
    blocker.unlink()
    blocker.mkdir()  # the operator makes room
    clock.now = 1000.0 + 31
    box.add([KEY], stored := news("g2", alert("b")), clock.now)
    assert not box.stats.memory_only and (blocker / "o.sqlite").exists()
    assert box.held_in_memory() == 1 and box.depth() == {KEY: 2}
    assert drain(box, now=clock.now) == [held.id, stored.id]  # the held one first: it is older
    box.close()


def test_an_unreadable_row_is_dropped_and_does_not_block_its_queue(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    box = Outbox(path, max_rows=100)
    box.add([KEY], news("g1", alert("a")), 1000.0)
    box.add([KEY], good := news("g2", alert("b")), 1000.0)
    box.close()
    db = sqlite3.connect(str(path))
    db.execute("UPDATE outbox SET payload = '{\"not\": \"a notification\"}' WHERE seq = 1")
    db.commit()
    db.close()
    box = Outbox(path, max_rows=100)
    assert drain(box) == [good.id] and box.stats.unreadable == 1
    assert box.depth() == {}
    box.close()
