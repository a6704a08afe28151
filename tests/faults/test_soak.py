"""The 60 s soak: the suite on the local runtime at a 0.2 s sample interval keeps flat memory and fds.

Runs `bench/soak.py --seconds 60 --json` (the same code as the 10-minute soak whose figures are in
the README) in a subprocess and asserts on its report: every process was seen, none restarted, RSS
of the last quarter stays within a small margin of the first quarter and descriptors do not grow.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
RSS_GROWTH_LIMIT_MIB = 6.0
FD_GROWTH_LIMIT = 2


@pytest.mark.timeout(240)
def test_sixty_second_soak_keeps_memory_and_descriptors_flat() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "bench" / "soak.py"), "--seconds", "60", "--every", "2", "--json"],
        capture_output=True, text=True, timeout=220, stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    processes = report["processes"]
    assert set(processes) == {"runtime", "com.edgewatch.MetricsCollector", "com.edgewatch.AlertRouter"}, processes
    for name, figures in processes.items():
        assert len(figures["pids"]) == 1, f"{name} restarted during the soak: {figures}"
        growth = figures["rssLastMiB"] - figures["rssFirstMiB"]
        assert growth < RSS_GROWTH_LIMIT_MIB, f"{name} RSS grew {growth:.1f} MiB in 60 s: {figures}"
        assert figures["fdLast"] <= figures["fdFirst"] + FD_GROWTH_LIMIT, f"{name} leaks descriptors: {figures}"
    assert all("RUNNING" in line for line in report["components"]), report["components"]
    assert report["iotCoreMessages"] >= 5, report
