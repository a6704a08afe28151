"""Fixtures that run the LocalDashboard as a real component on the local Greengrass runtime.

`dashboard_on_runtime` builds the component with `edgewatch build` (the same zip a device gets,
static assets included once web/build_assets.py exists), starts a `LocalRuntime` and deploys the
dashboard plus a test publisher component through a real deployment, with `EDGEWATCH_PYTHON` set
to this interpreter (so Install skips the venv, as `edgewatch local up --dev-python` does). The
dashboard listens on a free port of 127.0.0.1.

`dashboard_with_router` deploys the real AlertRouter as well (one rule, HighCpu: cpu.percent > 90,
no group wait, 0.2 s evaluation), so a silence created in the page reaches the router.

Both yield a `DashboardHandle`:
    .url          "http://127.0.0.1:<port>" ("https://..." when the config sets tlsCertFile)
    .password     the generated password (read from <work>/dashboard-password)
    .publish(topic, doc)   PublishToTopic as the test publisher component (real IPC client), allowed
                  on edgewatch/metrics, edgewatch/alerts, edgewatch/health, edgewatch/silences
    .subscribe(topic)      a list that fills with the JSON documents published on `topic`
    .root         the runtime root (logs in .root/logs/<ComponentName>.log)
    .log()        the dashboard's component log so far
    .deploy_config(merge)  a configuration-only deployment of the dashboard; returns the record
    .thing        the thing name ("gw-test")
Everything is stopped (no process left) when the test ends.
"""

from __future__ import annotations

import contextlib
import json
import socket
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from edgewatch.build.suite import build_components
from edgewatch.local.deployment_plan import ConfigUpdate
from edgewatch.local.runtime import DeploymentRecord, DeploymentRequest, LocalRuntime
from edgewatch.local.testing import RuntimeThread, connect_client, wait_until

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = "com.edgewatch.LocalDashboard"
ROUTER = "com.edgewatch.AlertRouter"
PUBLISHER = "test.DashboardPublisher"
THING = "gw-test"
TOPICS = ["edgewatch/metrics", "edgewatch/alerts", "edgewatch/health", "edgewatch/silences"]

_COMPONENT_SRC = ROOT / "components" / "local-dashboard" / "src"
if str(_COMPONENT_SRC) not in sys.path:
    sys.path.insert(0, str(_COMPONENT_SRC))

ROUTER_CONFIG: dict[str, Any] = {
    "rules": [{"name": "HighCpu", "metric": "cpu.percent", "matchers": ['cpu="total"'], "op": ">", "threshold": 90,
               "severity": "warning", "summary": "CPU at {value:.0f}% on {thing}"}],
    "route": {"receiver": "default", "groupBy": ["alertname", "thing"], "groupWait": 0, "groupInterval": "1s",
              "repeatInterval": "1h", "sendResolved": True},
    "receivers": [{"name": "default", "log": {}, "localTopic": {"topic": "edgewatch/alerts"}}],
    "inhibitRules": [],
    "evaluationIntervalSeconds": 0.2,
}  # fmt: skip

