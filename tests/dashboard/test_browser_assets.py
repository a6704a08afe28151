"""The dashboard's built assets: complete, offline, CSP-clean, and within the 150 KB page budget
(HTML + JS + CSS, compressed), measured both on the built files and as a browser receives them."""

from __future__ import annotations

import gzip
import importlib.util
import logging
import os
import re
import shutil
import sys
import time
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from types import ModuleType

import pytest
from playwright.sync_api import expect

from tests.dashboard.browser import chromium, gateway_metrics, log_in, metrics_doc, open_page
from tests.dashboard.conftest import DashboardHandle, start_dashboard

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "components" / "local-dashboard" / "web"
BUDGET_BYTES = 150 * 1024
logger = logging.getLogger(__name__)
PAGE = ["index.html", "app.js", "app.css", "uPlot.iife.min.js", "uPlot.min.css"]
BUILT = [*PAGE, "login.html", "favicon.svg", "fleet.html", "fleet.js", "fleet.css"]
PAGE_PATHS = ("/", "/static/app.js", "/static/app.css", "/static/uPlot.iife.min.js", "/static/uPlot.min.css")


def load_build_assets() -> ModuleType:
    spec = importlib.util.spec_from_file_location("dashboard_build_assets", WEB / "build_assets.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def build_assets() -> ModuleType:
    return load_build_assets()


@pytest.fixture(scope="module")
def built(build_assets: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = Path(tmp_path_factory.mktemp("static"))
    written = build_assets.build_assets(out)
    assert sorted(p.name for p in written) == sorted([name for f in BUILT for name in (f, f + ".gz")])
    return out


def test_built_page_is_within_150_kb_compressed_and_each_gz_is_its_file(built: Path) -> None:
    total = 0
    for name in PAGE:
        raw = (built / name).read_bytes()
        packed = (built / (name + ".gz")).read_bytes()
        assert gzip.decompress(packed) == raw, name
        total += len(packed)
    assert total <= BUDGET_BYTES, f"page weighs {total} bytes compressed (budget {BUDGET_BYTES})"
    assert total > 20_000  # uPlot alone is ~22 KB compressed: the sum really counted the files


def test_builds_are_reproducible_and_npm_is_not_run_again(build_assets: ModuleType, built: Path,
                                                          tmp_path: Path) -> None:  # fmt: skip
    assert not build_assets.needs_npm_ci()
    again = tmp_path / "again"
    build_assets.build_assets(again)
    for name in BUILT:
        assert (again / (name + ".gz")).read_bytes() == (built / (name + ".gz")).read_bytes(), name


def test_node_modules_older_than_the_lockfile_needs_npm_ci(build_assets: ModuleType, tmp_path: Path) -> None:
    web = tmp_path / "web"
    shutil.copytree(WEB, web, symlinks=True)
    assert not build_assets.needs_npm_ci(web)
    lock = web / "package-lock.json"
    stamp = (web / "node_modules" / ".package-lock.json").stat().st_mtime
    os.utime(lock, (stamp + 10, stamp + 10))
    assert build_assets.needs_npm_ci(web)


def test_missing_npm_is_a_clear_error(build_assets: ModuleType, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    web = tmp_path / "web"
    shutil.copytree(WEB, web, ignore=shutil.ignore_patterns("node_modules"))
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))
    with pytest.raises(build_assets.AssetBuildError, match=r"npm is not installed.*apt-get install nodejs npm"):
        build_assets.build_assets(tmp_path / "out", web_dir=web)
    assert not (tmp_path / "out").exists()  # nothing half-built


class _Scan(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []
        self.assets: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        for name, _ in attrs:
            if name.startswith("on") or name == "style":
                self.problems.append(f"<{tag} {name}=...>")
        if tag == "style":
            self.problems.append("<style>")
        if tag == "script":
            if not a.get("src"):
                self.problems.append("inline <script>")
            else:
                self.assets.append(str(a["src"]))
        if tag == "link" and a.get("href"):
            self.assets.append(str(a["href"]))


@pytest.mark.parametrize("page", ["index.html", "login.html", "fleet.html"])
def test_pages_have_no_inline_script_or_style_and_load_only_built_files(built: Path, page: str) -> None:
    scan = _Scan()
    scan.feed((built / page).read_text(encoding="utf-8"))
    assert scan.problems == []
    assert scan.assets, "the page loads nothing?"
    for url in scan.assets:
        assert re.fullmatch(r"/static/[\w.]+", url), f"{page}: {url} is not one of our static files"
        assert (built / url.removeprefix("/static/")).is_file(), url


def test_the_script_never_parses_data_as_html() -> None:
    source = (WEB / "app.js").read_text(encoding="utf-8") + (WEB / "fleet.js").read_text(encoding="utf-8")
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function",
                 "setAttribute('style'", 'setAttribute("style"'):  # fmt: skip
        assert sink not in source, sink


@pytest.fixture(scope="module")
def dash(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DashboardHandle]:
    runtime, handle = start_dashboard(Path(tmp_path_factory.mktemp("dash")))
    yield handle
    handle.close()
    runtime.stop()


def test_the_browser_gets_the_page_gzipped_within_budget_and_draws_a_chart_quickly(
    dash: DashboardHandle, record_property: pytest.RecordProperty,
) -> None:  # fmt: skip
    now = time.time()
    for back in range(300, -1, -2):  # five minutes of history to draw
        t = now - back
        dash.publish("edgewatch/metrics", metrics_doc(dash.thing, int(t * 1000), gateway_metrics(t)))
    with chromium() as context:
        page, log = open_page(context)
        responses: list = []
        page.on("response", lambda response: responses.append(response))
        log_in(page, dash.url, dash.password)
        responses.clear()  # only the page load below, not the login's own requests
        started = time.monotonic()
        page.reload()
        expect(page.locator('.chart[data-chart="cpu"] canvas').first).to_be_attached()
        first_chart_s = time.monotonic() - started
        sizes = {}
        for response in responses:
            path = response.url.removeprefix(dash.url)
            kind = response.request.resource_type
            if kind in ("document", "script", "stylesheet") and path in PAGE_PATHS:
                response.finished()
                sizes[path] = response.request.sizes()["responseBodySize"]
                if path.startswith("/static/"):
                    assert response.headers.get("content-encoding") == "gzip", path
        assert len(sizes) == 5, sizes
        total = sum(sizes.values())
        logger.info("page weight %d bytes as received; first chart %.3f s after navigation", total, first_chart_s)
        record_property("page_weight_bytes", total)
        record_property("first_chart_seconds", round(first_chart_s, 3))
        assert total <= BUDGET_BYTES, sizes
        assert first_chart_s < 5.0, f"first chart after {first_chart_s:.2f} s"
        assert log.foreign_requests(dash.url) == []
