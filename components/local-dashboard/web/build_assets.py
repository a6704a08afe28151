"""Build the LocalDashboard's static assets: the page files plus uPlot from npm, each with a .gz twin.

    build_assets(out_dir) -> [written paths]
    python components/local-dashboard/web/build_assets.py OUT_DIR

uPlot is pinned exactly in package.json / package-lock.json. `npm ci` runs only when node_modules
is missing, older than the lockfile, or holds another uPlot version than the lock, so repeated
builds are offline and fast. The output holds everything the page needs: a device needs neither
npm nor internet.
"""

from __future__ import annotations

import fcntl
import gzip
import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

log = logging.getLogger(__name__)

WEB_DIR = Path(__file__).resolve().parent
PAGE_FILES = ("index.html", "login.html", "app.js", "app.css", "favicon.svg", "fleet.html", "fleet.js", "fleet.css")
UPLOT_FILES = ("uPlot.iife.min.js", "uPlot.min.css")
NPM_CI = ("npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund")
NPM_TIMEOUT_SECONDS = 300


class AssetBuildError(RuntimeError):
    """The assets cannot be built (npm missing or failing, a source file missing)."""


def _locked_uplot_version(web_dir: Path) -> str:
    lock = json.loads((web_dir / "package-lock.json").read_text(encoding="utf-8"))
    try:
        return str(lock["packages"]["node_modules/uplot"]["version"])
    except (KeyError, TypeError) as exc:
        raise AssetBuildError(f"{web_dir / 'package-lock.json'}: no entry for node_modules/uplot") from exc


def _installed_uplot_version(web_dir: Path) -> str | None:
    try:
        return str(json.loads((web_dir / "node_modules/uplot/package.json").read_text(encoding="utf-8"))["version"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def needs_npm_ci(web_dir: Path = WEB_DIR) -> bool:
    """True when node_modules is missing, older than package-lock.json, or not the locked uPlot."""
    # npm writes node_modules/.package-lock.json on every install: its mtime is the install's time.
    stamp = web_dir / "node_modules" / ".package-lock.json"
    if not stamp.is_file() or stamp.stat().st_mtime < (web_dir / "package-lock.json").stat().st_mtime:
        return True
    if any(not (web_dir / "node_modules/uplot/dist" / name).is_file() for name in UPLOT_FILES):
        return True
    return _installed_uplot_version(web_dir) != _locked_uplot_version(web_dir)


def _npm_ci(web_dir: Path) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise AssetBuildError(
            "npm is not installed: the dashboard's assets need it once to fetch the pinned uPlot "
            "(apt-get install nodejs npm, or run scripts/setup.sh)"
        )
    log.info("running npm ci in %s", web_dir)
    try:
        done = subprocess.run(
            [npm, *NPM_CI[1:]], cwd=web_dir, capture_output=True, text=True, timeout=NPM_TIMEOUT_SECONDS, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise AssetBuildError(f"npm ci in {web_dir} did not finish within {NPM_TIMEOUT_SECONDS} s") from exc
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-10:]
        raise AssetBuildError(f"npm ci in {web_dir} failed (exit {done.returncode}): " + " | ".join(tail))


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def build_assets(out_dir: Path, web_dir: Path = WEB_DIR) -> list[Path]:
    """Copy the page files and uPlot into out_dir, each with a precompressed .gz; return the paths written."""
    out_dir = Path(out_dir)
    sources = [web_dir / name for name in PAGE_FILES]
    missing = [str(p) for p in sources if not p.is_file()]
    if missing:
        raise AssetBuildError("dashboard page files missing: " + ", ".join(missing))
    # One build at a time per checkout: two concurrent `npm ci` in one folder would clobber each other.
    with open(web_dir / "package-lock.json", "rb") as lock_fd:
        fcntl.flock(lock_fd, fcntl.LOCK_EX)
        try:
            if needs_npm_ci(web_dir):
                _npm_ci(web_dir)
            sources += [web_dir / "node_modules/uplot/dist" / name for name in UPLOT_FILES]
            contents = {src.name: src.read_bytes() for src in sources}
        finally:
            fcntl.flock(lock_fd, fcntl.LOCK_UN)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name, data in contents.items():
        target = out_dir / name
        _write(target, data)
        # mtime=0 keeps the .gz byte-identical between builds (reproducible artifacts).
        _write(target.with_name(name + ".gz"), gzip.compress(data, compresslevel=9, mtime=0))
        written += [target, target.with_name(name + ".gz")]
    log.info("dashboard assets: %d files in %s", len(written), out_dir)
    return written


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        sys.stderr.write("usage: build_assets.py OUT_DIR\n")
        return 2
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        written = build_assets(Path(args[0]))
    except AssetBuildError as exc:
        log.error("%s", exc)
        return 1
    sys.stdout.write("".join(f"{p}\n" for p in written))
    return 0


if __name__ == "__main__":
    sys.exit(main())
