"""`kill -9` of the runtime, then a restart: no orphan, exactly one copy of each component, no
duplicate IoT batch, no false CollectorSilent.

Real processes throughout: the runtime is `edgewatch local start --detach`; the real MetricsCollector
and AlertRouter are built and deployed by the CLI (with this interpreter as EDGEWATCH_PYTHON, so no
venv is installed), plus a component whose Run step does not `exec` (its shell forks the command),
so the survivor sweep at start is exercised and not only the parent-death signal.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from edgewatch.build.suite import build_components
from edgewatch.local.iot_core import read_records
from edgewatch.local.layout import RuntimeLayout
from edgewatch.local.testing import wait_until
from edgewatch_testkit.cli import deploy_built, edgewatch, start_detached_runtime

REPO = Path(__file__).resolve().parents[2]
THING = "gw-crash"
COLLECTOR, ROUTER, NOEXEC = "com.edgewatch.MetricsCollector", "com.edgewatch.AlertRouter", "com.test.NoExec"
MARKS = {COLLECTOR: "metrics_collector", ROUTER: "alert_router", NOEXEC: "sleep"}
SILENT_S = 10  # CollectorSilent fires after this long without collector samples


def runtime_pid(root: Path) -> int:
    return int(json.loads((root / "runtime.json").read_text())["pid"])


def component_processes(root: Path) -> dict[str, list[psutil.Process]]:
    """Every live process started for a component of this root (found by the IPC socket in its environment)."""
    socket_path = RuntimeLayout(root.resolve()).socket_path
    found: dict[str, list[psutil.Process]] = {name: [] for name in MARKS}
    for process in psutil.process_iter():
        try:
            if process.status() == psutil.STATUS_ZOMBIE:
                continue
            if process.environ().get("AWS_GG_NUCLEUS_DOMAIN_SOCKET_FILEPATH_FOR_COMPONENT") != socket_path:
                continue
            cmdline = " ".join(process.cmdline())
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
        for name, mark in MARKS.items():
            if mark in cmdline and not cmdline.startswith("sh -c"):
                found[name].append(process)
    return found


def iot_records(root: Path) -> list[dict[str, Any]]:
    return read_records(RuntimeLayout(root).iot_core_log())


def batches(root: Path) -> list[dict[str, Any]]:
    return [json.loads(r["payload"]) for r in iot_records(root) if r["topic"] == f"dt/edgewatch/{THING}/metrics"]


def alerts_text(root: Path) -> str:
    return "\n".join(r["payload"] for r in iot_records(root) if r["topic"] == f"dt/edgewatch/{THING}/alerts")


@pytest.fixture
def root(tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "rt"
    yield root
    edgewatch("local", "stop", "--root", str(root), timeout=60)
    for processes in component_processes(root).values() if root.exists() else []:
        for process in processes:  # never leave anything behind, even when the test failed
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()


def _running(root: Path) -> bool:
    listed = edgewatch("local", "component", "list", "--root", str(root)).stdout
    return all(f"{name} " in listed and "RUNNING" in listed.split(f"{name} ", 1)[1].splitlines()[0]
               for name in MARKS)


@pytest.mark.timeout(420)
def test_runtime_kill_9_and_restart_leaves_no_orphan_and_no_duplicate(root: Path, tmp_path: Path) -> None:
    out = tmp_path / "gg"
    built = build_components(REPO, [COLLECTOR, ROUTER], out_dir=out)
    noexec = out / "recipes" / f"{NOEXEC}-1.0.0.yaml"
    noexec.write_text(f"RecipeFormatVersion: '2020-01-25'\nComponentName: {NOEXEC}\nComponentVersion: 1.0.0\n"
                      "Manifests:\n  - Platform: {os: linux}\n    Lifecycle:\n"
                      "      Run: sleep 3600; echo the shell forks sleep\n")
    update = tmp_path / "update.json"
    update.write_text(json.dumps({
        COLLECTOR: {"MERGE": {"sampleIntervalSeconds": 0.5, "iotPublishIntervalSeconds": 1, "iotPublishMode": "raw"}},
        ROUTER: {"MERGE": {"rules": [{"name": "CollectorSilent", "metric": "collector.samples_taken_total",
                                      "absentFor": f"{SILENT_S}s", "severity": "critical"}],
                           "route": {"receiver": "default", "groupWait": "0s"}}},
    }))
    start_detached_runtime(root, THING)
    deploy_built(root, out, built, update, "--merge", f"{NOEXEC}=1.0.0")
    wait_until(lambda: len(batches(root)) >= 3, timeout=60, what="IoT batches before the crash")
    before = component_processes(root)
    assert {name: len(p) for name, p in before.items()} == {name: 1 for name in MARKS}
    old_pids = {p.pid for processes in before.values() for p in processes}
    # Each component runs in its own session, away from the runtime's process group.
    old_runtime = runtime_pid(root)
    assert all(os.getsid(pid) != os.getsid(old_runtime) for pid in old_pids)

    os.kill(old_runtime, signal.SIGKILL)
    wait_until(lambda: not psutil.pid_exists(old_runtime) or psutil.Process(old_runtime).status() == "zombie",
               timeout=10, what="runtime gone")
    crashed_at = time.time()
    start_detached_runtime(root, THING)
    wait_until(lambda: _running(root), timeout=120, interval=0.5, what="components RUNNING after the restart")

    # No orphan: every process of the crashed run is gone (by pid, checked against its start time).
    def orphans() -> list[int]:
        alive = []
        for processes in before.values():
            for process in processes:
                with contextlib.suppress(psutil.NoSuchProcess):
                    if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                        alive.append(process.pid)
        return alive

    wait_until(lambda: not orphans(), timeout=15, what="no orphan of the crashed run")
    # Exactly one copy of each component, all new.
    after = component_processes(root)
    assert {name: len(p) for name, p in after.items()} == {name: 1 for name in MARKS}, after
    assert not {p.pid for processes in after.values() for p in processes} & old_pids
    runtime_log = (root / "logs" / "runtime.log").read_text()
    assert "left by a runtime that did not stop cleanly" in runtime_log and NOEXEC in runtime_log

    # A bounded window after the restart: batches keep coming, none repeated or overlapping, no false alert.
    count = len(batches(root))
    wait_until(lambda: len(batches(root)) >= count + 8 and time.time() - crashed_at > SILENT_S + 4, timeout=60,
               interval=0.5, what="batches after the restart, for longer than CollectorSilent's absentFor")
    observed = batches(root)
    stamps = [sample["ts"] for batch in observed for sample in batch["samples"]]
    assert len(stamps) == len(set(stamps)), "a sample reached IoT Core twice"
    ordered = sorted(observed, key=lambda b: b["from"])
    for earlier, later in itertools.pairwise(ordered):
        assert later["from"] > earlier["to"], f"overlapping batches {earlier['from']}..{earlier['to']} " \
                                              f"and {later['from']}..{later['to']}: two collectors"
    assert "CollectorSilent" not in alerts_text(root)
