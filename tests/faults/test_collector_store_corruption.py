"""A corrupt offline buffer does not brick the collector: the real collector on the local runtime
moves it aside as `metrics-buffer.sqlite.corrupt-<ts>` (kept), starts with an empty buffer, says so
in its log and health, and keeps publishing samples locally and to IoT Core."""

from __future__ import annotations

import json
import random
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from edgewatch.local.testing import wait_until
from tests.metrics_collector.runtime_helpers import (
    FAST,
    TopicRecorder,
    collector_log,
    iot_batches,
    start_collector,
    start_runtime,
    stop_collector,
)

BUFFER = "metrics-buffer.sqlite"


def planted_buffer(path: Path) -> None:
    """A sound buffer with 300 payloads, all in the main file (checkpointed), like one after an outage."""
    # Imported here: runtime_helpers (imported above) puts the component's source on the path.
    from metrics_collector.offline_buffer import OfflineBuffer

    buffer = OfflineBuffer(path, 50_000_000)
    for i in range(300):
        buffer.append(json.dumps({"planted": i, "pad": "x" * 2000}).encode(), i)
    buffer.close()
    db = sqlite3.connect(str(path))
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    for suffix in ("-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)


def random_header(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[:100] = random.Random(1).randbytes(100)
    path.write_bytes(bytes(data))


def truncated(path: Path) -> None:
    size = path.stat().st_size
    with path.open("r+b") as f:
        f.truncate(size // 2 + 123)


def random_inner_pages(path: Path) -> None:
    rng = random.Random(2)
    with path.open("r+b") as f:
        for page in (2, 3, 40, 80, 120):
            f.seek(page * 4096)
            f.write(rng.randbytes(4096))


def zero_bytes(path: Path) -> None:
    path.write_bytes(b"")


CORRUPTIONS: dict[str, Callable[[Path], None]] = {
    "random-header": random_header,
    "truncated": truncated,
    "random-inner-pages": random_inner_pages,
    "zero-bytes": zero_bytes,
}


@pytest.mark.parametrize("kind", list(CORRUPTIONS))
def test_corrupt_buffer_is_quarantined_and_the_collector_keeps_publishing(tmp_path: Path, kind: str) -> None:
    work = tmp_path / "work"
    work.mkdir()
    path = work / BUFFER
    planted_buffer(path)
    CORRUPTIONS[kind](path)
    damaged = path.read_bytes()

    runtime = start_runtime(tmp_path / "rt", FAST)
    try:
        health = TopicRecorder(runtime, "edgewatch/health")
        collector = start_collector(runtime, work)
        try:
            doc = health.wait_for(lambda m: True, what="a health document")
            assert doc["status"] == "degraded"
            assert any(r.startswith("offline buffer was corrupt (") and "moved aside to metrics-buffer.sqlite.corrupt-"
                       in r for r in doc["reasons"]), doc["reasons"]  # fmt: skip
            assert doc["counters"]["store_quarantines_total"] == 1
            # Samples still reach IoT Core, from the fresh buffer (nothing planted comes back).
            wait_until(lambda: len(iot_batches(runtime)) >= 2, timeout=30, what="batches in IoT Core")
            assert all("planted" not in b for b in iot_batches(runtime))
            assert collector.poll() is None, "the collector stopped"
        finally:
            assert stop_collector(collector) == 0
    finally:
        runtime.stop()
    [kept] = list(work.glob(f"{BUFFER}.corrupt-*"))
    assert kept.read_bytes() == damaged  # moved aside intact, never deleted
    assert "is corrupt" in collector_log(work) and "starting with an empty store" in collector_log(work)