PUBLISHER_RECIPE = f"""---
RecipeFormatVersion: '2020-01-25'
ComponentName: {PUBLISHER}
ComponentVersion: '1.0.0'
ComponentConfiguration:
  DefaultConfiguration:
    accessControl:
      aws.greengrass.ipc.pubsub:
        {PUBLISHER}:pubsub:1:
          operations: ['aws.greengrass#PublishToTopic', 'aws.greengrass#SubscribeToTopic']
          resources: {json.dumps(TOPICS)}
Manifests:
  - Platform: {{os: linux}}
    Lifecycle:
      Run: exec sleep 100000
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def metric_doc(name: str, value: float, labels: dict[str, str] | None = None, unit: str = "%",
               thing: str = THING, ts: int | None = None) -> dict[str, Any]:  # fmt: skip
    return {"schema": "edgewatch.metrics/1", "thing": thing, "ts": ts or int(time.time() * 1000),
            "metrics": [{"name": name, "value": value, "unit": unit, "labels": labels or {}}]}  # fmt: skip


@dataclass
class DashboardHandle:
    url: str
    port: int
    password: str
    root: Path
    thing: str
    runtime: RuntimeThread
    _publisher: Any
    _streams: list[Any] = field(default_factory=list)

    def publish(self, topic: str, doc: Any) -> None:
        from awsiot.greengrasscoreipc import model

        message = model.PublishMessage(json_message=model.JsonMessage(message=doc))
        self._publisher.publish_to_topic(topic=topic, publish_message=message)

    def publish_bytes(self, topic: str, payload: bytes) -> None:
        from awsiot.greengrasscoreipc import model

        message = model.PublishMessage(binary_message=model.BinaryMessage(message=payload))
        self._publisher.publish_to_topic(topic=topic, publish_message=message)

    def subscribe(self, topic: str) -> list[Any]:
        received: list[Any] = []

        def on_event(event: Any) -> None:
            if event.json_message is not None:
                received.append(event.json_message.message)
            elif event.binary_message is not None:
                received.append(json.loads(event.binary_message.message))

        _, operation = self._publisher.subscribe_to_topic(topic=topic, on_stream_event=on_event)
        self._streams.append(operation)
        return received

    def log(self) -> str:
        path = self.root / "logs" / f"{DASHBOARD}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def component_log(self, name: str) -> str:
        path = self.root / "logs" / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def deploy_config(self, merge: dict[str, Any], name: str = DASHBOARD) -> DeploymentRecord:
        return self.runtime.deploy(DeploymentRequest(config_updates={name: ConfigUpdate(merge=merge)}))

    def close(self) -> None:
        for operation in self._streams:
            with contextlib.suppress(Exception):  # already gone with its connection
                operation.close()
        with contextlib.suppress(Exception):
            self._publisher.close()


def _healthy(url: str) -> bool:
    import ssl

    context = ssl._create_unverified_context()  # a test's self-signed certificate
    try:
        with urllib.request.urlopen(url + "/healthz", timeout=1, context=context) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def start_dashboard(base: Path, *, with_router: bool = False, config: dict[str, Any] | None = None,
                    static_dir: Path | None = None, secrets_file: Path | None = None,
                    expect_password_file: bool = True) -> tuple[RuntimeThread, DashboardHandle]:  # fmt: skip
    """Build, start the runtime and deploy; the caller stops `RuntimeThread` (fixtures do)."""
    out = base / "build"
    names = ["local-dashboard"] + (["alert-router"] if with_router else [])
    built = build_components(ROOT, names, out)
    (out / "recipes" / f"{PUBLISHER}-1.0.0.yaml").write_text(PUBLISHER_RECIPE)
    port = free_port()
    # The runtime restarts a component whose environment changed; pytest's PYTEST_CURRENT_TEST differs
    # between set-up and test, so pin it for a configuration-only deployment to stay one.
    extra_env = {"EDGEWATCH_PYTHON": sys.executable, "PYTEST_CURRENT_TEST": "dashboard"}
    if static_dir is not None:
        extra_env["EDGEWATCH_DASHBOARD_STATIC"] = str(static_dir)
    root = base / "root"
    runtime = RuntimeThread(lambda: LocalRuntime(root, THING, extra_env=extra_env, restart_delay_s=0.2,
                                                 kill_grace_s=3.0, validation_timeout_s=20.0, strict_recipes=True,
                                                 secrets_file=secrets_file)).start()  # fmt: skip
    try:
        updates = {DASHBOARD: ConfigUpdate(merge={"port": port, **(config or {})})}
        if with_router:
            updates[ROUTER] = ConfigUpdate(merge=ROUTER_CONFIG)
        merge = {b.name: b.version for b in built} | {PUBLISHER: "1.0.0"}
        record = runtime.deploy(DeploymentRequest(out / "recipes", out / "artifacts", merge, config_updates=updates))
        assert record.status == "SUCCEEDED", record.reason
        url = f"{'https' if (config or {}).get('tlsCertFile') else 'http'}://127.0.0.1:{port}"
        layout = runtime.runtime.layout
        wait_until(lambda: _healthy(url), timeout=30, interval=0.1, what=f"the dashboard at {url}")
        password_file = layout.work(DASHBOARD) / "dashboard-password"
        if expect_password_file:
            wait_until(lambda: password_file.exists() and password_file.read_text().strip(), what="the password file")
        svcuid = runtime.runtime.deployed[PUBLISHER].svcuid
        publisher = connect_client(layout.socket_path, svcuid)
        if with_router:
            wait_until(lambda: "subscribed to edgewatch/silences" in
                       (root / "logs" / f"{ROUTER}.log").read_text(errors="replace"),
                       timeout=30, what="the router's subscriptions")  # fmt: skip
        wait_until(lambda: "subscribed to edgewatch/metrics" in (root / "logs" / f"{DASHBOARD}.log").read_text(),
                   timeout=30, what="the dashboard's subscriptions")  # fmt: skip
    except BaseException:
        runtime.stop()
        raise
    password = password_file.read_text().strip() if expect_password_file else ""
    handle = DashboardHandle(url=url, port=port, password=password, root=root, thing=THING, runtime=runtime,
                             _publisher=publisher)  # fmt: skip
    return runtime, handle


@pytest.fixture
def dashboard_factory(tmp_path: Path) -> Iterator[Callable[..., DashboardHandle]]:
    """`dashboard_factory(with_router=False, config={...}, static_dir=None, secrets_file=None,
    expect_password_file=True)` for tests that need options (a SecretManager password: pass the runtime's
    secrets file, `passwordSecretArn` and its accessControl grant in `config`, expect_password_file=False)."""
    started: list[tuple[RuntimeThread, DashboardHandle]] = []

    def start(**kwargs: Any) -> DashboardHandle:
        pair = start_dashboard(tmp_path / f"d{len(started)}", **kwargs)
        started.append(pair)
        return pair[1]

    yield start
    for runtime, handle in started:
        handle.close()
        runtime.stop()


@pytest.fixture
def dashboard_on_runtime(dashboard_factory: Callable[..., DashboardHandle]) -> DashboardHandle:
    return dashboard_factory()


@pytest.fixture
def dashboard_with_router(dashboard_factory: Callable[..., DashboardHandle]) -> DashboardHandle:
    return dashboard_factory(with_router=True)
