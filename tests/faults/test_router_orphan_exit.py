"""An AlertRouter whose runtime went away and came back with new tokens (a nucleus restart) exits
with EXIT_ACCESS_DENIED after a bounded number of refusals, instead of living on beside its successor
(issue 9 item 3: an orphan router sent false CollectorSilent alerts)."""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from edgewatch.local.testing import (
    ComponentSpec,
    ThreadedIpcRuntime,
    short_socket_path,
    start_component_process,
    stop_process,
    wait_until,
)
from edgewatch_shared.ipc_connection import EXIT_ACCESS_DENIED

NAME = "com.edgewatch.AlertRouter"
ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "components" / "alert-router" / "src"
THING = "test-thing"


def runtime_with_router(root: Path, socket_path: str, token: str) -> ThreadedIpcRuntime:
    defaults = yaml.safe_load((ROOT / "recipes" / f"{NAME}.yaml").read_text())["ComponentConfiguration"][
        "DefaultConfiguration"]
    spec = ComponentSpec(access_control=defaults["accessControl"], configuration=defaults, svcuid=token)
    return ThreadedIpcRuntime(root, {NAME: spec}, thing_name=THING, socket_path=socket_path).start()


def router_log(work: Path) -> str:
    path = work / "alert_router.log"
    return path.read_text(errors="replace") if path.exists() else ""


def test_router_exits_when_the_restarted_runtime_refuses_its_token(tmp_path: Path) -> None:
    socket_path = short_socket_path()
    old_token = "old-" + os.urandom(8).hex()
    first = runtime_with_router(tmp_path / "rt1", socket_path, old_token)
    work = tmp_path / "work"
    router = start_component_process(socket_path, old_token, THING, "alert_router", [SRC, ROOT / "src"], work)
    second = None
    try:
        wait_until(lambda: "alert router for" in router_log(work), timeout=30, what="the router to start")
        first.stop()
        os.makedirs(os.path.dirname(socket_path), exist_ok=True)
        second = runtime_with_router(tmp_path / "rt2", socket_path, "new-" + os.urandom(8).hex())
        wait_until(lambda: router.poll() is not None, timeout=90, what="the orphaned router to exit")
        assert router.returncode == EXIT_ACCESS_DENIED, router_log(work)
        assert "no longer accepts this process" in router_log(work)
    finally:
        stop_process(router)
        for runtime in (first, second):
            if runtime is not None:
                runtime.stop()
