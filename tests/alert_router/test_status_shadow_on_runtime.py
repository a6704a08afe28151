"""The status shadow end to end: `python -m alert_router` on the local runtime (real IPC client, the
recipe's access control), read back from the runtime's IoT Core log."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edgewatch.local.testing import ComponentSpec, ThreadedIpcRuntime, stop_process, wait_until
from edgewatch_shared import health_message
from tests.alert_router.test_on_local_runtime import NAME, RULE, THING, cpu, publish, recipe_defaults, start_router

SHADOW_TOPIC = f"$aws/things/{THING}/shadow/name/edgewatch/update"


def router_config() -> dict[str, Any]:
    return {
        "rules": [RULE],
        "route": {"receiver": "default", "groupWait": 0, "groupInterval": "1s", "repeatInterval": "1h"},
        "receivers": [{"name": "default", "log": {}}],
        "evaluationIntervalSeconds": 0.1, "healthIntervalSeconds": 1,
        "statusShadow": {"minIntervalSeconds": 1, "maxIntervalSeconds": 3600},
    }  # fmt: skip


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[ThreadedIpcRuntime]:
    defaults = recipe_defaults()
    components = {
        NAME: ComponentSpec(access_control=defaults["accessControl"], configuration={**defaults, **router_config()}),
        "test.Peer": ComponentSpec(
            access_control={"aws.greengrass.ipc.pubsub": {"p": {"operations": ["*"], "resources": ["*"]}}}
        ),
    }
    rt = ThreadedIpcRuntime(tmp_path / "runtime", components, thing_name=THING).start()
    yield rt
    rt.stop()


def shadow_updates(runtime: ThreadedIpcRuntime) -> list[dict[str, Any]]:
    return [json.loads(r["payload"])["state"]["reported"] for r in runtime.services.iot_core.log.read()
            if r["topic"] == SHADOW_TOPIC]  # fmt: skip


def collector_health() -> dict[str, Any]:
    return health_message.build(component="com.edgewatch.MetricsCollector", thing=THING,
                                ts_ms=int(time.time() * 1000), interval_seconds=30,
                                counters={"buffer_depth": 2}, version="0.1.0").to_dict()  # fmt: skip


@pytest.mark.timeout(90)
def test_the_shadow_is_updated_when_an_alert_fires_and_not_while_nothing_changes(
    runtime: ThreadedIpcRuntime, tmp_path: Path
) -> None:
    peer = runtime.client("test.Peer")
    router_health: list[dict[str, Any]] = []

    def on_health(event: Any) -> None:
        doc = event.json_message.message
        if doc.get("component") == NAME:
            router_health.append(doc)

    peer.subscribe_to_topic(topic="edgewatch/health", on_stream_event=on_health)
    router = start_router(runtime, tmp_path / "work")
    try:
        # The collector's health brings its version and buffer depth into the shadow.
        first = wait_until(
            lambda: (publish(peer, collector_health(), "edgewatch/health"),
                     [u for u in shadow_updates(runtime) if "MetricsCollector" in u["versions"]])[1],
            timeout=30, interval=0.3, what="a shadow update with the collector's version",
        )[0]  # fmt: skip
        assert first["schema"] == "edgewatch.status/1" and first["versions"]["MetricsCollector"] == "0.1.0"
        assert first["outboxDepths"] == {"AlertRouter": 0, "MetricsCollector": 2}
        assert first["firingAlerts"] == {"total": 0, "critical": 0, "warning": 0}

        # Samples below the threshold: only their time moves, so the shadow is not sent again.
        before = len(shadow_updates(runtime))
        for _ in range(5):
            publish(peer, cpu(10))
        last_sent = time.time()
        # Quiet until the router has evaluated them all and several shadow checks (1 s) have passed.
        wait_until(lambda: any(h["counters"]["samples_total"] >= 5 and h["ts"] / 1000 > last_sent + 3
                               for h in router_health), timeout=30, what="router health after the samples")  # fmt: skip
        assert len(shadow_updates(runtime)) == before, "a shadow update without a change"

        # An alert fires: the shadow says so, with the sample time of the alerting message.
        publish(peer, cpu(97))
        fired = wait_until(lambda: [u for u in shadow_updates(runtime) if u["firingAlerts"]["total"] == 1],
                           timeout=30, what="a shadow update with the firing alert")[0]  # fmt: skip
        assert fired["firingAlerts"] == {"total": 1, "critical": 0, "warning": 1}
        assert fired["lastSampleTs"] is not None and fired["lastSampleTs"] >= int(last_sent * 1000) - 1000
    finally:
        stop_process(router)
