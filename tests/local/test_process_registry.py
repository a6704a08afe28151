"""The crash sweep ends exactly the processes a previous run of this root started, nothing else."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

from edgewatch.local.process_registry import INSTANCE_ENV, ChildSetup, ProcessRegistry
from edgewatch.local.testing import wait_until


def _alive(process: subprocess.Popen[bytes]) -> bool:
    return process.poll() is None


def _sleeper(env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True,
                            env={**os.environ, **(env or {})})


def test_sweep_ends_marked_survivors_and_spares_a_recycled_pid(tmp_path: Path) -> None:
    state = tmp_path / "state" / "processes.json"
    previous = ProcessRegistry(state, instance="previous-run")
    survivor = _sleeper(previous.env)
    stranger = _sleeper()  # same kind of process, recorded pgid, but not started by that run
    other_run = _sleeper({INSTANCE_ENV: "another-root"})
    try:
        previous.started(survivor.pid, "com.test.Survivor")
        previous.started(stranger.pid, "com.test.Recycled")
        previous.started(other_run.pid, "com.test.Other")
        current = ProcessRegistry(state, instance="this-run")
        ended = current.sweep_previous(grace_s=5)
        assert ended == [(survivor.pid, "com.test.Survivor")]
        wait_until(lambda: not _alive(survivor), what="survivor ended")
        assert _alive(stranger) and _alive(other_run)
        assert json.loads(state.read_text()) == {"groups": {}, "instance": "this-run"}
        assert oct(state.stat().st_mode & 0o777) == "0o600"
    finally:
        for process in (survivor, stranger, other_run):
            process.kill()
            process.wait(5)


def test_sweep_quarantines_a_corrupt_record_and_starts(tmp_path: Path) -> None:
    state = tmp_path / "processes.json"
    state.write_text('{"instance": 5')
    assert ProcessRegistry(state).sweep_previous() == []
    assert list(tmp_path.glob("processes.json.corrupt-*"))
    assert "instance" in json.loads(state.read_text())


def test_child_setup_gives_a_private_umask_and_a_parent_death_signal(tmp_path: Path) -> None:
    # A middle process starts a child with ChildSetup, then dies: the child gets SIGTERM at once.
    child = tmp_path / "child.py"
    child.write_text(f"import time\nopen({str(tmp_path / 'made')!r}, 'w').close()\ntime.sleep(60)\n")
    script = (
        "import subprocess, sys, time\n"
        "from edgewatch.local.process_registry import ChildSetup\n"
        f"child = subprocess.Popen([sys.executable, {str(child)!r}], preexec_fn=ChildSetup())\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    middle = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert middle.stdout is not None
    child_pid = int(middle.stdout.readline())
    try:
        wait_until(lambda: (tmp_path / "made").exists(), what="child started")
        assert (tmp_path / "made").stat().st_mode & 0o077 == 0  # created under umask 077
        middle.kill()
        middle.wait(5)

        def gone() -> bool:
            try:
                stat = Path(f"/proc/{child_pid}/stat").read_text()
            except FileNotFoundError:
                return True
            return stat.rsplit(")", 1)[-1].split()[0] == "Z"

        wait_until(gone, timeout=5, what="child ended by the parent-death signal")
    finally:
        if middle.poll() is None:
            middle.kill()
        with contextlib.suppress(ProcessLookupError):
            os.kill(child_pid, 9)
    assert ChildSetup().parent_pid == os.getpid()
