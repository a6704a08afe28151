"""docs/dashboard.png: the page with live data, made by the real components on the local runtime.

Five minutes of a plausible gateway are published through IPC (the collector's names and units),
the CPU spikes so the real AlertRouter fires HighCpu, a disk alert arrives as the router would send
it, and a silence is created in the page for it. The screenshot is then taken in Chromium.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

from playwright.sync_api import expect

from edgewatch.local.testing import wait_until
from tests.dashboard.browser import (
    alert,
    alerts_doc,
    chromium,
    gateway_metrics,
    health_doc,
    log_in,
    metrics_doc,
    open_page,
)
from tests.dashboard.conftest import DashboardHandle

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = ROOT / "docs" / "dashboard.png"
HISTORY_S = 300
SPIKE_S = 25


def test_screenshot_of_the_dashboard_with_live_data(dashboard_with_router: DashboardHandle) -> None:
    dash = dashboard_with_router
    alerts = dash.subscribe("edgewatch/alerts")
    now = time.time()
    for back in range(HISTORY_S, -1, -1):
        t = now - back
        spike = 93.0 + 3 * ((back * 7) % 5) / 4 if back < SPIKE_S else None
        dash.publish("edgewatch/metrics", metrics_doc(dash.thing, int(t * 1000), gateway_metrics(t, cpu=spike)))
    now_ms = int(time.time() * 1000)
    # The components publish health every 30 s; the test sends the first documents rather than wait.
    dash.publish("edgewatch/health", health_doc("com.edgewatch.MetricsCollector", dash.thing, now_ms - 4000))
    dash.publish("edgewatch/health", health_doc("com.edgewatch.AlertRouter", dash.thing, now_ms - 9000))
    dash.publish("edgewatch/alerts", alerts_doc(
        alert("disk-data", "firing", {"alertname": "DiskFilling", "severity": "warning", "thing": dash.thing,
                                      "mount": "/data"},
              value=87.4, summary="/data is 87% full; full in about 3 days at this rate",
              starts_at=now_ms - 52 * 60_000),
        alert("temp-soc", "resolved", {"alertname": "HighTemperature", "severity": "warning", "thing": dash.thing,
                                       "sensor": "coretemp"},
              value=81.5, summary="coretemp at 82 °C", starts_at=now_ms - 41 * 60_000, ends_at=now_ms - 18 * 60_000),
    ))  # fmt: skip
    wait_until(lambda: any(a["labels"].get("alertname") == "HighCpu" for d in list(alerts) for a in d["alerts"]),
               timeout=15, what="the router's HighCpu alert")  # fmt: skip

    with chromium(viewport={"width": 1440, "height": 1000}, color_scheme="light") as context:
        page, log = open_page(context)
        log_in(page, dash.url, dash.password)
        for chart in ("cpu", "memory", "net", "disk-io", "load", "temperature"):
            expect(page.locator(f'.chart[data-chart="{chart}"] canvas').first).to_be_attached()
        disk_row = page.locator("#alerts .alert", has=page.locator(".alertname", has_text=re.compile("^DiskFilling$")))
        disk_row.locator(".silence-btn").click()
        rows = page.locator("#matchers .matcher")
        expect(rows).to_have_count(4)
        # Keep the silence to the alert and its mount (drop the prefilled severity and thing rows).
        for i in reversed(range(rows.count())):
            if rows.nth(i).locator(".m-name").input_value() in ("severity", "thing"):
                rows.nth(i).locator(".m-remove").click()
        expect(rows).to_have_count(2)
        page.fill("#silence-duration", "240")
        page.fill("#silence-author", "ana")
        page.fill("#silence-comment", "disk swap scheduled for today")
        page.click("#silence-submit")
        expect(page.locator("#silences .silence")).to_have_count(1)
        expect(disk_row).to_have_class(re.compile(r"\bsilenced\b"))
        expect(page.locator("#alerts .alert", has=page.locator(".alertname", has_text="HighCpu"))).to_have_count(1)
        expect(page.locator('#health .health[data-component="com.edgewatch.AlertRouter"]')).to_have_count(1)
        expect(page.locator("#conn")).to_have_text("live")
        page.mouse.move(0, 0)  # no hover effects in the picture
        SCREENSHOT.parent.mkdir(exist_ok=True)
        page.screenshot(path=str(SCREENSHOT), full_page=True)
        assert log.script_errors() == [] and log.csp_violations() == [] and log.foreign_requests(dash.url) == []
    assert SCREENSHOT.stat().st_size > 50_000  # a real picture, not an empty page
