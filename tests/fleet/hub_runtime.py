"""A hub on the local runtime: the real LocalDashboard (fleetView) and AlertRouter (DeviceSilent to a
Slack test server), deployed with the documented hub merge (the mqttproxy SubscribeToIoTCore grants),
plus a publisher component that stands in for the fleet through IoT Core (the runtime's loopback, or
the broker when `mqtt_endpoint` is given).

    hub = start_hub(tmp_path, slack_url)        # HubHandle; hub.stop() ends everything
    hub.publish_iot(topic, doc)                  # PublishToIoTCore as the publisher component
    hub.fleet()                                  # GET /api/v1/fleet with a session
"""

from __future__ import annotations

import contextlib
import http.cookiejar
import json
import re
import sys
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgewatch.build.suite import build_components
from edgewatch.local.deployment_plan import ConfigUpdate
from edgewatch.local.runtime import DeploymentRequest, LocalRuntime
from edgewatch.local.testing import RuntimeThread, connect_client, wait_until
from tests.dashboard.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = "com.edgewatch.LocalDashboard"
ROUTER = "com.edgewatch.AlertRouter"
PUBLISHER = "test.FleetPublisher"
HUB_THING = "hub-01"
FLEET_FILTERS = ["dt/edgewatch/+/metrics", "dt/edgewatch/+/alerts"]

PUBLISHER_RECIPE = f"""---
RecipeFormatVersion: '2020-01-25'
ComponentName: {PUBLISHER}
ComponentVersion: '1.0.0'
ComponentConfiguration:
  DefaultConfiguration:
    accessControl:
      aws.greengrass.ipc.mqttproxy:
        {PUBLISHER}:mqttproxy:1:
          operations: ['aws.greengrass#PublishToIoTCore']
          resources: {json.dumps(FLEET_FILTERS)}
Manifests:
  - Platform: {{os: linux}}
    Lifecycle:
      Run: exec sleep 100000
"""


def dashboard_merge(port: int, publish_interval: float) -> dict[str, Any]:
    """The documented hub merge for the dashboard (components/local-dashboard/README.md)."""
    return {"port": port, "fleetView": True, "fleetPublishIntervalSeconds": publish_interval,
            "accessControl": {"aws.greengrass.ipc.mqttproxy": {f"{DASHBOARD}:mqttproxy:1": {
                "policyDescription": "Hub: read every device's batches and alerts.",
                "operations": ["aws.greengrass#SubscribeToIoTCore"], "resources": FLEET_FILTERS}}}}  # fmt: skip


def router_merge(slack_url: str, publish_interval: float) -> dict[str, Any]:
    """The documented hub merge for the router (components/alert-router/README.md), Slack as the receiver."""
    return {
        "rules": [], "inhibitRules": [], "evaluationIntervalSeconds": 0.2,
        "route": {"receiver": "slack", "groupBy": ["alertname", "thing"], "groupWait": 0, "groupInterval": "1s",
                  "repeatInterval": "1h", "sendResolved": True},
        "receivers": [{"name": "slack", "slack": {"webhookUrl": slack_url, "minIntervalSeconds": 0}}],
        "iotCoreInputs": ["dt/edgewatch/+/metrics"],
        "deviceSilent": {"publishIntervalSeconds": publish_interval, "factor": 2},
        "accessControl": {"aws.greengrass.ipc.mqttproxy": {f"{ROUTER}:mqttproxy:2": {
            "policyDescription": "Hub: read every device's batches (DeviceSilent).",
            "operations": ["aws.greengrass#SubscribeToIoTCore"], "resources": ["dt/edgewatch/+/metrics"]}}},
    }  # fmt: skip


