"""Payloads the buffer cannot store stay in memory (bounded); health verdicts; corruption met in use."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from metrics_collector.config import parse_config
from metrics_collector.config_updates import ConfigInbox
from metrics_collector.health import CollectorHealth, HealthCounts, health_reasons
from metrics_collector.offline_buffer import BufferWriteError, OfflineBuffer
from metrics_collector.pending import PendingPayloads
from metrics_collector.sampler import Sampler
from metrics_collector.service import CONFIG_CONDITION, CollectorService

from edgewatch_shared import health_message
from tests.metrics_collector.fakes import FakeClock, FakeSource
from tests.metrics_collector.test_service import FakeBus, FakeUploader


class FullDiskBuffer(OfflineBuffer):
    """A real buffer whose appends fail while `full` is set, as SQLite does on ENOSPC."""

    full = False

    def append(self, payload: bytes, created_ms: int) -> int:
        if self.full:
            raise BufferWriteError("offline buffer could not store a payload: database or disk is full")
        return super().append(payload, created_ms)


def make(tmp_path: Path, pending: PendingPayloads | None = None) -> tuple[CollectorService, FullDiskBuffer, Any]:
    clock, bus, health = FakeClock(), FakeBus(), CollectorHealth()
    buffer = FullDiskBuffer(tmp_path / "b.sqlite", 1_000_000)
    config = parse_config({"sampleIntervalSeconds": 1, "iotPublishIntervalSeconds": 1, "iotPublishMode": "raw"})
    service = CollectorService(
        config=config, thing="gw", sampler=Sampler(FakeSource(), "gw", health), local=bus, buffer=buffer,
        uploader=FakeUploader(), health=health, inbox=ConfigInbox(), clock=clock, wall_clock=clock, pending=pending,
    )  # fmt: skip
    return service, buffer, (clock, bus, health)


def sample_times(buffer: OfflineBuffer) -> list[int]:
    return [s["ts"] for p in buffer.oldest(1000) for s in json.loads(p.payload)["samples"]]


def test_a_full_disk_keeps_batches_in_memory_in_order_until_stored(tmp_path: Path) -> None:
    service, buffer, (clock, bus, health) = make(tmp_path)
    for _ in range(3):
        service.tick()
        clock.advance(1.0)
    buffer.full = True
    for _ in range(10):
        service.tick()
        clock.advance(1.0)
    counts = health.counts()
    assert counts.pending_payloads >= 9 and counts.pending_bytes > 0
    assert counts.dropped_batches == 0
    assert "held in memory" in " ".join(health_reasons(counts, {}, None, buffer.max_bytes))
    buffer.full = False
    service.tick()
    assert health.counts().pending_payloads == 0
    # Every sample is stored, once, in order (a 1 s publish interval flushes on every tick).
    assert sample_times(buffer) == [m["ts"] for _, m in bus.messages]


def test_past_the_memory_bound_the_oldest_are_dropped_and_counted(tmp_path: Path) -> None:
    service, buffer, (clock, bus, health) = make(tmp_path, PendingPayloads(max_bytes=10**9, max_payloads=3))
    buffer.full = True
    for _ in range(8):
        service.tick()
        clock.advance(1.0)
    counts = health.counts()
    assert counts.pending_payloads == 3
    assert counts.dropped_batches == 4  # 7 batches (the first holds 2 samples), the newest 3 kept
    buffer.full = False
    service.tick()
    local_ts = [m["ts"] for _, m in bus.messages]
    assert sample_times(buffer) == local_ts[5:9]  # the newest three batches plus the one just flushed


def test_pending_bytes_bound_keeps_at_least_the_newest() -> None:
    pending = PendingPayloads(max_bytes=10, max_payloads=100)
    assert pending.add(b"x" * 6, 1) == 0
    assert pending.add(b"y" * 6, 2) == 1
    assert len(pending) == 1 and pending.bytes == 6
    assert pending.add(b"z" * 50, 3) == 1  # larger than the bound alone: kept, it is the newest
    stored: list[int] = []
    assert pending.store(lambda p, ms: stored.append(ms) or 0) == (1, 0)
    assert stored == [3] and len(pending) == 0


def test_health_reasons_name_each_degraded_condition() -> None:
    healthy = HealthCounts(buffer_bytes=10)
    assert health_reasons(healthy, {}, None, 1000) == []
    bad = HealthCounts(dropped_batches=5, buffer_bytes=900, iot_failures_in_a_row=3)
    reasons = health_reasons(bad, {"configuration": "running on the default configuration: x"},
                             HealthCounts(dropped_batches=2), 1000)  # fmt: skip
    assert reasons == [
        "running on the default configuration: x",
        "dropped 3 IoT Core payload(s) since the last report (buffer bounds exceeded)",
        "offline buffer near full: 900 of 1000 bytes",
        "3 IoT Core publishes failed in a row",
    ]
    assert health_reasons(bad, {}, bad, 10_000) == ["3 IoT Core publishes failed in a row"]


def test_health_document_is_valid_and_a_valid_config_clears_the_fallback(tmp_path: Path) -> None:
    service, _, (_, bus, health) = make(tmp_path)
    health.set_condition(CONFIG_CONDITION, "running on the default configuration: stored configuration unusable")
    doc = service.publish_health()
    assert bus.messages[-1] == ("edgewatch/health", doc)
    message = health_message.from_dict(doc)
    assert message.status == "degraded" and message.component == "com.edgewatch.MetricsCollector"
    assert message.reasons[0].startswith("running on the default configuration")
    assert message.counters["samples_taken_total"] == 0 and "buffer_bytes" in message.counters
    assert service._inbox.offer({"sampleIntervalSeconds": 1, "iotPublishIntervalSeconds": 1}) is None
    service.tick()
    assert health_message.from_dict(service.publish_health()).status == "healthy"


def test_corruption_found_while_in_use_quarantines_and_carries_on(tmp_path: Path) -> None:
    path = tmp_path / "b.sqlite"
    events: list[Any] = []
    buffer = OfflineBuffer(path, 10_000_000, on_quarantine=events.append, now=lambda: 0.0)
    for i in range(200):
        buffer.append(b"p" * 2000, i)
    generation = buffer.generation
    # Damage the table's pages behind SQLite's back, as a failing disk would, after the check at open
    # (a new connection, so no page of the sound file is still cached).
    buffer._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    buffer._db.close()
    with path.open("r+b") as f:
        f.seek(8192)
        f.write(b"\x5a" * 200_000)
    buffer._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
    with pytest.raises(sqlite3.DatabaseError, match="malformed"):
        buffer.oldest(1000)
    assert buffer.generation == generation + 1
    assert len(events) == 1 and events[0].moved_to.name.startswith("b.sqlite.corrupt-")
    assert events[0].moved_to.exists()
    assert buffer.depth().payloads == 0
    buffer.append(b"after", 1)
    assert [p.payload for p in buffer.oldest(10)] == [b"after"]


def test_a_buffer_that_cannot_be_opened_at_start_is_unavailable_not_fatal(tmp_path: Path) -> None:
    blocker = tmp_path / "work"
    blocker.write_text("a file where the work folder should be")  # creating the database fails
    buffer = OfflineBuffer(blocker / "b.sqlite", 1_000_000)
    assert buffer.oldest(10) == [] and buffer.depth().payloads == 0
    with pytest.raises(BufferWriteError, match="unavailable"):
        buffer.append(b"x", 1)
    with pytest.raises(sqlite3.OperationalError):
        buffer.remove(1)
    blocker.unlink()
    blocker.mkdir()
    buffer.retry_open_now()  # the next retry is due (it waits REOPEN_SECONDS between attempts)
    buffer.append(b"stored", 2)
    assert [p.payload for p in buffer.oldest(10)] == [b"stored"]
    buffer.close()


def test_with_the_disk_still_full_held_payloads_are_sent_from_memory_in_order(tmp_path: Path) -> None:
    from metrics_collector.uploader import IotUploader

    from edgewatch_shared.backoff import Backoff
    from tests.metrics_collector.test_uploader import FakeIotCore

    buffer = FullDiskBuffer(tmp_path / "b.sqlite", 1_000_000)
    pending, iot, clock, health = PendingPayloads(), FakeIotCore(), FakeClock(), CollectorHealth()
    backoff = Backoff(initial=2.0, maximum=2.0, random_fraction=lambda: 1.0)
    uploader = IotUploader(buffer, iot.publish, health, "dt/edgewatch/gw/metrics", clock=clock, min_spacing=0.0,
                           backoff=backoff, pending=pending)  # fmt: skip
    for i in range(2):
        buffer.append(b"stored-%d" % i, i)
    buffer.full = True
    for i in range(4):
        pending.add(b"memory-%d" % i, 10 + i)
        assert pending.store(buffer.append) == (0, 0)
    uploader.pump()
    assert [p for p, _ in iot.pending] == [b"stored-0", b"stored-1"]  # memory waits for the buffer
    iot.ack_all()
    uploader.pump()
    assert [p for p, _ in iot.pending] == [b"memory-0"]  # one at a time from memory
    buffer.full = False
    assert pending.store(buffer.append) == (0, 0)  # nothing is stored behind a payload in flight
    iot.fail_all()
    uploader.pump()  # the failure: memory-0 waits again, in front
    assert len(pending) == 4 and health.counts().iot_failures_in_a_row == 1
    clock.advance(2.0)
    uploader.pump()
    assert [p for p, _ in iot.pending] == [b"memory-0"]
    iot.ack_all()
    uploader.pump()
    assert len(pending) == 3
    iot.ack_all()  # memory-1, sent by that pump
    uploader.pump()
    assert [p for p, _ in iot.pending] == [b"memory-2"]
    assert pending.store(buffer.append) == (0, 0)  # still nothing stored behind the one in flight
    for _ in range(5):
        iot.ack_all()
        uploader.pump()
    assert iot.delivered == [b"stored-0", b"stored-1", b"memory-0", b"memory-1", b"memory-2", b"memory-3"]
    assert len(pending) == 0 and buffer.depth().payloads == 0


def test_health_updates_that_change_nothing_keep_the_same_snapshot() -> None:
    health = CollectorHealth()
    health.set(buffer_depth=3)
    before = health.counts()
    health.set(buffer_depth=3)
    health.add(read_failures=0)
    assert health.counts() is before
    health.add(read_failures=2, samples_taken=0)
    assert health.counts().read_failures == 2 and health.counts().buffer_depth == 3
