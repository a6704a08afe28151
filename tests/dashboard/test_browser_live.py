"""The dashboard page in Debian's Chromium, fed through real IPC: the dashboard runs as a component on
the local runtime and a test component publishes what the collector and the router would."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.dashboard.browser import (
    alert,
    alerts_doc,
    chromium,
    gateway_metrics,
    health_doc,
    log_in,
    metric,
    metrics_doc,
    open_page,
)
from tests.dashboard.conftest import DASHBOARD, DashboardHandle, start_dashboard

XSS = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def dash(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DashboardHandle]:
    runtime, handle = start_dashboard(Path(tmp_path_factory.mktemp("dash")))
    yield handle
    handle.close()
    runtime.stop()


def now_ms() -> int:
    return int(time.time() * 1000)


def publish_gateway(dash: DashboardHandle, **kwargs: Any) -> None:
    dash.publish("edgewatch/metrics", metrics_doc(dash.thing, now_ms(), gateway_metrics(time.time(), **kwargs)))


def publish_cpu(dash: DashboardHandle, value: float) -> None:
    doc = metrics_doc(dash.thing, now_ms(), [metric("cpu.percent", value, "%", cpu="total")])
    dash.publish("edgewatch/metrics", doc)


def tile(page: Any, name: str) -> Any:
    return page.locator(f'.tile[data-tile="{name}"]')


def test_a_published_metric_appears_in_its_tile_and_chart_within_2_s(dash: DashboardHandle) -> None:
    with chromium() as context:
        page, log = open_page(context)
        log_in(page, dash.url, dash.password)
        started = time.monotonic()
        publish_cpu(dash, 42.5)
        expect(tile(page, "cpu").locator(".value")).to_have_text("42.5 %", timeout=2000)
        chart = page.locator('.chart[data-chart="cpu"]')
        expect(chart.locator("canvas").first).to_be_attached(timeout=2000)
        # The legend shows each series' latest point: the chart holds the value, not only the tile.
        expect(chart.locator(".u-series", has_text="total")).to_contain_text("42.5 %", timeout=2000)
        elapsed = time.monotonic() - started
        assert elapsed < 2.0, f"tile and chart took {elapsed:.2f} s"
        expect(tile(page, "cpu")).to_have_class(re.compile(r"\bok\b"))
        assert log.script_errors() == [] and log.csp_violations() == []


def test_tiles_colour_by_threshold_with_one_tile_per_disk_and_per_series_charts(dash: DashboardHandle) -> None:
    with chromium() as context:
        page, log = open_page(context)
        log_in(page, dash.url, dash.password)
        publish_gateway(dash, cpu=95.0)
        expect(tile(page, "cpu")).to_have_class(re.compile(r"\bcrit\b"), timeout=2000)
        expect(tile(page, "cpu").locator(".value")).to_have_text("95.0 %")
        expect(tile(page, "disk:/")).to_have_class(re.compile(r"\bok\b"))
        expect(tile(page, "disk:/").locator(".value")).to_have_text("46.3 %")
        expect(tile(page, "disk:/data")).to_have_class(re.compile(r"\bwarn\b"))
        expect(tile(page, "memory")).to_have_class(re.compile(r"\bok\b"))
        expect(tile(page, "temperature").locator(".value")).to_have_text(re.compile(r"^\d+\.\d °C$"))
        expect(tile(page, "uptime").locator(".value")).to_have_text(re.compile(r"^9d \d+h$"))
        expect(tile(page, "load").locator(".value")).to_have_text(re.compile(r"^\d"))
        # Top processes of the newest sample, in rank order.
        expect(page.locator("#processes-card")).to_be_visible()
        expect(page.locator("#top-mem .process .p-name")).to_have_text(
            ["java", "python3", "systemd-journal", "mosquitto", "sshd"]
        )
        expect(page.locator("#top-mem .process").first.locator(".p-value")).to_have_text("296 MiB")
        expect(page.locator("#top-cpu .process").first).to_have_attribute("data-pid", "412")
        expect(page.locator("#process-count")).to_have_text("143")
        # Network sums the interfaces but leaves out loopback traffic.
        expect(tile(page, "net").locator(".sub")).to_contain_text("2 interfaces")
        for chart, series in (("cpu", ["total", "cpu0", "cpu1", "cpu2", "cpu3"]),
                              ("net", ["eth0 ↓", "eth0 ↑", "wlan0 ↓", "wlan0 ↑"]),
                              ("disk-io", ["mmcblk0 read", "mmcblk0 write", "sda read", "sda write"]),
                              ("load", ["1m", "5m", "15m"]), ("memory", ["memory", "swap"])):  # fmt: skip
            legend = page.locator(f'.chart[data-chart="{chart}"] .u-series th')
            expect(legend).to_have_text(["Time", *series])
        assert log.script_errors() == [] and log.csp_violations() == []


def test_alerts_health_and_hostile_labels_are_shown_as_text_and_run_nothing(dash: DashboardHandle) -> None:
    with chromium() as context:
        page, log = open_page(context)
        log_in(page, dash.url, dash.password)
        started = now_ms() - 125_000
        dash.publish("edgewatch/alerts", alerts_doc(
            alert("fp-xss", "firing", {"alertname": "HighCpu", "severity": "critical", "thing": dash.thing,
                                       "evil": XSS}, value=97.25, summary=f"CPU {XSS} busy", starts_at=started),
            alert("fp-pending", "pending", {"alertname": "DiskFilling", "severity": "warning", "mount": "/data"},
                  value=88.0, summary="disk /data filling", starts_at=now_ms() - 5000),
        ))  # fmt: skip
        dash.publish("edgewatch/metrics", metrics_doc(dash.thing, now_ms(), [
            metric("disk.percent", 12.0, "%", mount=XSS, device="/dev/x", fstype="ext4"),
            metric("net.bytes_recv", 1000.0, "B/s", interface=XSS),
        ]))  # fmt: skip
        dash.publish("edgewatch/health", health_doc("com.edgewatch.AlertRouter", dash.thing, now_ms(), "degraded",
                                                    (f"Slack receiver: {XSS}",)))  # fmt: skip

        row = page.locator('#alerts .alert[data-alert-id="fp-xss"]')
        expect(row).to_be_visible(timeout=2000)
        expect(row.locator(".alertname")).to_have_text("HighCpu")
        expect(row.locator(".severity")).to_have_text("critical")
        expect(row.locator(".value")).to_have_text("97.3")
        expect(row.locator(".since")).to_have_text(re.compile(r"^for 2m \d+s$"))
        expect(row.locator(".labels .label")).to_have_text(["evil=" + XSS, "severity=critical", f"thing={dash.thing}"])
        expect(row.locator(".summary")).to_have_text(f"CPU {XSS} busy")
        pending = page.locator('#alerts .alert[data-alert-id="fp-pending"]')
        expect(pending).to_have_attribute("data-state", "pending")
        expect(page.locator("#alerts .alert")).to_have_count(2)

        expect(tile(page, f"disk:{XSS}").locator(".t-name")).to_have_text(f"Disk {XSS}")
        expect(page.locator('.chart[data-chart="net"] .u-series th', has_text=XSS)).to_have_text(f"{XSS} ↓")
        health = page.locator('#health .health[data-component="com.edgewatch.AlertRouter"]')
        expect(health).to_have_attribute("data-status", "degraded")
        expect(health.locator(".h-reasons li")).to_have_text(f"Slack receiver: {XSS}")

        assert page.locator("img").count() == 0, "a label value became an <img> element"
        assert log.dialogs == [], f"the page ran script from data: {log.dialogs}"
        assert not [u for u in log.requests if u.endswith("/x")], "an <img src=x> was fetched"
        assert log.script_errors() == [] and log.csp_violations() == []


def is_snapshot(payload: str | bytes, range_name: str) -> bool:
    frame = json.loads(payload)
    return bool(frame.get("type") == "snapshot" and frame.get("range") == range_name)


def test_ranges_come_from_the_server_and_the_page_asks_nothing_of_any_other_origin(dash: DashboardHandle) -> None:
    with chromium() as context:
        page, log = open_page(context)
        sockets: list[Any] = []
        page.on("websocket", lambda ws: sockets.append(ws))
        log_in(page, dash.url, dash.password)
        publish_gateway(dash)
        expect(page.locator('.chart[data-chart="cpu"] canvas').first).to_be_attached(timeout=2000)
        for name in ("15m", "6h", "24h", "5m", "1h"):
            # Each range button asks the server over the WebSocket, which answers with that range's snapshot.
            with sockets[-1].expect_event("framereceived", predicate=lambda p, n=name: is_snapshot(p, n)):
                page.click(f'button[data-range="{name}"]')
            expect(page.locator(f'button[data-range="{name}"]')).to_have_attribute("aria-pressed", "true")
            expect(page.locator('.chart[data-chart="cpu"] canvas').first).to_be_attached()
        page.locator("#new-silence").click()
        expect(page.locator("#silence-form")).to_be_visible()
        page.click("#silence-cancel")
        page.reload()
        expect(page.locator('#conn[data-state="live"]')).to_be_visible()
        expect(page.locator('.chart[data-chart="cpu"] canvas').first).to_be_attached()
        expect(page.locator('button[data-range="1h"]')).to_have_attribute("aria-pressed", "true")  # remembered

        # Not vacuous: the page did load its script, styles, uPlot and the API, and opened /ws.
        paths = {u.removeprefix(dash.url) for u in log.requests}
        assert {"/static/app.js", "/static/app.css", "/static/uPlot.iife.min.js", "/api/v1/info"} <= paths, paths
        assert log.websockets and all(re.search(r"/ws\?range=\w+$", u) for u in log.websockets), log.websockets
        # After the reload the page asked for the range it was left on, in the URL of its WebSocket.
        assert log.websockets[-1].endswith("/ws?range=1h"), log.websockets
        assert log.foreign_requests(dash.url) == []
        assert log.script_errors() == [] and log.csp_violations() == []


def test_the_indicator_shows_reconnecting_when_the_websocket_drops_and_live_again(dash: DashboardHandle) -> None:
    with chromium() as context:
        page, log = open_page(context)
        routes: list[Any] = []

        def route(ws: Any) -> None:
            # Playwright sits between page and server: closing it here is a network drop for the page.
            routes.append((ws, ws.connect_to_server()))

        page.route_web_socket(re.compile(r"/ws(\?.*)?$"), route)
        log_in(page, dash.url, dash.password)
        conn = page.locator("#conn")
        expect(conn).to_have_text("live")
        page_side, server_side = routes[-1]
        server_side.close(code=1001, reason="test: connection lost")
        page_side.close(code=1001, reason="test: connection lost")
        expect(conn).to_have_attribute("data-state", "reconnecting")
        expect(conn).to_have_text("reconnecting")
        expect(conn).to_have_attribute("data-state", "live", timeout=10_000)
        expect(conn).to_have_text("live")
        assert len(routes) == 2
        # The new connection carries data again.
        publish_cpu(dash, 61.5)
        expect(tile(page, "cpu").locator(".value")).to_have_text("61.5 %", timeout=2000)
        assert log.script_errors() == []


def test_a_phone_sized_screen_shows_everything_without_horizontal_overflow(dash: DashboardHandle) -> None:
    with chromium(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True,
                  has_touch=True) as context:  # fmt: skip
        page, log = open_page(context)
        log_in(page, dash.url, dash.password)
        publish_gateway(dash)
        dash.publish("edgewatch/alerts", alerts_doc(alert(
            "fp-phone", "firing", {"alertname": "DiskFilling", "severity": "warning", "mount": "/data/" + "x" * 80},
            value=91.0, summary="a long summary " * 8, starts_at=now_ms() - 60_000)))  # fmt: skip
        for chart in ("cpu", "memory", "net", "disk-io", "load"):
            expect(page.locator(f'.chart[data-chart="{chart}"] canvas').first).to_be_attached(timeout=2000)
        expect(page.locator('#alerts .alert[data-alert-id="fp-phone"]')).to_be_visible()
        widths = page.evaluate("""() => ({
            viewport: window.innerWidth,
            scroll: document.documentElement.scrollWidth,
            widest: Math.max(...[...document.querySelectorAll('.tile, .card, .alert, .chart canvas, .topbar')]
                .map((e) => e.getBoundingClientRect().right)),
            tileColumns: getComputedStyle(document.querySelector('.tiles')).gridTemplateColumns.split(' ').length,
        })""")
        assert widths["scroll"] <= widths["viewport"], widths
        assert widths["widest"] <= widths["viewport"] + 0.5, widths
        assert widths["tileColumns"] == 2, widths
        page.click('#alerts .alert[data-alert-id="fp-phone"] .silence-btn')
        form = page.locator("#silence-form")
        expect(form).to_be_visible()
        box = form.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= widths["viewport"], box
        assert log.script_errors() == [] and log.csp_violations() == []


def test_the_silence_form_says_what_is_wrong_and_shows_the_servers_refusal(dash: DashboardHandle) -> None:
    with chromium() as context:
        page, log = open_page(context)
        posts: list[str] = []
        page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
        log_in(page, dash.url, dash.password)
        page.click("#new-silence")
        expect(page.locator("#silence-form")).to_be_visible()
        page.click("#silence-submit")
        error = page.locator("#silence-error")
        expect(error).to_contain_text("add at least one matcher")
        expect(error).to_contain_text("author")
        expect(error).to_contain_text("comment")
        assert posts == [dash.url + "/login"], posts  # the login only: nothing was sent
        page.fill(".matcher .m-name", "mount")
        page.select_option(".matcher .m-op", "=~")
        page.fill(".matcher .m-value", "/data(?=x)")  # JavaScript accepts lookahead; the server's RE2 does not
        page.fill("#silence-author", "ana")
        page.fill("#silence-comment", "testing")
        page.click("#silence-submit")
        expect(error).to_have_text(re.compile(r"^Not created: .*matchers\[0\]\.value"))
        expect(page.locator("#silence-form")).to_be_visible()
        expect(page.locator("#silences .silence")).to_have_count(0)
        assert log.script_errors() == []


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_page_follows_prefers_color_scheme(dash: DashboardHandle, scheme: str) -> None:
    with chromium(color_scheme=scheme) as context:
        page, log = open_page(context)
        log_in(page, dash.url, dash.password)
        publish_gateway(dash)
        expect(page.locator('.chart[data-chart="cpu"] canvas').first).to_be_attached(timeout=2000)
        rgb = page.evaluate("""() => [document.body, document.querySelector('.tile')].map(
            (e) => getComputedStyle(e).backgroundColor.match(/\\d+/g).slice(0, 3).map(Number))""")
        for r, g, b in rgb:
            luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b
            assert (luminance > 200) if scheme == "light" else (luminance < 60), (scheme, rgb)
        axis = page.evaluate("getComputedStyle(document.documentElement).getPropertyValue('--muted').trim()")
        assert axis == ("#667085" if scheme == "light" else "#98a2b3")
        assert log.script_errors() == []


EVIL_PAGE_SCRIPT = """async (target) => {
    const ws = await new Promise((resolve) => {
        const socket = new WebSocket(target.replace('http://', 'ws://') + '/ws');
        socket.onopen = () => { socket.close(); resolve('open'); };
        socket.onerror = () => resolve('refused');
    });
    const body = JSON.stringify({matchers: [{name: 'alertname', op: '=~', value: '.+'}], durationSeconds: 3600,
                                 author: 'evil', comment: 'mute everything'});
    // A "simple" cross-origin request: the browser sends it (with the cookie) without asking first.
    await fetch(target + '/api/v1/silences', {method: 'POST', mode: 'no-cors', credentials: 'include',
                                              headers: {'Content-Type': 'text/plain'}, body}).catch(() => null);
    return ws;
}"""


@contextmanager
def other_origin_site() -> Iterator[str]:
    """A real HTTP server on 127.0.0.1 (another port, so another origin) serving one harmless page."""

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"<!doctype html><title>not the dashboard</title>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_a_page_of_another_origin_can_neither_open_the_websocket_nor_create_a_silence(dash: DashboardHandle) -> None:
    with chromium() as context, other_origin_site() as evil_origin:
        page, _ = open_page(context)
        log_in(page, dash.url, dash.password)  # the victim is logged in in this browser
        # Same site as the dashboard (ports do not count for SameSite, so the cookie goes along) and, being
        # on loopback too, allowed by Chromium's local-network checks: only the server's Origin check is left.
        evil = context.new_page()
        evil.goto(evil_origin + "/")
        assert evil.evaluate(EVIL_PAGE_SCRIPT, dash.url) == "refused"
        silences = page.request.get(dash.url + "/api/v1/silences")
        assert silences.status == 200 and silences.json()["silences"] == []
        expect(page.locator("#conn")).to_have_text("live")  # the real page is not disturbed


# Last in this module: it restarts the shared dashboard.
def test_a_dashboard_restart_drops_the_session_and_the_page_asks_for_login_again(dash: DashboardHandle) -> None:
    with chromium() as context:
        page, log = open_page(context)
        log_in(page, dash.url, dash.password)
        dash.runtime.run(dash.runtime.runtime.restart_component(DASHBOARD))
        expect(page.locator("#conn")).to_have_attribute("data-state", "reconnecting")
        # Sessions live in memory: once the server is back, the page notices its session is gone.
        expect(page).to_have_url(dash.url + "/login", timeout=30_000)
        log_in(page, dash.url, dash.password)
        expect(page.locator("#conn")).to_have_text("live")
        assert log.script_errors() == []
