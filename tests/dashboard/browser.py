"""Headless Debian Chromium for the dashboard's browser tests (Playwright's sync API).

`playwright install` cannot download browsers here, so Playwright's bundled driver drives the
system's /usr/bin/chromium (scripts/setup.sh installs it). Every launch gets a fresh profile folder
that is removed afterwards. `PageLog` records what a page did (requests, WebSockets, dialogs,
errors) so tests can assert on it.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
TIMEOUT_MS = 10_000


@contextmanager
def chromium(**context_options: Any) -> Iterator[Any]:
    """A Playwright BrowserContext on Debian's Chromium (skips the test when it is not installed)."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is absent: install Debian's chromium (scripts/setup.sh does, as root)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw, tempfile.TemporaryDirectory(prefix="ew-chromium-") as profile:
        context = pw.chromium.launch_persistent_context(
            profile, executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS, **context_options
        )
        try:
            context.set_default_timeout(TIMEOUT_MS)
            context.set_default_navigation_timeout(TIMEOUT_MS)
            yield context
        finally:
            context.close()


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@dataclass
class PageLog:
    """Everything a page asked for or complained about, recorded from Playwright's events."""

    requests: list[str] = field(default_factory=list)
    websockets: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)

    def attach(self, page: Any) -> PageLog:
        page.on("request", lambda request: self.requests.append(request.url))
        page.on("websocket", lambda ws: self.websockets.append(ws.url))
        page.on("pageerror", lambda error: self.page_errors.append(str(error)))
        page.on("console", lambda msg: self.console_errors.append(msg.text) if msg.type == "error" else None)

        def on_dialog(dialog: Any) -> None:
            self.dialogs.append(f"{dialog.type}: {dialog.message}")
            dialog.dismiss()

        page.on("dialog", on_dialog)
        return self

    def foreign_requests(self, own_url: str) -> list[str]:
        """Requests and WebSockets that went anywhere but the dashboard's own origin."""
        own = origin(own_url)
        own_ws = own.replace("http://", "ws://", 1).replace("https://", "wss://", 1)
        return [u for u in self.requests if origin(u) != own] + [u for u in self.websockets if origin(u) != own_ws]

    def script_errors(self) -> list[str]:
        """Uncaught errors, and the errors app.js reports itself (it keeps rendering the other panels)."""
        return self.page_errors + [m for m in self.console_errors if m.startswith("dashboard:")]

    def csp_violations(self) -> list[str]:
        return [m for m in self.console_errors if "Content Security Policy" in m]


def open_page(context: Any) -> tuple[Any, PageLog]:
    page = context.pages[0] if context.pages else context.new_page()
    return page, PageLog().attach(page)


def log_in(page: Any, url: str, password: str) -> None:
    """Log in through the login form and wait for the dashboard's first snapshot ("live")."""
    page.goto(url + "/login")
    page.fill("#password", password)
    page.click("#login-submit")
    page.wait_for_url(url + "/")
    page.wait_for_selector('#conn[data-state="live"]')


# ---------------------------------------------------------------- test feed (the documents the real components send)


def metric(name: str, value: float, unit: str = "", **labels: str) -> dict[str, Any]:
    return {"name": name, "value": value, "unit": unit, "labels": labels}


def metrics_doc(thing: str, ts_ms: int, metrics: list[dict[str, Any]]) -> dict[str, Any]:
    return {"schema": "edgewatch.metrics/1", "thing": thing, "ts": ts_ms, "metrics": metrics}


