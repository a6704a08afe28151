"""Soak: the suite on the local runtime at a fast sample interval; memory and file descriptors over time.

    .venv/bin/python bench/soak.py [--seconds 600] [--interval 0.2] [--every 5] [--json]

Builds the MetricsCollector and AlertRouter, starts a detached runtime (`edgewatch local start`) in
a temporary root, deploys both with `sampleIntervalSeconds` = --interval (components use this
tool's Python, as `local up --dev-python` does), then reads RSS and open file descriptors of the
runtime and of every component process every --every seconds. It prints, per process, the figures
of the first and the last quarter of the run (after a warm-up of one sampling period), the peak,
and what flowed (samples on IoT Core, restarts). With --json it prints one JSON document instead,
which `tests/faults/test_soak.py` reads to assert flat memory and descriptors.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

REPO = Path(__file__).resolve().parents[1]
COMPONENTS = ("com.edgewatch.MetricsCollector", "com.edgewatch.AlertRouter")


@dataclass
class Series:
    rss: list[tuple[float, int]] = field(default_factory=list)
    fds: list[tuple[float, int]] = field(default_factory=list)
    pids: set[int] = field(default_factory=set)


def edgewatch(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edgewatch.cli", *args], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL, check=False)


def checked(result: subprocess.CompletedProcess[str], what: str) -> None:
    if result.returncode != 0:
        raise SystemExit(f"soak: {what} failed ({result.returncode}): {result.stderr.strip() or result.stdout.strip()}")


def component_of(proc: psutil.Process) -> str | None:
    """Which component a process belongs to, from the SVCUID-bearing environment's cwd (work dir)."""
    try:
        cwd = proc.cwd()
    except (psutil.Error, OSError):
        return None
    for name in COMPONENTS:
        if cwd.endswith(f"/work/{name}"):
            return name
    return None


def read_processes(runtime: psutil.Process) -> dict[str, list[psutil.Process]]:
    found: dict[str, list[psutil.Process]] = {"runtime": [runtime]}
    for child in runtime.children(recursive=True):
        name = component_of(child)
        try:
            is_python = "python" in child.name()
        except psutil.Error:
            continue
        if name is not None and is_python:
            found.setdefault(name, []).append(child)
    return found


def quarter_means(points: list[tuple[float, int]], start: float, end: float) -> tuple[float, float, int]:
    span = end - start
    first = [v for t, v in points if start <= t < start + span / 4]
    last = [v for t, v in points if t >= end - span / 4]
    peak = max((v for _, v in points), default=0)
    return (statistics.fmean(first) if first else 0.0, statistics.fmean(last) if last else 0.0, peak)


def run(seconds: float, interval: float, every: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="ew-soak-") as tmp:
        root, build = Path(tmp) / "root", Path(tmp) / "build"
        checked(edgewatch("build", "--repo-root", str(REPO), "--out", str(build), *COMPONENTS), "build")
        checked(edgewatch("local", "start", "--root", str(root), "--thing-name", "soak", "--detach",
                          "--env", f"EDGEWATCH_PYTHON={sys.executable}"), "local start")
        info = json.loads((root / "runtime.json").read_text())
        runtime = psutil.Process(int(info["pid"]))
        try:
            update = {"com.edgewatch.MetricsCollector": {"MERGE": {
                "sampleIntervalSeconds": interval, "iotPublishIntervalSeconds": 5}}}
            merges = []
            for name in COMPONENTS:
                version = next((build / "artifacts" / name).iterdir()).name
                merges += ["--merge", f"{name}={version}"]
            checked(edgewatch("local", "deployment", "create", "--root", str(root),
                              "--recipeDir", str(build / "recipes"), "--artifactDir", str(build / "artifacts"),
                              *merges, "--update-config", json.dumps(update), "--wait"), "deployment")
            series: dict[str, Series] = {}
            t0 = time.monotonic()
            next_read = t0
            while True:
                now = time.monotonic()
                if now - t0 >= seconds:
                    break
                if now >= next_read:
                    for name, procs in read_processes(runtime).items():
                        entry = series.setdefault(name, Series())
                        rss = fds = 0
                        for proc in procs:
                            try:
                                rss += proc.memory_info().rss
                                fds += proc.num_fds()
                                entry.pids.add(proc.pid)
                            except psutil.Error:
                                continue
                        entry.rss.append((now - t0, rss))
                        entry.fds.append((now - t0, fds))
                    next_read += every
                time.sleep(min(0.5, max(0.0, next_read - time.monotonic())))
            iot_lines = 0
            iot_log = root / "iotcore" / "messages.jsonl"
            if iot_log.exists():
                iot_lines = sum(1 for _ in iot_log.open())
            status = edgewatch("local", "component", "list", "--root", str(root)).stdout
        finally:
            edgewatch("local", "stop", "--root", str(root))
    warm = min(every * 2, seconds / 4)
    report: dict[str, Any] = {"seconds": seconds, "interval": interval, "iotCoreMessages": iot_lines,
                              "components": status.strip().splitlines(), "processes": {}}
    for name, entry in series.items():
        rss_first, rss_last, rss_peak = quarter_means(entry.rss, warm, seconds)
        fd_first, fd_last, fd_peak = quarter_means(entry.fds, warm, seconds)
        report["processes"][name] = {
            "rssFirstMiB": round(rss_first / 2**20, 2), "rssLastMiB": round(rss_last / 2**20, 2),
            "rssPeakMiB": round(rss_peak / 2**20, 2), "fdFirst": round(fd_first, 1), "fdLast": round(fd_last, 1),
            "fdPeak": fd_peak, "pids": sorted(entry.pids),
        }  # fmt: skip
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--interval", type=float, default=0.2)
    parser.add_argument("--every", type=float, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    report = run(args.seconds, args.interval, args.every)
    if args.json:
        print(json.dumps(report))
        return
    print(f"soak: {report['seconds']:.0f} s at sampleIntervalSeconds={report['interval']}, "
          f"{report['iotCoreMessages']} IoT Core messages")
    print(f"{'process':34} {'RSS first¼':>11} {'RSS last¼':>10} {'RSS peak':>9} {'FDs first¼':>11} "
          f"{'FDs last¼':>10} {'pids':>5}")
    for name, p in report["processes"].items():
        print(f"{name:34} {p['rssFirstMiB']:>9.1f}Mi {p['rssLastMiB']:>8.1f}Mi {p['rssPeakMiB']:>7.1f}Mi "
              f"{p['fdFirst']:>11.1f} {p['fdLast']:>10.1f} {len(p['pids']):>5}")
    for line in report["components"]:
        print(f"  {line}")


if __name__ == "__main__":
    main()