@dataclass
class HubHandle:
    url: str
    password: str
    root: Path
    runtime: RuntimeThread
    publisher: Any
    _opener: urllib.request.OpenerDirector | None = None

    def publish_iot(self, topic: str, doc: Any) -> None:
        payload = json.dumps(doc, separators=(",", ":")).encode()
        self.publisher.publish_to_iot_core(topic_name=topic, qos="1", payload=payload)

    def _session(self) -> urllib.request.OpenerDirector:
        if self._opener is None:
            opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
            body = urllib.parse.urlencode({"password": self.password}).encode()
            request = urllib.request.Request(self.url + "/login", data=body, headers={"Origin": self.url})
            with opener.open(request, timeout=5) as response:
                assert response.status == 200, response.status  # followed the 303 to /
            self._opener = opener
        return self._opener

    def get(self, path: str) -> Any:
        with self._session().open(self.url + path, timeout=5) as response:
            return json.loads(response.read())

    def fleet(self) -> dict[str, Any]:
        return dict(self.get("/api/v1/fleet"))

    def deploy_config(self, name: str, merge: dict[str, Any]) -> Any:
        """A configuration-only deployment (merge) of one component; returns the deployment record."""
        return self.runtime.deploy(DeploymentRequest(config_updates={name: ConfigUpdate(merge=merge)}))

    def log(self, name: str) -> str:
        path = self.root / "logs" / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.publisher.close()
        self.runtime.stop()


def start_hub(base: Path, slack_url: str, *, publish_interval: float = 1.0, mqtt_endpoint: str | None = None,
              mqtt_options: dict[str, Any] | None = None, with_publisher: bool = True) -> HubHandle:  # fmt: skip
    out = base / "build"
    built = build_components(ROOT, ["local-dashboard", "alert-router"], out)
    (out / "recipes" / f"{PUBLISHER}-1.0.0.yaml").write_text(PUBLISHER_RECIPE)
    port = free_port()
    extra_env = {"EDGEWATCH_PYTHON": sys.executable, "PYTEST_CURRENT_TEST": "hub"}
    root = base / "root"
    options = dict(mqtt_options or {})
    runtime = RuntimeThread(lambda: LocalRuntime(root, HUB_THING, extra_env=extra_env, restart_delay_s=0.2,
                                                 kill_grace_s=3.0, validation_timeout_s=20.0, strict_recipes=True,
                                                 **options)).start()  # fmt: skip
    try:
        updates = {DASHBOARD: ConfigUpdate(merge=dashboard_merge(port, publish_interval)),
                   ROUTER: ConfigUpdate(merge=router_merge(slack_url, publish_interval))}  # fmt: skip
        merge = {b.name: b.version for b in built} | ({PUBLISHER: "1.0.0"} if with_publisher else {})
        record = runtime.deploy(DeploymentRequest(out / "recipes", out / "artifacts", merge, config_updates=updates))
        assert record.status == "SUCCEEDED", record.reason
        url = f"http://127.0.0.1:{port}"
        layout = runtime.runtime.layout
        password_file = layout.work(DASHBOARD) / "dashboard-password"
        wait_until(lambda: password_file.exists() and password_file.read_text().strip(), timeout=30,
                   what="the dashboard's password file")  # fmt: skip

        def subscribed(name: str, text: str) -> bool:
            path = root / "logs" / f"{name}.log"
            return path.exists() and text in path.read_text(errors="replace")

        wait_until(lambda: subscribed(DASHBOARD, "subscribed to IoT Core dt/edgewatch/+/alerts"), timeout=30,
                   what="the dashboard's IoT Core subscriptions")  # fmt: skip
        wait_until(lambda: subscribed(ROUTER, "subscribed to IoT Core dt/edgewatch/+/metrics"), timeout=30,
                   what="the router's IoT Core subscription")  # fmt: skip
        publisher = (connect_client(layout.socket_path, runtime.runtime.deployed[PUBLISHER].svcuid)
                     if with_publisher else None)  # fmt: skip
    except BaseException:
        runtime.stop()
        raise
    return HubHandle(url=url, password=password_file.read_text().strip(), root=root, runtime=runtime,
                     publisher=publisher)  # fmt: skip


def slack_events(received: list[Any], alertname: str = "DeviceSilent") -> list[tuple[str, str]]:
    """(thing, "firing"|"resolved") per Slack message about `alertname`; the route groups by alertname and
    thing, so each message names one thing (device names in these tests start with "gw-")."""
    events = []
    for r in received:
        text = json.dumps(r.body)
        if alertname not in text:
            continue
        things = sorted(set(re.findall(r"\bgw-[a-z0-9-]+\b", text)))
        events.append((",".join(things), "resolved" if "RESOLVED" in text else "firing"))
    return events
