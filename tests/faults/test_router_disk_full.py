"""Disk full under the AlertRouter's store: order per group holds, no notification is sent twice, and
nothing is lost once space returns.

The router's outbox (the real SQLite store) lives on a small tmpfs that the test mounts and fills;
the pure core is driven with an injected clock; the real delivery worker posts through slack_sdk to
the local fake Slack. Mounting needs root (CI runs as root); elsewhere the test is skipped.
"""

from __future__ import annotations

import errno
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "components" / "alert-router" / "src"))

from alert_router.config import parse_config
from alert_router.core import RouterCore
from alert_router.delivery import Deliverer
from alert_router.notification import Notification
from alert_router.outbox import Outbox
from alert_router.receivers.slack import SlackIntegration
from alert_router.secrets import Redactor, SecretSource

from edgewatch.local.testing import wait_until
from edgewatch_shared.backoff import Backoff
from edgewatch_testkit.fake_slack import FakeSlack

THING = "gw-01"
TMPFS_SIZE = "1m"
KEY = "ops/slack"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    if shutil.which("mount") is None:
        pytest.skip("no mount command here: cannot mount a small tmpfs to fill")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE}", "tmpfs", str(mount_point)],
                          capture_output=True, text=True, timeout=20)  # fmt: skip
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root, as in CI): {done.stderr.strip()}")
    try:
        yield mount_point
    finally:
        if subprocess.run(["umount", str(mount_point)], capture_output=True, timeout=20).returncode != 0:
            subprocess.run(["umount", "-l", str(mount_point)], capture_output=True, timeout=20)


def fill(disk: Path) -> Path:
    """Write a filler file until the disk refuses another byte."""
    filler = disk / "filler"
    with filler.open("wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError as err:
            assert err.errno == errno.ENOSPC, err
    return filler


def checkpoint(db: Path) -> None:
    """Fold the WAL into the database and cut it to zero bytes, so the next write must grow a file."""
    conn = sqlite3.connect(str(db))
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


def disk(t: float, values: dict[str, float]) -> dict[str, Any]:
    return {"schema": "edgewatch.metrics/1", "thing": THING, "ts": round(t * 1000),
            "metrics": [{"name": "disk.percent", "value": v, "unit": "%", "labels": {"mount": m}}
                        for m, v in values.items()]}  # fmt: skip


class Router:
    """The pure core feeding the real outbox; what it queued is kept to check against Slack."""

    def __init__(self, fake: FakeSlack, outbox: Outbox) -> None:
        raw = {
            "rules": [{"name": "DiskFull", "metric": "disk.percent", "op": ">", "threshold": 90}],
            "route": {"receiver": "ops", "groupBy": ["alertname", "mount"], "groupWait": 0, "groupInterval": 1,
                      "repeatInterval": "1h"},
            "receivers": [{"name": "ops", "slack": {"webhookUrl": fake.webhook_url, "minIntervalSeconds": 0}}],
            "inhibitRules": [],
        }  # fmt: skip
        config = parse_config(raw)
        self.core = RouterCore(config, THING, 0.0)
        self.outbox = outbox
        self.queued: dict[str, Notification] = {}
        self.slack = SlackIntegration(config.receivers["ops"][0], SecretSource(None, Redactor()))
        self.deliverer = Deliverer(outbox, Backoff(initial=0.05, maximum=0.2), str)

    def at(self, t: float, values: dict[str, float]) -> None:
        out = self.core.on_metrics(disk(t, values), t) + self.core.tick(t + 1.5)
        for n in out:
            self.queued[n.id] = n
            self.outbox.add([KEY], n, t)
        self.deliverer.wake()


def slack_ids(fake: FakeSlack) -> list[str]:
    return [r.body["blocks"][-1]["elements"][0]["text"].split("`")[1] for r in fake.delivered()]


@pytest.mark.timeout(120)
def test_disk_full_keeps_order_sends_nothing_twice_and_loses_nothing(small_disk: Path) -> None:
    with FakeSlack() as fake:
        fake.script(*["500"] * 1_000_000)  # Slack is down to begin with
        db = small_disk / "alert-router.sqlite"
        outbox = Outbox(db, max_rows=1000)
        router = Router(fake, outbox)
        router.deliverer.set_integrations({KEY: router.slack})
        try:
            # Room on disk, Slack down: two firing alerts wait in the outbox file.
            router.at(0, {"m0": 95, "m1": 95})
            wait_until(lambda: len(fake.received) >= 1, what="a first (failing) attempt")
            checkpoint(db)
            filler = fill(small_disk)

            # Disk full, Slack still down: two more are held in memory behind them.
            router.at(10, {"m0": 95, "m1": 95, "m2": 95, "m3": 95})
            assert outbox.stats.write_errors >= 1 and outbox.held_in_memory() == 2

            # Slack back while the disk is still full: rows are sent, their DELETE fails, memory follows.
            fake._script.clear()
            wait_until(lambda: len(fake.delivered()) == 4, timeout=20, what="the four firing notifications")
            assert [router.queued[i].group_labels["mount"] for i in slack_ids(fake)] == ["m0", "m1", "m2", "m3"]
            assert outbox.stats.remove_errors == 2  # the rows on disk were sent but could not be deleted
            router.at(20, {"m0": 10, "m1": 95, "m2": 10, "m3": 95})  # two resolve, still on a full disk
            wait_until(lambda: len(fake.delivered()) == 6, timeout=20, what="the first two resolved")

            filler.unlink()  # space returns
            router.at(30, {"m0": 10, "m1": 10, "m2": 10, "m3": 10, "m4": 95})
            router.at(40, {"m0": 10, "m1": 10, "m2": 10, "m3": 10, "m4": 10})
            wait_until(lambda: outbox.depth() == {}, timeout=20, what="the outbox to drain")
            wait_until(lambda: router.deliverer.health.of(KEY).delivered + outbox.stats.superseded
                       == len(router.queued), timeout=20, what="every queued notification accounted for")
        finally:
            router.deliverer.stop()
        assert outbox.stats.write_errors >= 3, "the disk never refused a write: the test proved nothing"
        sent = slack_ids(fake)
        assert len(sent) == len(set(sent)), f"a notification reached Slack twice: {sent}"
        assert set(sent) <= set(router.queued)
        assert len(sent) + outbox.stats.superseded == len(router.queued), "a notification was lost"
        per_group: dict[str, list[str]] = {}
        for nid in sent:
            n = router.queued[nid]
            per_group.setdefault(n.group_labels["mount"], []).append(n.status)
        for mount, statuses in per_group.items():
            assert statuses[-1] == "resolved", f"Slack's last word on {mount} was {statuses}"
            assert statuses == sorted(statuses), f"{mount}: firing after resolved: {statuses}"  # firing < resolved
        assert set(per_group) == {"m0", "m1", "m2", "m3", "m4"}
        outbox.close()
        reopened = Outbox(db, max_rows=1000)  # after a restart nothing comes back to be sent again
        assert reopened.depth() == {}
        reopened.close()
