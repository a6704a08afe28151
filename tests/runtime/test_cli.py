"""`edgewatch local ...` end to end, as a user types it, in subprocesses."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from edgewatch.local.testing import wait_until
from edgewatch_testkit.cli import edgewatch
from tests.runtime.conftest import Workspace

REPO = Path(__file__).resolve().parents[2]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def detached_root(tmp_path: Path):
    root = tmp_path / "rt"
    started = edgewatch("local", "start", "--root", str(root), "--thing-name", "gw-cli", "--detach")
    assert started.returncode == 0, started.stderr
    yield root
    edgewatch("local", "stop", "--root", str(root))


def test_cli_deploys_reconfigures_lists_restarts_and_stops(workspace: Workspace, detached_root: Path) -> None:
    root = str(detached_root)
    workspace.probe("com.test.Cli", "1.0.0", config="{level: 1}")
    created = edgewatch("local", "deployment", "create", "--root", root, "--recipeDir", str(workspace.recipes),
                        "--artifactDir", str(workspace.artifacts), "--merge", "com.test.Cli=1.0.0", "--wait")
    assert created.returncode == 0, created.stdout + created.stderr
    assert "Deployment Id:" in created.stdout and "SUCCEEDED" in created.stdout
    assert "com.test.Cli 1.0.0 RUNNING" in edgewatch("local", "component", "list", "--root", root).stdout

    update = workspace.recipes.parent / "update.json"
    update.write_text(json.dumps({"com.test.Cli": {"MERGE": {"level": 2}}}))
    reconfigured = edgewatch("local", "deployment", "create", "--root", root, "--update-config", f"@{update}",
                             "--wait")
    assert reconfigured.returncode == 0, reconfigured.stdout
    status = edgewatch("local", "deployment", "status", "--root", root)
    assert "SUCCEEDED" in status.stdout
    assert len(edgewatch("local", "deployment", "list", "--root", root).stdout.strip().splitlines()) == 2

    failed = edgewatch("local", "deployment", "create", "--root", root, "--recipeDir", str(workspace.recipes),
                       "--merge", "com.test.Missing=9.9.9", "--wait")
    assert failed.returncode == 1 and "FAILED: no recipe for com.test.Missing-9.9.9" in failed.stdout

    events = detached_root / "work" / "com.test.Cli" / "events.log"
    pids = lambda: [int(line.split()[1]) for line in events.read_text().splitlines() if line.startswith("started")]  # noqa: E731
    first = wait_until(pids)
    assert edgewatch("local", "component", "restart", "com.test.Cli", "--root", root).returncode == 0
    second = wait_until(lambda: len(pids()) == 2 and pids())[-1]
    assert not alive(first[0]) and alive(second)
    assert "state RUNNING" in edgewatch("local", "logs", "com.test.Cli", "--root", root).stdout
    assert edgewatch("local", "component", "stop", "com.test.Cli", "--root", root).returncode == 0
    assert not alive(second)
    assert "com.test.Cli 1.0.0 FINISHED" in edgewatch("local", "component", "list", "--root", root).stdout

    assert edgewatch("local", "component", "restart", "com.test.Cli", "--root", root).returncode == 0
    third = wait_until(lambda: len(pids()) == 3 and pids())[-1]
    stopped = edgewatch("local", "stop", "--root", root)
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    assert not alive(third)  # stopping the runtime leaves no component process behind


def test_cli_errors_are_one_clear_line(tmp_path: Path, detached_root: Path) -> None:
    nowhere = edgewatch("local", "component", "list", "--root", str(tmp_path / "none"))
    assert nowhere.returncode == 2 and "no runtime runs under" in nowhere.stderr
    bad_json = edgewatch("local", "deployment", "create", "--root", str(detached_root), "--update-config", "{x")
    assert bad_json.returncode == 2 and "--update-config is not valid JSON" in bad_json.stderr
    bad_merge = edgewatch("local", "deployment", "create", "--root", str(detached_root), "--merge", "nover")
    assert bad_merge.returncode == 2 and "NAME=VERSION" in bad_merge.stderr
    no_key = edgewatch("local", "start", "--root", str(tmp_path / "b"), "--mqtt-endpoint", "localhost:8883",
                       "--mqtt-cert", str(tmp_path / "c.pem"))
    assert no_key.returncode == 2 and "--mqtt-endpoint needs --mqtt-cert and --mqtt-key" in no_key.stderr
    missing = edgewatch("local", "start", "--root", str(tmp_path / "b"), "--mqtt-endpoint", "localhost:8883",
                        "--mqtt-cert", str(tmp_path / "c.pem"), "--mqtt-key", str(tmp_path / "k.pem"))
    assert missing.returncode == 2 and "MQTT certificate file not found" in missing.stderr
    twice = edgewatch("local", "start", "--root", str(detached_root), "--detach")
    assert twice.returncode == 2 and "already runs" in twice.stderr


def test_local_up_builds_and_runs_the_suite(tmp_path: Path) -> None:
    result = edgewatch("local", "up", "--root", str(tmp_path / "up"), "--thing-name", "gw-up", "--dev-python",
                       "--repo-root", str(REPO), "--exit-after-deploy", timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "com.edgewatch.MetricsCollector 0.1.0: RUNNING" in result.stdout
    assert "com.edgewatch.AlertRouter 0.1.0: RUNNING" in result.stdout
    assert "IoT Core" in result.stdout and "stopped." in result.stdout
    log_text = (tmp_path / "up" / "logs" / "com.edgewatch.MetricsCollector.log").read_text()
    assert "state FINISHED" in log_text.splitlines()[-1]
