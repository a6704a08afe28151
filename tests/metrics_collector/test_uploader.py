"""The uploader over a real SQLite buffer and a fake IoT Core publish returning futures."""

from __future__ import annotations

from concurrent.futures import Future
from pathlib import Path

import pytest
from metrics_collector.health import CollectorHealth
from metrics_collector.offline_buffer import OfflineBuffer
from metrics_collector.uploader import IDLE_WAIT_SECONDS, IotUploader

from edgewatch_shared.backoff import Backoff
from tests.metrics_collector.fakes import FakeClock


class FakeIotCore:
    def __init__(self) -> None:
        self.pending: list[tuple[bytes, Future[object]]] = []
        self.delivered: list[bytes] = []
        self.connected = True

    def publish(self, topic: str, payload: bytes) -> Future[object]:
        assert topic == "dt/edgewatch/gw/metrics"
        if not self.connected:
            raise ConnectionError("not connected")
        future: Future[object] = Future()
        self.pending.append((payload, future))
        return future

    def ack_all(self) -> None:
        pending, self.pending = self.pending, []
        for payload, future in pending:
            self.delivered.append(payload)
            future.set_result(None)

    def fail_all(self) -> None:
        pending, self.pending = self.pending, []
        for _, future in pending:
            future.set_exception(RuntimeError("offline"))


@pytest.fixture
def setup(tmp_path: Path) -> tuple[OfflineBuffer, FakeIotCore, IotUploader, FakeClock, CollectorHealth]:
    buffer = OfflineBuffer(tmp_path / "b.sqlite", 1_000_000)
    iot, clock, health = FakeIotCore(), FakeClock(), CollectorHealth()
    backoff = Backoff(initial=2.0, maximum=2.0, random_fraction=lambda: 1.0)
    uploader = IotUploader(
        buffer, iot.publish, health, "dt/edgewatch/gw/metrics", clock=clock, backoff=backoff, min_spacing=0.0
    )
    return buffer, iot, uploader, clock, health


def fill(buffer: OfflineBuffer, count: int) -> None:
    for i in range(count):
        buffer.append(b"batch-%03d" % i, created_ms=i)


def test_at_most_five_in_flight_and_acked_ones_leave_the_buffer(setup) -> None:
    buffer, iot, uploader, _, health = setup
    fill(buffer, 12)
    uploader.pump()
    assert len(iot.pending) == 5
    iot.ack_all()
    uploader.pump()
    assert len(iot.pending) == 5
    assert buffer.depth().payloads == 7
    iot.ack_all()
    uploader.pump()
    iot.ack_all()
    uploader.pump()
    assert iot.delivered == [b"batch-%03d" % i for i in range(12)]
    assert buffer.depth().payloads == 0
    assert health.counts().iot_batches_published == 12


def test_outage_is_buffered_and_replayed_in_order(setup) -> None:
    buffer, iot, uploader, clock, health = setup
    fill(buffer, 3)
    uploader.pump()
    iot.fail_all()
    uploader.pump()  # failure noticed: back off
    assert health.counts().iot_publish_failures == 1
    assert iot.pending == []
    fill_more = [b"later-%d" % i for i in range(3)]
    for i, payload in enumerate(fill_more):
        buffer.append(payload, created_ms=100 + i)
    uploader.pump()
    assert iot.pending == []  # still backing off

    clock.advance(2.0)
    uploader.pump()
    assert [p for p, _ in iot.pending] == [b"batch-000"]  # probing: one at a time, oldest first
    iot.ack_all()
    uploader.pump()
    while iot.pending:
        iot.ack_all()
        uploader.pump()
    assert iot.delivered == [b"batch-000", b"batch-001", b"batch-002", *fill_more]
    assert buffer.depth().payloads == 0


def test_disconnected_ipc_counts_as_failure_and_keeps_payloads(setup) -> None:
    buffer, iot, uploader, clock, health = setup
    iot.connected = False
    fill(buffer, 2)
    uploader.pump()
    assert health.counts().iot_publish_failures == 1
    assert buffer.depth().payloads == 2
    iot.connected = True
    clock.advance(2.0)
    uploader.pump()
    iot.ack_all()
    uploader.pump()
    iot.ack_all()
    uploader.pump()
    assert iot.delivered == [b"batch-000", b"batch-001"]


def test_idle_uploader_waits_long_and_a_busy_one_rechecks_every_second(setup) -> None:
    # Issue 15: an idle step must not query the buffer every second; new work arrives through wake().
    buffer, iot, uploader, _, _ = setup
    assert uploader.pump() == IDLE_WAIT_SECONDS
    fill(buffer, 2)
    assert uploader.pump() == 1.0  # in flight: timeouts are checked every second
    iot.ack_all()
    assert uploader.pump() == IDLE_WAIT_SECONDS  # all delivered and deleted: idle again
    fill(buffer, 1)
    iot.connected = False
    assert uploader.pump() == 1.0  # failed: probing, with a retry due within the backoff
