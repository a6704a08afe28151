"""Headless Debian Chromium for the dashboard's browser tests (Playwright's sync API).

`playwright install` cannot download browsers here, so Playwright's bundled driver drives the
system's /usr/bin/chromium (scripts/setup.sh installs it). Every launch gets a fresh profile folder
that is removed afterwards. `PageLog` records what a page did (requests, WebSockets, dialogs,
errors) so tests can assert on it.
"""

from __future__ import annotations

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
