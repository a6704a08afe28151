"""Helpers for tests that run the real collector (`python -m metrics_collector`) on the local runtime.

Used by tests/metrics_collector and tests/faults: a runtime with the collector's recipe grants and a
listener component, a recorder of a local topic, the IoT Core log, and process start/stop.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from edgewatch.local.testing import (
    ComponentSpec,
    ThreadedIpcRuntime,
    start_component_process,
    stop_process,
    wait_until,
)
from edgewatch_testkit.pubsub import event_document

NAME = "com.edgewatch.MetricsCollector"
LISTENER = "test.Listener"
ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "recipes" / f"{NAME}.yaml"
COMPONENT_SRC = ROOT / "components" / "metrics-collector" / "src"
THING = "test-thing"
IOT_TOPIC = f"dt/edgewatch/{THING}/metrics"
FAST = {"sampleIntervalSeconds": 0.2, "iotPublishIntervalSeconds": 1, "iotPublishMode": "raw",
        "healthIntervalSeconds": 1}  # fmt: skip

if str(COMPONENT_SRC) not in sys.path:  # tests/faults has no conftest putting it there
    sys.path.insert(0, str(COMPONENT_SRC))


def recipe_defaults() -> dict[str, Any]:
    return yaml.safe_load(RECIPE.read_text())["ComponentConfiguration"]["DefaultConfiguration"]


def start_runtime(
    root: Path, config: dict[str, Any], *, socket_path: str | None = None, svcuid: str | None = None
) -> ThreadedIpcRuntime:
    """A runtime holding the collector (recipe access control, `config` over the recipe defaults) and a listener."""
    defaults = recipe_defaults()
    components = {
        NAME: ComponentSpec(
            access_control=defaults["accessControl"], configuration={**defaults, **config}, svcuid=svcuid
        ),
        LISTENER: ComponentSpec(
            access_control={"aws.greengrass.ipc.pubsub": {"p": {"operations": ["*"], "resources": ["*"]}}}
        ),
    }
    return ThreadedIpcRuntime(root, components, thing_name=THING, socket_path=socket_path).start()


class TopicRecorder:
    """Every message (JSON, or JSON in a binary message) on a local topic, as the listener
    component receives it (thread-safe)."""

    def __init__(self, runtime: ThreadedIpcRuntime, topic: str) -> None:
        self._lock = threading.Lock()
        self._messages: list[dict[str, Any]] = []
        runtime.client(LISTENER).subscribe_to_topic(topic=topic, on_stream_event=self._on_event)

    def _on_event(self, event: Any) -> None:
        with self._lock:
            self._messages.append(event_document(event))

    def messages(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._messages)

    def wait_for(
        self, predicate: Callable[[dict[str, Any]], bool], *, since: int = 0, timeout: float = 30.0, what: str = ""
    ) -> dict[str, Any]:
        """The newest message (among those from index `since` on) that satisfies `predicate`."""

        def found() -> dict[str, Any] | None:
            return next((m for m in reversed(self.messages()[since:]) if predicate(m)), None)

        return wait_until(found, timeout=timeout, what=what or "a matching message")


def iot_batches(runtime: ThreadedIpcRuntime) -> list[dict[str, Any]]:
    return [json.loads(r["payload"]) for r in runtime.services.iot_core.log.read() if r["topic"] == IOT_TOPIC]


def iot_sample_times(runtime: ThreadedIpcRuntime) -> list[int]:
    return [s["ts"] for b in iot_batches(runtime) for s in b.get("samples", [])]


def start_collector(
    runtime: ThreadedIpcRuntime, work: Path, *, log_dir: Path | None = None, svcuid: str | None = None
) -> subprocess.Popen[bytes]:
    """The collector as the nucleus runs it; its log goes to `<log_dir or work>/metrics_collector.log`."""
    return start_component_process(
        runtime.socket_path, svcuid or runtime.svcuid(NAME), THING, "metrics_collector", [COMPONENT_SRC, ROOT / "src"],
        log_dir or work, extra_env={"EDGEWATCH_WORK_PATH": str(work)},
    )  # fmt: skip


def collector_log(folder: Path) -> str:
    path = folder / "metrics_collector.log"
    return path.read_text(errors="replace") if path.exists() else ""


def stop_collector(process: subprocess.Popen[bytes], timeout: float = 15.0) -> int | None:
    """SIGTERM, then SIGKILL if it does not stop in time; returns the exit status."""
    return stop_process(process, timeout=timeout)