def gateway_metrics(t: float, *, cpu: float | None = None, cores: int = 4) -> list[dict[str, Any]]:
    """One sample of a plausible 4-core gateway at time t (seconds), with the collector's names and units."""
    total = cpu if cpu is not None else 28 + 14 * math.sin(t / 45) + 4 * math.sin(t / 6)
    out = [metric("cpu.percent", round(total, 1), "%", cpu="total")]
    for core in range(cores):
        out.append(metric("cpu.percent", round(max(0.0, min(100.0, total + 9 * math.sin(t / 8 + core * 1.7))), 1), "%",
                          cpu=str(core)))  # fmt: skip
    gib = 1024**3
    used = (3.1 + 0.25 * math.sin(t / 120)) * gib
    out += [
        metric("memory.total", 7.6 * gib, "B"), metric("memory.used", used, "B"),
        metric("memory.available", 7.6 * gib - used, "B"),
        metric("memory.percent", round(100 * used / (7.6 * gib), 1), "%"),
        metric("swap.percent", 2.0, "%"),
        metric("load.1m", round(0.9 + 0.4 * math.sin(t / 50), 2)), metric("load.5m", 0.85), metric("load.15m", 0.8),
        metric("system.uptime", 9 * 86400 + 5 * 3600 + t % 3600, "s"),
        metric("system.boot_time", t - (9 * 86400 + 5 * 3600 + t % 3600), "s"),
        metric("temperature.current", round(54 + 3 * math.sin(t / 70), 1), "°C", sensor="coretemp",
               label="Package id 0"),
        metric("temperature.current", round(47 + 2 * math.sin(t / 90), 1), "°C", sensor="acpitz", label="acpitz0"),
    ]  # fmt: skip
    for mount, device, size, pct in (("/", "/dev/mmcblk0p2", 29.1, 46.3), ("/data", "/dev/sda1", 458.0, 87.4)):
        labels = {"mount": mount, "device": device, "fstype": "ext4"}
        out += [metric("disk.total", size * gib, "B", **labels),
                metric("disk.used", size * gib * pct / 100, "B", **labels),
                metric("disk.percent", pct, "%", **labels)]  # fmt: skip
    for device, scale in (("mmcblk0", 0.3), ("sda", 1.0)):
        out += [
            metric("diskio.read_bytes", scale * abs(1.8e6 * math.sin(t / 23)), "B/s", device=device),
            metric("diskio.write_bytes", scale * (4e5 + abs(2.6e6 * math.sin(t / 31 + 1))), "B/s", device=device),
        ]
    procs = (("python3", 412, 9.5, 88e6), ("mosquitto", 733, 3.1, 12e6), ("java", 1021, 2.4, 310e6),
             ("sshd", 655, 0.6, 9e6), ("systemd-journal", 211, 0.4, 41e6))  # fmt: skip
    out.append(metric("system.process_count", 143.0))
    for rank, (name, pid, cpu_pct, _) in enumerate(sorted(procs, key=lambda p: -p[2]), start=1):
        out.append(metric("process.cpu_percent", round(cpu_pct * (1 + 0.3 * math.sin(t / 9 + pid)), 1), "%",
                          pid=str(pid), process=name, rank=str(rank)))  # fmt: skip
    for rank, (name, pid, _, rss) in enumerate(sorted(procs, key=lambda p: -p[3]), start=1):
        out.append(metric("process.memory_rss", rss, "B", pid=str(pid), process=name, rank=str(rank)))
    for nic, scale in (("eth0", 1.0), ("wlan0", 0.25), ("lo", 3.0)):
        out += [
            metric("net.bytes_recv", scale * (6e5 + 4.5e5 * math.sin(t / 17)), "B/s", interface=nic),
            metric("net.bytes_sent", scale * (1.6e5 + 9e4 * math.sin(t / 13 + 2)), "B/s", interface=nic),
            metric("net.errors_in", 0.0, "errors/s", interface=nic),
        ]
    return out


def alerts_doc(*alerts: dict[str, Any]) -> dict[str, Any]:
    """An `edgewatch.alerts/1` notification as the AlertRouter's local-topic receiver sends it."""
    return {"schema": "edgewatch.alerts/1", "alerts": list(alerts)}


def alert(fingerprint: str, status: str, labels: dict[str, str], *, value: float | None, summary: str,
          starts_at: int, ends_at: int | None = None) -> dict[str, Any]:  # fmt: skip
    return {"fingerprint": fingerprint, "status": status, "labels": labels, "annotations": {"summary": summary},
            "value": value, "startsAt": starts_at, "endsAt": ends_at}  # fmt: skip


def health_doc(component: str, thing: str, ts_ms: int, status: str = "healthy", reasons: tuple[str, ...] = (),
               interval_s: float = 30) -> dict[str, Any]:  # fmt: skip
    return {"schema": "edgewatch.health/1", "component": component, "thing": thing, "ts": ts_ms,
            "intervalSeconds": interval_s, "status": status, "reasons": list(reasons), "counters": {}}  # fmt: skip
