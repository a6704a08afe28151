"""`python -m alert_router` against the local runtime's IPC server (real GreengrassCoreIPCClientV2),
with a real local HTTP server behaving like Slack, the IoT Core loopback log and the local alerts topic.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from edgewatch.local.testing import ComponentSpec, ThreadedIpcRuntime, start_component_process, stop_process, wait_until
from edgewatch_testkit.fake_slack import FakeSlack

NAME = "com.edgewatch.AlertRouter"
ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "recipes" / f"{NAME}.yaml"
THING = "test-thing"
ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:edgewatch/slack-webhook-AbCdEf"
RULE = {"name": "HighCpu", "metric": "cpu.percent", "op": ">", "threshold": 90, "summary": "CPU {value}% on {thing}"}


def recipe_defaults() -> dict[str, Any]:
    return yaml.safe_load(RECIPE.read_text())["ComponentConfiguration"]["DefaultConfiguration"]


def router_config() -> dict[str, Any]:
    return {
        "rules": [RULE],
        "route": {"receiver": "default", "groupWait": 0, "groupInterval": "1s", "repeatInterval": "1h"},
        "receivers": [{"name": "default", "slack": {"webhookUrlSecretArn": ARN, "minIntervalSeconds": 0},
                       "iotCore": {}, "localTopic": {}, "log": {}}],
        "evaluationIntervalSeconds": 0.1, "retryInitialSeconds": 0.1, "retryMaxSeconds": 0.5,
    }  # fmt: skip


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as server:
        yield server


@pytest.fixture
def runtime(tmp_path: Path, fake: FakeSlack) -> Iterator[ThreadedIpcRuntime]:
    secrets = tmp_path / "secrets.json"
    secrets.write_text(json.dumps([{"arn": ARN, "secretString": json.dumps({"webhookUrl": fake.webhook_url})}]))
    secrets.chmod(0o600)
    defaults = recipe_defaults()
    components = {
        NAME: ComponentSpec(access_control=defaults["accessControl"], configuration={**defaults, **router_config()}),
        "test.Peer": ComponentSpec(
            access_control={"aws.greengrass.ipc.pubsub": {"p": {"operations": ["*"], "resources": ["*"]}}}
        ),
    }
    rt = ThreadedIpcRuntime(tmp_path / "runtime", components, thing_name=THING, secrets_file=secrets).start()
    yield rt
    rt.stop()


def start_router(runtime: ThreadedIpcRuntime, work: Path) -> subprocess.Popen[bytes]:
    return start_component_process(runtime.socket_path, runtime.svcuid(NAME), THING, "alert_router",
                                   [ROOT / "components" / "alert-router" / "src", ROOT / "src"], work)



def cpu(value: float, thing: str = THING) -> dict[str, Any]:
    return {"schema": "edgewatch.metrics/1", "thing": thing, "ts": int(time.time() * 1000),
            "metrics": [{"name": "cpu.percent", "value": value, "unit": "%", "labels": {"cpu": "total"}}]}  # fmt: skip


def publish(peer: Any, doc: Any, topic: str = "edgewatch/metrics") -> None:
    from awsiot.greengrasscoreipc import model

    message = model.PublishMessage(json_message=model.JsonMessage(message=doc))
    peer.publish_to_topic(topic=topic, publish_message=message)


def iot_alerts(runtime: ThreadedIpcRuntime) -> list[dict[str, Any]]:
    return [json.loads(r["payload"]) for r in runtime.services.iot_core.log.read()
            if r["topic"] == f"dt/edgewatch/{THING}/alerts"]  # fmt: skip


def pending(db: Path) -> int:
    if not db.exists():
        return 0
    conn = sqlite3.connect(str(db))
    try:
        return conn.execute("SELECT COUNT(*) FROM outbox WHERE integration = 'default/slack'").fetchone()[0]
    except sqlite3.OperationalError:
        return 0
    finally:
        conn.close()


def test_metric_to_slack_iot_core_and_local_topic_and_rejected_config(
    runtime: ThreadedIpcRuntime, fake: FakeSlack, tmp_path: Path
) -> None:
    peer = runtime.client("test.Peer")
    local: list[dict[str, Any]] = []
    peer.subscribe_to_topic(topic="edgewatch/alerts", on_stream_event=lambda e: local.append(e.json_message.message))
    router = start_router(runtime, tmp_path / "work")
    try:
        # The router subscribes once connected: publish until it has evaluated.
        wait_until(lambda: (publish(peer, cpu(97)), fake.delivered())[1], timeout=20, interval=0.2,
                   what="the Slack notification")  # fmt: skip
        body = fake.delivered()[0].body
        assert "HighCpu" in body["text"] and THING in body["text"]
        notification = wait_until(lambda: iot_alerts(runtime), what="the IoT Core notification")[0]
        assert notification["schema"] == "edgewatch.alerts/1" and notification["status"] == "firing"
        assert notification["alerts"][0]["labels"]["alertname"] == "HighCpu"
        wait_until(lambda: local, what="the local alerts topic")
        assert local[0]["id"] == notification["id"]  # the same stable id everywhere

        # A bad live update is rejected with path and reason; the old configuration stays in force.
        bad = {**router_config(), "rules": [{**RULE, "for": "5 minutes"}]}
        result = runtime.run(runtime.services.configuration.validate(NAME, bad, "dep-bad", 10))
        assert result.answered and not result.accepted
        assert result.message.startswith('rules[0].for: "5 minutes" is not a duration')
        unknown = {**router_config(), "rules": [{**RULE, "treshold": 5}]}
        result = runtime.run(runtime.services.configuration.validate(NAME, unknown, "dep-bad-2", 10))
        assert not result.accepted and result.message.startswith("rules[0].treshold: unknown field")
        good = runtime.run(runtime.services.configuration.validate(NAME, router_config(), "dep-good", 10))
        assert good.answered and good.accepted

        # Resolve: the value drops, Slack hears "resolved".
        wait_until(lambda: (publish(peer, cpu(10)), [r for r in fake.delivered() if "resolved" in r.body["text"]])[1],
                   timeout=20, interval=0.2, what="the resolved notification")  # fmt: skip
        # A malformed message is counted and logged, never fatal.
        publish(peer, {"schema": "edgewatch.metrics/1", "thing": THING})
        log_file = tmp_path / "work" / "alert_router.log"
        wait_until(lambda: "malformed metrics message" in log_file.read_text(), what="the malformed message log")
    finally:
        stop_process(router)
    assert router.returncode == 0
    log = (tmp_path / "work" / "alert_router.log").read_text()
    assert "XXXXSECRETXXXX" not in log  # the webhook URL read from SecretManager is never logged


def test_kill_9_with_pending_notifications_then_all_arrive(
    runtime: ThreadedIpcRuntime, fake: FakeSlack, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    db = work / "alert-router.sqlite"
    fake.script(*["500"] * 100_000)  # Slack is down
    peer = runtime.client("test.Peer")
    router = start_router(runtime, work)
    try:
        wait_until(lambda: (publish(peer, cpu(97)), pending(db) >= 1)[1], timeout=20, interval=0.2,
                   what="a notification pending in the outbox")  # fmt: skip
        wait_until(lambda: len(fake.received) >= 2, what="a retry against the dead Slack")
    finally:
        stop_process(router, signal.SIGKILL)
    kept = pending(db)
    assert kept >= 1 and fake.delivered() == []
    conn = sqlite3.connect(str(db))
    pending_ids = {i for (i,) in conn.execute("SELECT notification_id FROM outbox WHERE integration = 'default/slack'")}
    conn.close()

    fake._script.clear()  # Slack is back
    router = start_router(runtime, work)
    try:
        wait_until(lambda: len(fake.delivered()) >= kept, timeout=20, what="the pending notifications after restart")
        wait_until(lambda: pending(db) == 0, what="the outbox to drain")
    finally:
        stop_process(router)
    delivered = {r.body["blocks"][-1]["elements"][0]["text"].split("`")[1] for r in fake.delivered()}
    assert pending_ids <= delivered, "a notification pending at kill -9 was lost"
