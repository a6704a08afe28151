"""The fleet end to end, real parts: Mosquitto with TLS, per-thing certificates and the ACL mirroring the IoT
policy (src/edgewatch_testkit/fleet_broker.py); three device runtimes (`edgewatch local start --mqtt-endpoint`,
one thing each, the real MetricsCollector at fast intervals and the real AlertRouter, whose one rule
fires at once and goes to IoT Core); one hub runtime bridged to the same broker with the hub's identity
(LocalDashboard in fleet mode, AlertRouter with DeviceSilent to the Slack test server); and
`edgewatch fleet watch --json` as the operator.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from edgewatch.build.suite import build_components
from edgewatch.local.iot_core import read_records
from edgewatch.local.layout import RuntimeLayout
from edgewatch.local.mqtt_uplink import MqttEndpoint
from edgewatch.local.testing import wait_until
from edgewatch_testkit.cli import edgewatch
from edgewatch_testkit.fake_slack import FakeSlack
from edgewatch_testkit.fleet_broker import FleetBroker, start_fleet_broker
from tests.dashboard.browser import chromium, log_in, open_page
from tests.fleet.hub_runtime import HUB_THING, HubHandle, slack_events, start_hub
from tests.fleet.test_fleet_watch import Watch, mtls_args

REPO = Path(__file__).resolve().parents[2]
DEVICES = ("gw-e2e-1", "gw-e2e-2", "gw-e2e-3")
COLLECTOR = "com.edgewatch.MetricsCollector"
ROUTER = "com.edgewatch.AlertRouter"
# Each device's own router: one rule that holds at once (so its alert crosses the fleet), to IoT Core only.
DEVICE_ROUTER_CONFIG = {
    "rules": [{"name": "FleetProbe", "metric": "cpu.percent", "matchers": ['cpu="total"'], "op": ">=",
               "threshold": 0, "severity": "info", "summary": "probe on {thing}"}],
    "route": {"receiver": "default", "groupWait": 0, "groupInterval": "1s", "repeatInterval": "1h"},
    "receivers": [{"name": "default", "iotCore": {}}], "inhibitRules": [], "evaluationIntervalSeconds": 0.2,
}  # fmt: skip
COLLECTOR_CONFIG = {"sampleIntervalSeconds": 0.5, "iotPublishIntervalSeconds": 1, "iotPublishMode": "summary",
                    "metrics": ["cpu", "memory", "disk", "temperature", "collector"], "healthIntervalSeconds": 30}
PUBLISH_INTERVAL_S = 1.0  # the hub's expectation; DeviceSilent after 2 x this


class Device:
    """One device runtime in its own processes (`edgewatch local start --detach`), bridged to the broker."""

    def __init__(self, thing: str, root: Path, broker: FleetBroker, build: Path) -> None:
        self.thing, self.root, self.broker, self.build = thing, root, broker, build

    def start(self) -> None:
        started = edgewatch("local", "start", "--root", str(self.root), "--thing-name", self.thing, "--detach",
                            "--env", f"EDGEWATCH_PYTHON={sys.executable}",
                            "--mqtt-endpoint", f"localhost:{self.broker.port}",
                            "--mqtt-cert", str(self.broker.cert(self.thing)),
                            "--mqtt-key", str(self.broker.key(self.thing)), "--mqtt-ca", str(self.broker.ca))
        assert started.returncode == 0, started.stdout + started.stderr

    def deploy(self, versions: dict[str, str]) -> None:
        update = self.root.parent / f"{self.thing}-update.json"
        update.write_text(json.dumps({COLLECTOR: {"MERGE": COLLECTOR_CONFIG}, ROUTER: {"MERGE": DEVICE_ROUTER_CONFIG}}))
        merges = [arg for name, version in versions.items() for arg in ("--merge", f"{name}={version}")]
        deployed = edgewatch("local", "deployment", "create", "--root", str(self.root),
                             "--recipeDir", str(self.build / "recipes"), "--artifactDir", str(self.build / "artifacts"),
                             *merges, "--update-config", f"@{update}", "--wait",
                             timeout=180)  # fmt: skip
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr

    def first_batch_ms(self) -> int | None:
        """When the device first published a batch (its runtime logs every IoT Core publish)."""
        for record in read_records(RuntimeLayout(self.root).iot_core_log()):
            if record.get("topic") == f"dt/edgewatch/{self.thing}/metrics":
                return int(record["ts"])
        return None

    def processes(self) -> list[psutil.Process]:
        """The runtime and every process it started for a component (found by the IPC socket in its environment)."""
        socket_path = RuntimeLayout(self.root.resolve()).socket_path
        found = []
        with contextlib.suppress(OSError, ValueError, KeyError):
            found.append(psutil.Process(int(json.loads((self.root / "runtime.json").read_text())["pid"])))
        for process in psutil.process_iter():
            with contextlib.suppress(psutil.Error):
                if process.environ().get("AWS_GG_NUCLEUS_DOMAIN_SOCKET_FILEPATH_FOR_COMPONENT") == socket_path:
                    found.append(process)
        return found

    def kill_9(self) -> None:
        """Power loss: SIGKILL to the runtime and to each of its components at once."""
        for process in self.processes():
            with contextlib.suppress(psutil.Error):
                os.kill(process.pid, signal.SIGKILL)

    def cleanup(self) -> None:
        edgewatch("local", "stop", "--root", str(self.root), timeout=60)
        for process in self.processes():  # never leave anything behind, even when the test failed
            with contextlib.suppress(psutil.Error):
                process.kill()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[FleetBroker]:
    server = start_fleet_broker(tmp_path / "broker", DEVICES, readers=(HUB_THING, "operator"))
    yield server
    server.stop()


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


@pytest.fixture
def hub(tmp_path: Path, broker: FleetBroker, slack: FakeSlack) -> Iterator[HubHandle]:
    uplink = MqttEndpoint("localhost", broker.port, broker.cert(HUB_THING), broker.key(HUB_THING), broker.ca)
    handle = start_hub(tmp_path / "hub", slack.webhook_url, publish_interval=PUBLISH_INTERVAL_S,
                       mqtt_options={"mqtt_endpoint": uplink}, with_publisher=False)  # fmt: skip
    yield handle
    handle.stop()


@pytest.fixture
def watch(broker: FleetBroker) -> Iterator[Watch]:
    """The operator's `fleet watch --json`, subscribed before any device starts (it must see every first batch)."""
    operator = Watch([*mtls_args(broker), "--client-id", "edgewatch-fleet-watch-e2e", "--interval", "1"])
    try:
        operator.wait_subscribed()
        yield operator
    finally:
        operator.stop()


