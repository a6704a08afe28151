"""The collector against the local runtime's IPC server, with the real GreengrassCoreIPCClientV2.

In-process: the collector's own classes wired as in `__main__` but pointed at the test runtime.
Subprocess: `python -m metrics_collector` itself, killed with SIGKILL during an IoT Core outage.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from awsiot.greengrasscoreipc import connect
from awsiot.greengrasscoreipc.clientv2 import GreengrassCoreIPCClientV2
from metrics_collector.config import parse_config, validity_reason
from metrics_collector.config_updates import ConfigInbox
from metrics_collector.health import CollectorHealth
from metrics_collector.ipc_adapter import CollectorIpc
from metrics_collector.offline_buffer import OfflineBuffer
from metrics_collector.sampler import Sampler
from metrics_collector.scheduler import schedule_clock
from metrics_collector.service import CollectorService
from metrics_collector.system_source import PsutilSource
from metrics_collector.uploader import IotUploader

from edgewatch.local.testing import ComponentSpec, ThreadedIpcRuntime, start_component_process, wait_until
from edgewatch_shared.ipc_connection import IpcClientConnection
from edgewatch_shared.metrics_message import from_dict
from edgewatch_testkit.pubsub import event_document, event_format

NAME = "com.edgewatch.MetricsCollector"
ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "recipes" / f"{NAME}.yaml"
COMPONENT_SRC = ROOT / "components" / "metrics-collector" / "src"
THING = "test-thing"
FAST = {"sampleIntervalSeconds": 0.2, "iotPublishIntervalSeconds": 1, "iotPublishMode": "raw"}


def recipe_defaults() -> dict[str, Any]:
    return yaml.safe_load(RECIPE.read_text())["ComponentConfiguration"]["DefaultConfiguration"]


def start_runtime(root: Path, config: dict[str, Any]) -> ThreadedIpcRuntime:
    defaults = recipe_defaults()
    components = {
        NAME: ComponentSpec(access_control=defaults["accessControl"], configuration={**defaults, **config}),
        "test.Listener": ComponentSpec(
            access_control={"aws.greengrass.ipc.pubsub": {"p": {"operations": ["*"], "resources": ["*"]}}}
        ),
    }
    return ThreadedIpcRuntime(root, components, thing_name=THING).start()


def iot_batches(runtime: ThreadedIpcRuntime) -> list[dict[str, Any]]:
    return [
        json.loads(r["payload"])
        for r in runtime.services.iot_core.log.read()
        if r["topic"] == f"dt/edgewatch/{THING}/metrics"
    ]


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[ThreadedIpcRuntime]:
    rt = start_runtime(tmp_path / "runtime", FAST)
    yield rt
    rt.stop()


def test_samples_reach_local_topic_and_iot_core_and_config_is_live(
    runtime: ThreadedIpcRuntime, tmp_path: Path
) -> None:
    received: list[dict[str, Any]] = []
    formats: list[str] = []

    def on_event(event: Any) -> None:
        received.append(event_document(event))
        formats.append(event_format(event))

    listener = runtime.client("test.Listener")
    listener.subscribe_to_topic(topic="edgewatch/metrics", on_stream_event=on_event)

    def connection(on_connected: Any) -> IpcClientConnection:
        return IpcClientConnection(
            on_connected=on_connected,
            client_factory=lambda handler: GreengrassCoreIPCClientV2(
                client=connect(ipc_socket=runtime.socket_path, authtoken=runtime.svcuid(NAME),
                               lifecycle_handler=handler)
            ),
        )  # fmt: skip

    ipc = CollectorIpc(connection_factory=connection)
    inbox = ConfigInbox()
    ipc.watch_configuration(on_changed=lambda: inbox.offer(ipc.get_configuration()), validate=validity_reason)
    config = parse_config(ipc.get_configuration())
    assert config.sample_interval == 0.2
    health = CollectorHealth()
    source = PsutilSource()
    source.prime()
    buffer = OfflineBuffer(tmp_path / "work" / "buffer.sqlite", config.buffer_max_bytes)
    uploader = IotUploader(buffer, ipc.publish_iot_core, health, config.iot_topic(THING))
    service = CollectorService(
        config=config, thing=THING, sampler=Sampler(source, THING, health), local=ipc, buffer=buffer,
        uploader=uploader, health=health, inbox=inbox, clock=schedule_clock, wall_clock=time.time,
    )  # fmt: skip
    stop = threading.Event()
    threads = [threading.Thread(target=uploader.run, args=(stop,)), threading.Thread(target=service.run, args=(stop,))]
    for thread in threads:
        thread.start()
    try:
        wait_until(lambda: len(received) >= 3, what="samples on the local topic")
        message = from_dict(received[0])
        assert message.thing == THING
        assert "cpu.percent" in {m.name for m in message.metrics}

        batches = wait_until(lambda: iot_batches(runtime), what="a batch in the IoT Core log")
        assert batches[0]["mode"] == "raw" and batches[0]["thing"] == THING
        assert batches[0]["samples"][0]["metrics"]

        assert set(formats) == {"binary"}  # JSON text in a binary message by default

        # A live change through the runtime's configuration store, no restart.
        runtime.call(runtime.services.configuration.merge, NAME, (), {"sampleIntervalSeconds": "0.5"})
        wait_until(lambda: service.config.sample_interval == 0.5, what="the new interval to apply")
        runtime.call(runtime.services.configuration.merge, NAME, (), {"localMessageFormat": "json"})
        wait_until(lambda: formats[-1] == "json", what="samples as JSON messages after the change")
        assert from_dict(received[-1]).thing == THING

        # A bad deployment is rejected with a reason naming the key.
        result = runtime.run(
            runtime.services.configuration.validate(NAME, {**FAST, "sampleIntervalSeconds": -1}, "dep-bad")
        )
        assert result.answered and not result.accepted
        assert "sampleIntervalSeconds" in result.message
        good = runtime.run(runtime.services.configuration.validate(NAME, FAST, "dep-good"))
        assert good.answered and good.accepted
    finally:
        stop.set()
        uploader.wake()
        for thread in threads:
            thread.join(timeout=10)
        ipc.close()
        buffer.close()


def buffered(db: Path) -> int:
    """Payloads in the collector's outbox; 0 until the collector has created it."""
    if not db.exists():
        return 0
    conn = sqlite3.connect(str(db))
    try:
        return conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
    except sqlite3.OperationalError:  # the file exists but its tables are not created yet
        return 0
    finally:
        conn.close()


