"""A stored configuration the collector cannot use does not brick it: the real collector on the local
runtime starts on its last good configuration (or on defaults), says which and why in its log and
health, and a corrective update later makes it healthy again."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from edgewatch.local.testing import wait_until
from edgewatch_shared import health_message
from tests.metrics_collector.runtime_helpers import (
    FAST,
    NAME,
    TopicRecorder,
    collector_log,
    start_collector,
    start_runtime,
    stop_collector,
)

HUGE = 10**400  # float(HUGE) raises OverflowError: the validator once crashed on it instead of answering


def test_unusable_stored_configuration_without_last_good_runs_on_defaults(tmp_path: Path) -> None:
    runtime = start_runtime(tmp_path / "rt", {**FAST, "sampleIntervalSeconds": HUGE})
    work = tmp_path / "work"
    try:
        health = TopicRecorder(runtime, "edgewatch/health")
        metrics = TopicRecorder(runtime, "edgewatch/metrics")
        collector = start_collector(runtime, work)
        try:
            doc = health.wait_for(lambda m: True, what="a health document")
            message = health_message.from_dict(doc)
            assert message.status == "degraded"
            assert message.interval_seconds == 30  # the default: the stored 1 s came with the bad key
            assert message.reasons[0] == (
                "running on the default configuration: stored configuration unusable "
                "(sampleIntervalSeconds: must be a finite number, got an integer of about 400 digits)"
            )
            metrics.wait_for(lambda m: m["thing"] == "test-thing", what="a sample on the default configuration")
            assert collector.poll() is None, "the collector stopped"
            log = collector_log(work)
            assert "running on the default configuration: stored configuration unusable (sampleIntervalSeconds" in log
            # The validator still answers this value, with the key, instead of crashing.
            result = runtime.run(runtime.services.configuration.validate(NAME, {"sampleIntervalSeconds": HUGE}, "d1"))
            assert result.answered and not result.accepted and result.message.startswith("sampleIntervalSeconds: ")
        finally:
            assert stop_collector(collector) == 0
    finally:
        runtime.stop()


def test_unusable_stored_configuration_falls_back_to_the_last_good_until_corrected(tmp_path: Path) -> None:
    runtime = start_runtime(tmp_path / "rt", FAST)
    work = tmp_path / "work"
    try:
        health = TopicRecorder(runtime, "edgewatch/health")
        metrics = TopicRecorder(runtime, "edgewatch/metrics")
        collector = start_collector(runtime, work)
        try:
            health.wait_for(lambda m: m["status"] == "healthy", what="a healthy collector")
        finally:
            assert stop_collector(collector) == 0
        last_good = work / "last-good-config.json"
        assert json.loads(last_good.read_text())["sampleIntervalSeconds"] == 0.2
        assert "accessControl" not in json.loads(last_good.read_text())
        assert stat.S_IMODE(last_good.stat().st_mode) == 0o600

        # The stored configuration goes bad while the collector is down (e.g. a deployment that
        # passed before validation was total), then the collector starts again.
        runtime.call(runtime.services.configuration.merge, NAME, (), {"iotPublishMode": ["raw"], "topProcesses": HUGE})
        seen = len(health.messages())
        collector = start_collector(runtime, work)
        try:
            doc = health.wait_for(lambda m: True, since=seen, what="health after the restart")
            assert doc["status"] == "degraded"
            assert doc["reasons"][0].startswith(
                "running on the last good configuration: stored configuration unusable "
                "(iotPublishMode: must be a string"
            )
            # It really runs on the last good configuration: samples every 0.2 s, not every 10 s.
            before = len(metrics.messages())
            wait_until(lambda: len(metrics.messages()) >= before + 5, timeout=10, what="samples at the last good rate")
            assert "running on the last good configuration" in collector_log(work)

            # A corrective live update: healthy again, no restart.
            runtime.call(runtime.services.configuration.merge, NAME, (), {"iotPublishMode": "raw", "topProcesses": 0})
            health.wait_for(lambda m: m["status"] == "healthy", since=seen, what="healthy after the corrective update")
            assert collector.poll() is None
        finally:
            assert stop_collector(collector) == 0
    finally:
        runtime.stop()
