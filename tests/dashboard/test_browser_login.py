"""The login page in a real browser: no session means the login page; a wrong password is refused."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.dashboard.browser import chromium, log_in, open_page
from tests.dashboard.conftest import DashboardHandle, start_dashboard


@pytest.fixture(scope="module")
def dash(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DashboardHandle]:
    runtime, handle = start_dashboard(Path(tmp_path_factory.mktemp("dash")))
    yield handle
    handle.close()
    runtime.stop()


def session_cookies(context: object) -> list[dict]:
    return [c for c in context.cookies() if c["name"] == "edgewatch_session"]  # type: ignore[attr-defined]


def test_without_a_session_the_page_redirects_to_login_and_the_api_answers_401(dash: DashboardHandle) -> None:
    with chromium() as context:
        page, log = open_page(context)
        page.goto(dash.url + "/")
        expect(page).to_have_url(dash.url + "/login")
        expect(page.locator("#password")).to_be_visible()
        expect(page.locator("#login-error")).to_have_text("")
        for path in ("/api/v1/series?range=5m", "/api/v1/alerts", "/api/v1/info"):
            response = page.request.get(dash.url + path)
            assert response.status == 401, path
        assert log.script_errors() == [] and log.csp_violations() == []


def test_a_wrong_password_shows_an_error_and_gives_no_session(dash: DashboardHandle) -> None:
    with chromium() as context:
        page, log = open_page(context)
        page.goto(dash.url + "/login")
        page.fill("#password", "not-" + dash.password)
        page.click("#login-submit")
        expect(page.locator("#login-error")).to_have_text("Wrong password")
        expect(page).to_have_url(re.compile(r"/login(\?error=1)?$"))
        assert session_cookies(context) == []
        page.goto(dash.url + "/")
        expect(page).to_have_url(dash.url + "/login")
        assert log.script_errors() == [] and log.csp_violations() == []


def test_the_right_password_opens_the_dashboard_and_logout_closes_it(dash: DashboardHandle) -> None:
    with chromium() as context:
        page, log = open_page(context)
        log_in(page, dash.url, dash.password)
        cookie = session_cookies(context)
        assert len(cookie) == 1 and cookie[0]["httpOnly"] and cookie[0]["sameSite"] == "Strict"
        expect(page.locator("#thing")).to_have_text(dash.thing)
        page.click(".logout button")
        expect(page).to_have_url(dash.url + "/login")
        page.goto(dash.url + "/")
        expect(page).to_have_url(dash.url + "/login")
        assert log.script_errors() == [] and log.csp_violations() == []


def test_without_script_the_plain_form_shows_the_error_from_the_query_string(dash: DashboardHandle) -> None:
    with chromium(java_script_enabled=False) as context:
        page, _ = open_page(context)
        page.goto(dash.url + "/login")
        page.fill("#password", "wrong")
        page.click("#login-submit")
        expect(page).to_have_url(dash.url + "/login?error=1")
        page.goto(dash.url + "/login")
        page.fill("#password", dash.password)
        page.click("#login-submit")
        # The plain form POST carries the page's real Origin (meta referrer same-origin), so it is accepted.
        expect(page).to_have_url(dash.url + "/")
        assert len(session_cookies(context)) == 1


def test_repeated_failures_are_slowed_down_and_the_page_says_for_how_long(dash: DashboardHandle) -> None:
    # Last in this module: it locks 127.0.0.1 out for a moment.
    with chromium() as context:
        page, log = open_page(context)
        page.goto(dash.url + "/login")
        error = page.locator("#login-error")
        for attempt in range(12):
            page.fill("#password", f"guess-{attempt}")
            page.click("#login-submit")
            expect(page.locator("#login-submit")).to_be_enabled()
            if error.text_content().startswith("Too many failed attempts"):
                break
            expect(error).to_have_text("Wrong password")
        expect(error).to_have_text(re.compile(r"^Too many failed attempts: try again in \d+s$"))
        assert attempt >= 5, f"locked out after only {attempt} failures"
        # Even the right password is refused while locked out.
        page.fill("#password", dash.password)
        page.click("#login-submit")
        expect(error).to_have_text(re.compile(r"^Too many failed attempts"))
        assert session_cookies(context) == []
        assert log.script_errors() == []
