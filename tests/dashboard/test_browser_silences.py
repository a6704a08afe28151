"""End to end: an alert of the real AlertRouter shows in the page; a silence made in the page reaches
the router, which mutes that alert; expiring the silence in the page un-mutes it.

Router (from the fixture): HighCpu when cpu.percent{cpu="total"} > 90, grouped by alertname and
thing, groupWait 0, groupInterval 1 s, notifications on the local topic edgewatch/alerts.
"""

from __future__ import annotations

import re
import time
from typing import Any

from playwright.sync_api import expect

from edgewatch.local.testing import wait_until
from tests.dashboard.browser import chromium, log_in, metric, metrics_doc, open_page
from tests.dashboard.conftest import ROUTER, DashboardHandle

GROUP_INTERVAL_S = 1.0
CONTROL_THING = "gw-control"


def publish_cpu(dash: DashboardHandle, value: float, thing: str) -> None:
    doc = metrics_doc(thing, int(time.time() * 1000), [metric("cpu.percent", value, "%", cpu="total")])
    dash.publish("edgewatch/metrics", doc)


def notified(received: list[Any], thing: str, status: str) -> list[dict[str, Any]]:
    """Alerts of the router's notifications so far for `thing` with `status` (firing/resolved)."""
    return [a for doc in list(received) for a in doc.get("alerts", [])
            if a.get("labels", {}).get("thing") == thing and a.get("status") == status
            and a.get("labels", {}).get("alertname") == "HighCpu"]  # fmt: skip


def input_values(form: Any, field: str) -> list[str]:
    return list(form.locator(f".matcher {field}").evaluate_all("(els) => els.map((e) => e.value)"))


def test_a_silence_made_in_the_page_mutes_the_router_and_expiring_it_unmutes(
    dashboard_with_router: DashboardHandle,
) -> None:
    dash = dashboard_with_router
    received = dash.subscribe("edgewatch/alerts")
    with chromium() as context:
        page, log = open_page(context)
        log_in(page, dash.url, dash.password)

        # 1. The router fires; its notification reaches the page.
        publish_cpu(dash, 95.0, dash.thing)
        wait_until(lambda: notified(received, dash.thing, "firing"), timeout=10, what="the router's HighCpu firing")
        # This thing's HighCpu row only: the control thing's HighCpu row appears in step 3.
        row = page.locator("#alerts .alert", has=page.locator(".alertname", has_text=re.compile("^HighCpu$"))).filter(
            has=page.locator(".labels .label", has_text=re.compile(f"^thing={re.escape(dash.thing)}$")))
        expect(row).to_have_count(1, timeout=2000)
        expect(row).to_have_attribute("data-state", "firing")
        expect(row.locator(".labels .label")).to_contain_text([f"thing={dash.thing}"])
        expect(row).not_to_have_class(re.compile(r"\bsilenced\b"))

        # 2. Silence it from the page: the matchers come prefilled from the alert.
        row.locator(".silence-btn").click()
        form = page.locator("#silence-form")
        expect(form).to_be_visible()
        assert input_values(form, ".m-name") == ["alertname", "cpu", "severity", "thing"]
        assert input_values(form, ".m-op") == ["=", "=", "=", "="]
        assert input_values(form, ".m-value") == ["HighCpu", "total", "warning", dash.thing]
        page.fill("#silence-duration", "30")
        page.fill("#silence-author", "ana")
        page.fill("#silence-comment", "replacing the fan")
        page.click("#silence-submit")
        expect(form).to_be_hidden()
        silence = page.locator("#silences .silence")
        expect(silence).to_have_count(1)
        silence_id = silence.get_attribute("data-silence-id")
        assert silence_id
        expect(silence.locator(".label")).to_have_text(
            ["alertname=HighCpu", "cpu=total", "severity=warning", f"thing={dash.thing}"]
        )
        expect(silence).to_contain_text("by ana")
        expect(silence).to_contain_text("replacing the fan")
        expect(silence.locator(".until")).to_have_text(re.compile(r"^ends in (29m \d+s|30m 0s)$"))
        expect(row).to_have_class(re.compile(r"\bsilenced\b"))
        router_log = dash.root / "logs" / f"{ROUTER}.log"
        applied = f"silence command applied: create {silence_id} by ana"
        wait_until(lambda: applied in router_log.read_text(errors="replace"), timeout=10,
                   what="the router applying the page's silence")  # fmt: skip

        # 3. The router mutes it: resolve, then fire again. A control thing that the silence does not
        #    match fires at the same moment and is notified; the silenced one is not.
        publish_cpu(dash, 10.0, dash.thing)
        wait_until(lambda: notified(received, dash.thing, "resolved"), timeout=10, what="the router's resolve")
        firing_before = len(notified(received, dash.thing, "firing"))
        publish_cpu(dash, 96.0, dash.thing)
        publish_cpu(dash, 96.0, CONTROL_THING)
        wait_until(lambda: notified(received, CONTROL_THING, "firing"), timeout=10, what="the control alert")
        # Absence, bounded: three group intervals in which a muted alert would have been flushed.
        deadline = time.monotonic() + 3 * GROUP_INTERVAL_S
        while time.monotonic() < deadline:
            assert len(notified(received, dash.thing, "firing")) == firing_before, "the silenced alert was notified"
            page.wait_for_timeout(50)  # polls the page's event loop too, so its events keep flowing

        # 4. Expire the silence in the page: the router notifies the still-firing alert again.
        silence.locator(".expire-btn").click()
        expect(page.locator("#silences .silence")).to_have_count(0)
        wait_until(lambda: f"silence command applied: expire {silence_id}" in router_log.read_text(errors="replace"),
                   timeout=10, what="the router applying the expiry")  # fmt: skip
        wait_until(lambda: len(notified(received, dash.thing, "firing")) > firing_before, timeout=10,
                   what="the un-muted alert notified again")  # fmt: skip
        expect(row).not_to_have_class(re.compile(r"\bsilenced\b"))
        expect(row).to_have_attribute("data-state", "firing")
        assert log.script_errors() == [] and log.csp_violations() == [] and log.dialogs == []