def start_collector(runtime: ThreadedIpcRuntime, work: Path) -> subprocess.Popen[bytes]:
    return start_component_process(runtime.socket_path, runtime.svcuid(NAME), THING, "metrics_collector",
                                   [COMPONENT_SRC, ROOT / "src"], work)


def test_outage_is_buffered_survives_kill_9_and_is_replayed_in_order(
    runtime: ThreadedIpcRuntime, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    db = work / "metrics-buffer.sqlite"
    runtime.call(setattr, runtime.services.iot_core, "fail_publishes", "link down")
    collector = start_collector(runtime, work)
    try:
        wait_until(lambda: buffered(db) >= 3, timeout=30, what="batches buffered during the outage")
    finally:
        collector.send_signal(signal.SIGKILL)
        collector.wait(timeout=10)
    kept = buffered(db)
    assert kept >= 3
    assert iot_batches(runtime) == []

    runtime.call(setattr, runtime.services.iot_core, "fail_publishes", None)
    collector = start_collector(runtime, work)
    try:
        wait_until(lambda: len(iot_batches(runtime)) >= kept + 1, timeout=30, what="the replay")
    finally:
        collector.send_signal(signal.SIGTERM)
        collector.wait(timeout=15)
    starts = [b["from"] for b in iot_batches(runtime)]
    assert starts == sorted(starts), "replayed out of order"
    assert len(set(starts)) == len(starts), "a batch was published twice"
    assert collector.returncode == 0


def test_health_documents_arrive_on_the_health_topic(tmp_path: Path) -> None:
    import itertools

    from edgewatch_shared import health_message
    from tests.metrics_collector.runtime_helpers import FAST as FAST_HEALTH
    from tests.metrics_collector.runtime_helpers import TopicRecorder, stop_collector
    from tests.metrics_collector.runtime_helpers import start_collector as start_real_collector
    from tests.metrics_collector.runtime_helpers import start_runtime as start_collector_runtime

    runtime = start_collector_runtime(tmp_path / "rt", FAST_HEALTH)
    try:
        health = TopicRecorder(runtime, "edgewatch/health")
        collector = start_real_collector(runtime, tmp_path / "work")
        try:
            wait_until(lambda: len(health.messages()) >= 3, timeout=20, what="three health documents")
            docs = [health_message.from_dict(m) for m in health.messages()]
            assert {(d.component, d.thing, d.interval_seconds) for d in docs} == {(NAME, THING, 1.0)}
            assert docs[-1].status == "healthy" and docs[-1].reasons == ()
            assert docs[-1].counters["samples_taken_total"] >= docs[0].counters["samples_taken_total"] + 5
            gaps = [b.ts - a.ts for a, b in itertools.pairwise(docs)]
            assert all(500 <= gap <= 2500 for gap in gaps), gaps  # one per healthIntervalSeconds (a loaded CI)
        finally:
            assert stop_collector(collector) == 0
    finally:
        runtime.stop()
