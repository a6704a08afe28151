"""The sampling loop with an injected clock, a fake source, a real buffer and a fake local bus."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from metrics_collector.config import parse_config
from metrics_collector.config_updates import ConfigInbox
from metrics_collector.health import CollectorHealth
from metrics_collector.offline_buffer import OfflineBuffer
from metrics_collector.sampler import Sampler
from metrics_collector.service import CollectorService

from tests.metrics_collector.fakes import FakeClock, FakeSource


class FakeBus:
    def __init__(self) -> None:
        self.messages: list[tuple[str, dict[str, Any]]] = []
        self.formats: list[str] = []
        self.down = False

    def publish_local(self, topic: str, message: dict[str, Any]) -> None:
        if self.down:
            raise ConnectionError("no IPC")
        self.messages.append((topic, message))
        self.formats.append("json")

    def publish_local_bytes(self, topic: str, payload: bytes) -> None:
        self.publish_local(topic, json.loads(payload))
        self.formats[-1] = "binary"


class FakeUploader:
    def __init__(self) -> None:
        self.topic = ""
        self.wakes = 0

    def set_topic(self, topic: str) -> None:
        self.topic = topic

    def wake(self) -> None:
        self.wakes += 1


def make(tmp_path: Path, raw: dict[str, Any]) -> tuple[CollectorService, FakeBus, OfflineBuffer, FakeClock, Any]:
    clock, bus, health, inbox, uploader = FakeClock(), FakeBus(), CollectorHealth(), ConfigInbox(), FakeUploader()
    buffer = OfflineBuffer(tmp_path / "b.sqlite", 1_000_000)
    service = CollectorService(
        config=parse_config(raw), thing="gw", sampler=Sampler(FakeSource(), "gw", health), local=bus,
        buffer=buffer, uploader=uploader, health=health, inbox=inbox, clock=clock, wall_clock=clock,
    )  # fmt: skip
    return service, bus, buffer, clock, (inbox, uploader, health)


def test_every_tick_publishes_locally_and_a_batch_is_buffered_each_publish_interval(tmp_path: Path) -> None:
    service, bus, buffer, clock, (_, uploader, _) = make(
        tmp_path, {"sampleIntervalSeconds": 1, "iotPublishIntervalSeconds": 5}
    )
    for _ in range(11):  # t = 0 .. 10 s
        service.tick()
        clock.advance(1.0)
    assert len(bus.messages) == 11
    assert {topic for topic, _ in bus.messages} == {"edgewatch/metrics"}
    payloads = [json.loads(p.payload) for p in buffer.oldest(10)]
    assert [p["sampleCount"] for p in payloads] == [6, 5]  # ticks at t=0..5 then 6..10
    assert uploader.wakes == 2


def test_live_config_applies_between_ticks(tmp_path: Path) -> None:
    service, bus, _, _, (inbox, uploader, _) = make(tmp_path, {})
    assert inbox.offer({"localTopic": "site/metrics", "iotTopic": "dt/x/{iot:thingName}/m"}) is None
    service.tick()
    assert bus.messages[-1][0] == "site/metrics"
    assert uploader.topic == "dt/x/gw/m"
    assert inbox.offer({"sampleIntervalSeconds": -5}) == "sampleIntervalSeconds: must not be negative, got -5"
    service.tick()
    assert service.config.local_topic == "site/metrics"  # the rejected update changed nothing
    assert service.config.sample_interval == 10.0


def test_local_publish_failure_is_counted_and_the_batch_still_kept(tmp_path: Path) -> None:
    service, bus, buffer, _, (_, _, health) = make(tmp_path, {"iotPublishIntervalSeconds": 10})
    bus.down = True
    service.tick()
    assert health.counts().local_publish_failures == 1
    assert service.flush_batch() == 1
    assert buffer.depth().payloads == 1
