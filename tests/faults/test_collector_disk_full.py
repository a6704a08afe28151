"""A full disk loses no sample: the real collector on the local runtime, its work folder on a small
tmpfs mounted by the test, keeps the batches its buffer cannot store in memory (bounded) and stores
them once space is back; when IoT Core is reachable again every sample arrives exactly once, in order.

Needs root (mount); skipped with the reason where mounting is impossible.
"""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from edgewatch.local.testing import wait_until
from tests.metrics_collector.runtime_helpers import (
    FAST,
    TopicRecorder,
    collector_log,
    iot_sample_times,
    start_collector,
    start_runtime,
    stop_collector,
)

TMPFS_SIZE = "4m"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE},mode=0700", "tmpfs", str(mount_point)],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {result.stderr.strip() or result.returncode}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], capture_output=True, timeout=30, check=False)


def fill(folder: Path) -> Path:
    """Write a file until the file system answers ENOSPC even for one byte; returns it."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (65536, 4096, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError as err:
                assert err.errno == errno.ENOSPC, err
    finally:
        os.close(fd)
    return filler


def test_full_disk_loses_nothing_and_repeats_nothing(small_disk: Path, tmp_path: Path) -> None:
    runtime = start_runtime(tmp_path / "rt", FAST)
    logs = tmp_path / "logs"
    try:
        runtime.call(setattr, runtime.services.iot_core, "fail_publishes", "link down")
        metrics = TopicRecorder(runtime, "edgewatch/metrics")
        health = TopicRecorder(runtime, "edgewatch/health")
        collector = start_collector(runtime, small_disk, log_dir=logs)
        try:
            health.wait_for(lambda m: m["counters"]["buffer_depth"] >= 2, what="batches stored while offline")
            filler = fill(small_disk)
            held = health.wait_for(lambda m: m["counters"]["pending_payloads"] >= 3, timeout=60,
                                   what="batches held in memory on the full disk")  # fmt: skip
            assert held["status"] == "degraded"
            assert any("held in memory" in r for r in held["reasons"])
            assert held["counters"]["dropped_batches_total"] == 0
            assert "offline buffer cannot store payloads" in collector_log(logs)

            filler.unlink()
            seen = len(health.messages())
            health.wait_for(lambda m: m["counters"]["pending_payloads"] == 0, since=seen, timeout=30,
                            what="the held batches stored after space came back")  # fmt: skip
            runtime.call(setattr, runtime.services.iot_core, "fail_publishes", None)
            cutoff = metrics.messages()[-1]["ts"]
            wait_until(lambda: iot_sample_times(runtime) and iot_sample_times(runtime)[-1] >= cutoff, timeout=90,
                       what="IoT Core to catch up with the samples taken")  # fmt: skip
        finally:
            assert stop_collector(collector) == 0
        taken = [m["ts"] for m in metrics.messages()]
        delivered = iot_sample_times(runtime)
        assert delivered == sorted(set(delivered)), "a sample was repeated or reordered"
        # Every sample taken, up to the last one delivered, reached IoT Core (exactly once, in order).
        assert delivered == [ts for ts in taken if ts <= delivered[-1]]
        assert len(delivered) >= 20
        assert health.messages()[-1]["counters"]["dropped_batches_total"] == 0
    finally:
        runtime.stop()


def test_collector_started_on_a_full_disk_runs_and_catches_up(small_disk: Path, tmp_path: Path) -> None:
    runtime = start_runtime(tmp_path / "rt", FAST)
    logs = tmp_path / "logs"
    try:
        metrics = TopicRecorder(runtime, "edgewatch/metrics")
        health = TopicRecorder(runtime, "edgewatch/health")
        runtime.call(setattr, runtime.services.iot_core, "fail_publishes", "link down")
        filler = fill(small_disk)  # nothing of the collector's exists yet: not even its database
        collector = start_collector(runtime, small_disk, log_dir=logs)
        try:
            held = health.wait_for(lambda m: m["counters"]["pending_payloads"] >= 2, timeout=60,
                                   what="batches held in memory: the buffer cannot be created")  # fmt: skip
            assert any("held in memory" in r for r in held["reasons"])
            assert collector.poll() is None
            filler.unlink()
            runtime.call(setattr, runtime.services.iot_core, "fail_publishes", None)
            cutoff = metrics.messages()[-1]["ts"]
            wait_until(lambda: iot_sample_times(runtime) and iot_sample_times(runtime)[-1] >= cutoff, timeout=60,
                       what="IoT Core to receive the samples taken on the full disk")  # fmt: skip
        finally:
            assert stop_collector(collector) == 0
        delivered = iot_sample_times(runtime)
        assert delivered == sorted(set(delivered))
        assert delivered == [m["ts"] for m in metrics.messages() if m["ts"] <= delivered[-1]]
        assert "cannot be opened" in collector_log(logs) and "they are lost" not in collector_log(logs)
        assert list(small_disk.glob("*.corrupt-*")) == []  # a failed creation is not corruption
    finally:
        runtime.stop()


def test_disk_that_stays_full_still_delivers_from_memory(small_disk: Path, tmp_path: Path) -> None:
    runtime = start_runtime(tmp_path / "rt", FAST)
    logs = tmp_path / "logs"
    try:
        metrics = TopicRecorder(runtime, "edgewatch/metrics")
        collector = start_collector(runtime, small_disk, log_dir=logs)
        try:
            wait_until(lambda: len(iot_sample_times(runtime)) >= 5, timeout=30, what="samples in IoT Core")
            fill(small_disk)
            full_since = metrics.messages()[-1]["ts"]
            wait_until(lambda: "offline buffer cannot store payloads" in collector_log(logs), timeout=30,
                       what="appends failing on the full disk")  # fmt: skip
            # Samples keep flowing to IoT Core although nothing can be stored.
            wait_until(lambda: iot_sample_times(runtime)[-1] >= full_since + 3000, timeout=60,
                       what="samples taken on the full disk in IoT Core")  # fmt: skip
            assert collector.poll() is None
        finally:
            assert stop_collector(collector) == 0
        delivered = iot_sample_times(runtime)
        assert delivered == sorted(set(delivered)), "a sample was repeated or reordered"
        assert delivered == [m["ts"] for m in metrics.messages() if m["ts"] <= delivered[-1]]
    finally:
        runtime.stop()
