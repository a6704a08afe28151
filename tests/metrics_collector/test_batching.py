from __future__ import annotations

import json

from metrics_collector.batching import RawBatcher, SummaryBatcher, summarize
from metrics_collector.config import MAX_IOT_PAYLOAD_BYTES
from metrics_collector.payload_split import split_batch

from edgewatch_shared.metrics_message import Metric, MetricsMessage


def message(ts: int, cpu: float, extra: int = 0) -> MetricsMessage:
    metrics = [Metric("cpu.percent", cpu, "%", {"cpu": "total"})]
    metrics += [Metric("disk.used", float(i), "B", {"mount": f"/mnt/disk{i:04d}"}) for i in range(extra)]
    return MetricsMessage(thing="gw-01", ts=ts, metrics=tuple(metrics))


def test_summary_has_min_max_avg_last_count() -> None:
    batch = summarize([message(1_000, 10.0), message(2_000, 30.0), message(3_000, 20.0)], "gw-01")
    assert batch is not None
    assert batch.header["mode"] == "summary"
    assert (batch.header["from"], batch.header["to"], batch.header["sampleCount"]) == (1_000, 3_000, 3)
    [cpu] = batch.items
    assert cpu == {
        "name": "cpu.percent", "unit": "%", "labels": {"cpu": "total"},
        "min": 10.0, "max": 30.0, "avg": 20.0, "last": 20.0, "count": 3,
    }  # fmt: skip


def test_raw_batch_keeps_every_sample_and_batchers_reset_after_take() -> None:
    raw = RawBatcher()
    for i in range(3):
        raw.add(message(i * 1_000, float(i)))
    batch = raw.take("gw-01")
    assert batch is not None
    assert [s["ts"] for s in batch.items] == [0, 1_000, 2_000]
    assert batch.items[2]["metrics"][0]["value"] == 2.0
    assert raw.take("gw-01") is None
    assert SummaryBatcher().take("gw-01") is None


def test_split_keeps_each_payload_under_the_limit_and_loses_nothing() -> None:
    raw = RawBatcher()
    for i in range(400):
        raw.add(message(i, float(i), extra=20))
    batch = raw.take("gw-01")
    assert batch is not None
    payloads = split_batch(batch, 120_000)
    assert len(payloads) > 1
    assert all(len(p) <= 120_000 < MAX_IOT_PAYLOAD_BYTES for p in payloads)
    docs = [json.loads(p) for p in payloads]
    assert [d["part"] for d in docs] == list(range(1, len(docs) + 1))
    assert {d["parts"] for d in docs} == {len(docs)}
    assert [s["ts"] for d in docs for s in d["samples"]] == list(range(400))
    assert all(d["schema"] == "edgewatch.metrics-batch/1" and d["from"] == 0 and d["to"] == 399 for d in docs)


def test_small_batch_is_one_payload() -> None:
    batch = summarize([message(1, 1.0)], "gw-01")
    assert batch is not None
    [payload] = split_batch(batch, 120_000)
    doc = json.loads(payload)
    assert (doc["part"], doc["parts"], len(doc["metrics"])) == (1, 1, 1)