@pytest.fixture
def devices(tmp_path: Path, broker: FleetBroker, hub: HubHandle, watch: Watch) -> Iterator[list[Device]]:
    build = tmp_path / "device-build"
    built = {b.name: b.version for b in build_components(REPO, [COLLECTOR, ROUTER], out_dir=build)}
    fleet = [Device(thing, tmp_path / thing, broker, build) for thing in DEVICES]
    try:
        with concurrent.futures.ThreadPoolExecutor(len(fleet)) as pool:
            list(pool.map(lambda d: (d.start(), d.deploy(built)), fleet))
        yield fleet
    finally:
        for device in fleet:
            device.cleanup()


@pytest.mark.timeout(240)
def test_the_hub_and_fleet_watch_see_every_device_and_a_dead_one_raises_device_silent(
    hub: HubHandle, broker: FleetBroker, slack: FakeSlack, watch: Watch, devices: list[Device],
) -> None:  # fmt: skip
    def hub_things() -> dict[str, Any]:
        return {d["thing"]: d for d in hub.fleet()["devices"]}

    wait_until(lambda: set(hub_things()) == set(DEVICES), timeout=30, interval=0.1, what="the hub sees 3 devices")
    seen_ms = int(time.time() * 1000)
    # Each runtime logs a publish after handing it to the broker: the line may land a moment after delivery.
    def logged_firsts() -> dict[str, int | None] | None:
        found = {d.thing: d.first_batch_ms() for d in devices}
        return found if all(found.values()) else None

    firsts = wait_until(logged_firsts, timeout=5, interval=0.05, what="every device's first-batch log line")
    # Each device reached the hub within a few seconds of its first batch (the last to start sets the pace).
    assert seen_ms - max(v for v in firsts.values() if v) < 5000, firsts
    wait_until(lambda: {e["thing"] for e in watch.of("device_seen")} >= set(DEVICES), timeout=5, interval=0.1,
               what="fleet watch sees the 3 devices")  # fmt: skip
    # Each device's own router raised FleetProbe; its notification crossed the broker to the hub and the watch.
    wait_until(lambda: all(any(a["alertname"] == "FleetProbe" for a in r["alerts"]) for r in hub_things().values()),
               timeout=15, interval=0.1, what="every device's own alert on the hub")  # fmt: skip
    wait_until(lambda: {e["thing"] for e in watch.of("alert_firing")} >= set(DEVICES), timeout=5, interval=0.1,
               what="fleet watch sees every device's alert")  # fmt: skip
    rows = hub_things()
    assert {r["status"] for r in rows.values()} == {"alerting"}, rows
    assert all(isinstance(r["cpu"], float) and isinstance(r["mem"], float) for r in rows.values()), rows

    with chromium(viewport={"width": 1280, "height": 720}) as context:
        page, log = open_page(context)
        log_in(page, hub.url, hub.password)
        page.goto(hub.url + "/fleet")
        page.wait_for_function("document.querySelectorAll('#fleet-rows tr[data-thing]').length === 3")
        things = page.eval_on_selector_all("#fleet-rows tr[data-thing]", "rows => rows.map(r => r.dataset.thing)")
        assert sorted(things) == sorted(DEVICES)
        assert log.script_errors() == [] and log.foreign_requests(hub.url) == []

    # Power loss on the second device: DeviceSilent for exactly that thing at the Slack server.
    victim = devices[1]
    assert len(victim.processes()) >= 3, "the runtime, its collector and its router"
    victim.kill_9()
    killed = time.monotonic()
    wait_until(lambda: (victim.thing, "firing") in slack_events(slack.delivered()), timeout=15, interval=0.05,
               what=f"DeviceSilent for {victim.thing}")  # fmt: skip
    assert time.monotonic() - killed < 10
    wait_until(lambda: hub_things()[victim.thing]["status"] == "stale", timeout=5, interval=0.1,
               what="the hub shows it stale")  # fmt: skip
    assert {t: r["status"] for t, r in hub_things().items() if t != victim.thing} == {
        t: "alerting" for t in DEVICES if t != victim.thing}

    # Back on power: the runtime restarts its collector; the next batch resolves it.
    victim.start()
    wait_until(lambda: (victim.thing, "resolved") in slack_events(slack.delivered()), timeout=60, interval=0.1,
               what=f"DeviceSilent resolved for {victim.thing}")  # fmt: skip
    assert slack_events(slack.delivered()) == [(victim.thing, "firing"), (victim.thing, "resolved")]
    wait_until(lambda: hub_things()[victim.thing]["status"] != "stale", timeout=5, interval=0.1,
               what="the hub shows it fresh again")  # fmt: skip
    assert "malformed IoT Core message" not in hub.log("com.edgewatch.AlertRouter")
