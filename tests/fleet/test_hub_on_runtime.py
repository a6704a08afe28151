"""The hub on the local runtime, real parts: LocalDashboard in fleet mode and AlertRouter with DeviceSilent,
deployed with the documented hub merge; three devices' batches arrive through IoT Core (the runtime's
loopback: the publisher component's PublishToIoTCore reaches the hub's SubscribeToIoTCore). Slack is the
test server (src/edgewatch_testkit/fake_slack.py); the Fleet page runs in headless Chromium.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edgewatch.local.testing import wait_until
from edgewatch_testkit.fake_slack import FakeSlack
from tests.dashboard.browser import chromium, log_in, open_page
from tests.fleet.hub_runtime import HubHandle, slack_events, start_hub
from tests.fleet.hub_support import summary_batch

ROOT = Path(__file__).resolve().parents[2]
THINGS = ("gw-a", "gw-b", "gw-c")
PERIOD_S = 0.4  # the fake devices publish this often; the hub expects one batch per second at least


class Devices:
    """Publishes a batch per live device every PERIOD_S from one thread (stands in for the collectors)."""

    def __init__(self, hub: HubHandle) -> None:
        self.hub = hub
        self.live = set(THINGS)
        self.first_batch: dict[str, float] = {}
        self.stop = threading.Event()
        self.errors: list[str] = []
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        i = 0
        while not self.stop.wait(PERIOD_S if i else 0):
            i += 1
            for thing in sorted(self.live):
                n = THINGS.index(thing)
                doc = summary_batch(thing, int(time.time() * 1000), cpu=10.0 + 20 * n + i % 5, mem=35.0 + 9 * n,
                                    disk=48.0 + 21 * n, temp=44.0 + 6 * n)  # fmt: skip
                try:
                    self.hub.publish_iot(f"dt/edgewatch/{thing}/metrics", doc)
                except Exception as err:  # recorded: the test fails on it
                    self.errors.append(repr(err))
                self.first_batch.setdefault(thing, time.monotonic())


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


@pytest.fixture
def hub(tmp_path: Path, slack: FakeSlack) -> Iterator[HubHandle]:
    handle = start_hub(tmp_path, slack.webhook_url, publish_interval=1.0)
    yield handle
    handle.stop()


@pytest.fixture
def devices(hub: HubHandle) -> Iterator[Devices]:
    fleet = Devices(hub)
    fleet.thread.start()
    yield fleet
    fleet.stop.set()
    fleet.thread.join(5)


def test_fleet_page_and_device_silent_for_exactly_the_thing_that_stops(hub: HubHandle, devices: Devices,
                                                                      slack: FakeSlack) -> None:  # fmt: skip
    # The API sees all three within a few seconds of their first batch, with their key values.
    def all_three() -> dict[str, Any] | None:
        rows = {d["thing"]: d for d in hub.fleet()["devices"]}
        return rows if len(rows) == 3 else None

    rows = wait_until(all_three, timeout=5, interval=0.1, what="three devices in /api/v1/fleet")
    seen_at = time.monotonic()
    assert seen_at - min(devices.first_batch.values()) < 5
    assert {r["status"] for r in rows.values()} == {"ok"}
    assert rows["gw-c"]["disk"] == pytest.approx(90.0) and rows["gw-c"]["diskMount"] == "/"
    assert rows["gw-a"]["temp"] == pytest.approx(44.0)

    # An alert of gw-c's own router reaches the hub through IoT Core: gw-c is "alerting".
    hub.publish_iot("dt/edgewatch/gw-c/alerts", {
        "schema": "edgewatch.alerts/1", "thing": "gw-c", "id": "n-1", "status": "firing",
        "alerts": [{"fingerprint": "fp-disk", "status": "firing", "startsAt": int(time.time() * 1000),
                    "labels": {"alertname": "DiskAlmostFull", "severity": "warning", "thing": "gw-c", "mount": "/"},
                    "annotations": {"summary": "Disk / at 90.0% on gw-c"}}]})  # fmt: skip
    wait_until(lambda: {d["thing"]: d["status"] for d in hub.fleet()["devices"]}.get("gw-c") == "alerting",
               timeout=5, interval=0.1, what="gw-c alerting")  # fmt: skip

    # gw-b goes quiet: DeviceSilent for gw-b, and only gw-b, at the Slack server within 2 x 1 s + slack.
    devices.live.discard("gw-b")
    stopped = time.monotonic()
    wait_until(lambda: ("gw-b", "firing") in slack_events(slack.delivered()), timeout=10, interval=0.05,
               what="DeviceSilent for gw-b at Slack")  # fmt: skip
    assert 1.5 < time.monotonic() - stopped < 6
    wait_until(lambda: {d["thing"]: d["status"] for d in hub.fleet()["devices"]}.get("gw-b") == "stale",
               timeout=5, interval=0.1, what="gw-b stale in the fleet view")  # fmt: skip

    # The Fleet page (real Chromium, logged in like the rest) shows the three devices and gw-b's batches.
    with chromium(viewport={"width": 1280, "height": 760}) as context:
        page, log = open_page(context)
        log_in(page, hub.url, hub.password)
        page.click("#fleet-link")
        page.wait_for_url(hub.url + "/fleet")
        page.wait_for_selector('#fleet-conn[data-state="live"]')
        page.wait_for_function("document.querySelectorAll('#fleet-rows tr[data-thing]').length === 3")
        statuses = page.eval_on_selector_all("#fleet-rows tr[data-thing]",
                                             "rows => rows.map(r => [r.dataset.thing, r.dataset.status])")
        assert dict(statuses) == {"gw-a": "ok", "gw-b": "stale", "gw-c": "alerting"}
        assert page.text_content("#count-stale") == "1" and page.text_content("#count-alerting") == "1"
        assert page.text_content('#fleet-rows tr[data-thing="gw-c"] .chip[data-severity="warning"]') == "DiskAlmostFull"
        page.click('#fleet-rows tr[data-thing="gw-a"]')
        page.wait_for_selector("#device-panel:not([hidden]) #batch-rows tr")
        assert page.text_content("#device-name") == "gw-a"
        assert page.locator("#batch-rows tr").count() >= 3
        page.screenshot(path=str(ROOT / "docs" / "fleet.png"), full_page=True)
        assert log.script_errors() == [] and log.csp_violations() == []
        assert log.foreign_requests(hub.url) == []

    # gw-b comes back: the DeviceSilent resolves at Slack; nothing about the others was ever sent.
    devices.live.add("gw-b")
    wait_until(lambda: ("gw-b", "resolved") in slack_events(slack.delivered()), timeout=10, interval=0.05,
               what="DeviceSilent resolved for gw-b")  # fmt: skip
    assert slack_events(slack.delivered()) == [("gw-b", "firing"), ("gw-b", "resolved")]
    assert devices.errors == []
    assert "malformed IoT Core message" not in hub.log("com.edgewatch.AlertRouter")


def test_the_fleet_api_and_page_need_a_session(hub: HubHandle) -> None:
    import urllib.error
    import urllib.request

    for path in ("/api/v1/fleet", "/api/v1/fleet/gw-a"):
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(hub.url + path, timeout=5)
        assert err.value.code == 401
    opener = urllib.request.build_opener(_NoRedirect())
    with pytest.raises(urllib.error.HTTPError) as err:
        opener.open(hub.url + "/fleet", timeout=5)
    assert err.value.code == 302 and err.value.headers["Location"] == "/login"
    with pytest.raises(urllib.error.HTTPError) as err:
        hub.get("/api/v1/fleet/nobody")
    assert err.value.code == 404


def test_hostile_thing_names_and_summaries_render_as_text(hub: HubHandle) -> None:
    thing = '<img src=x onerror="alert(1)">'
    hub.publish_iot(f"dt/edgewatch/{thing}/metrics", summary_batch(thing, int(time.time() * 1000)))
    hub.publish_iot(f"dt/edgewatch/{thing}/alerts", {
        "schema": "edgewatch.alerts/1", "thing": thing, "alerts": [{
            "fingerprint": "x", "status": "firing", "startsAt": int(time.time() * 1000),
            "labels": {"alertname": "<script>alert(2)</script>", "severity": "critical"},
            "annotations": {"summary": "<b>bold</b>"}}]})  # fmt: skip
    wait_until(lambda: [d["alerts"] for d in hub.fleet()["devices"]] not in ([], [[]]), timeout=5, interval=0.1,
               what="the hostile device and its alert")  # fmt: skip
    with chromium() as context:
        page, log = open_page(context)
        log_in(page, hub.url, hub.password)
        page.goto(hub.url + "/fleet")
        page.wait_for_selector("#fleet-rows tr[data-thing] .chip")
        assert page.text_content("#fleet-rows .thing-cell") == thing
        assert page.text_content("#fleet-rows .chip") == "<script>alert(2)</script>"
        page.click("#fleet-rows tr[data-thing]")
        page.wait_for_selector("#device-panel:not([hidden]) #device-alerts .alert")
        assert page.text_content("#device-name") == thing
        assert "<b>bold</b>" in (page.text_content("#device-alerts") or "")
        assert page.locator("main img, main b, main script").count() == 0
        assert log.dialogs == [] and log.script_errors() == [] and log.csp_violations() == []


def test_fleet_view_turns_off_and_on_live_and_a_bad_fleet_key_is_rejected_with_its_path(hub: HubHandle) -> None:
    record = hub.deploy_config("com.edgewatch.LocalDashboard", {"fleetMaxBytes": 10})
    assert record.status == "FAILED" and "fleetMaxBytes" in (record.reason or ""), record.reason
    record = hub.deploy_config("com.edgewatch.AlertRouter", {"deviceSilent": {"factor": 0}})
    assert record.status == "FAILED" and "deviceSilent.factor" in (record.reason or ""), record.reason

    assert hub.deploy_config("com.edgewatch.LocalDashboard", {"fleetView": False}).status == "SUCCEEDED"
    wait_until(lambda: hub.fleet()["enabled"] is False, timeout=10, interval=0.1, what="fleet view off")
    hub.publish_iot("dt/edgewatch/gw-off/metrics", summary_batch("gw-off", int(time.time() * 1000)))
    assert hub.deploy_config("com.edgewatch.LocalDashboard", {"fleetView": True}).status == "SUCCEEDED"
    wait_until(lambda: hub.fleet()["enabled"] is True, timeout=10, interval=0.1, what="fleet view on")
    # Subscribed again: a batch now shows; the one published while it was off never did.
    wait_until(lambda: hub.log("com.edgewatch.LocalDashboard").count("subscribed to IoT Core dt/edgewatch/+/metrics")
               >= 2, timeout=10, interval=0.1, what="re-subscribed")  # fmt: skip
    hub.publish_iot("dt/edgewatch/gw-on/metrics", summary_batch("gw-on", int(time.time() * 1000)))
    wait_until(lambda: [d["thing"] for d in hub.fleet()["devices"]] == ["gw-on"], timeout=10, interval=0.1,
               what="only the batch sent while the view was on")  # fmt: skip


class _NoRedirect(__import__("urllib.request").request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None
