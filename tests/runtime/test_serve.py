"""runtime_main.serve: runs the runtime until a signal or until on_ready hands back an exit code."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from edgewatch.local import event_loop
from edgewatch.local.runtime import LocalRuntime
from edgewatch.local.runtime_main import serve


@pytest.fixture(autouse=True)
def keep_umask() -> Iterator[None]:
    """serve sets this process's umask (it is the runtime's process); give the test process its own back."""
    previous = os.umask(0o022)
    os.umask(previous)
    yield
    os.umask(previous)


def test_an_exit_code_from_on_ready_stops_the_runtime_and_is_returned(tmp_path: Path) -> None:
    runtime = LocalRuntime(tmp_path / "root", "gw-serve")
    seen: dict[str, object] = {}

    async def on_ready(rt: LocalRuntime) -> int | None:
        seen["pid"] = json.loads(rt.layout.runtime_file().read_text())["pid"]
        seen["history"] = rt.deployment_history()
        return 3

    assert event_loop.run(serve(runtime, on_ready)) == 3
    assert seen == {"pid": os.getpid(), "history": []}
    assert not runtime.layout.runtime_file().exists() and not runtime.layout.cli_token_file().exists()


def test_an_error_in_on_ready_stops_the_runtime_and_is_raised(tmp_path: Path) -> None:
    runtime = LocalRuntime(tmp_path / "root", "gw-serve")

    async def on_ready(rt: LocalRuntime) -> int | None:
        raise RuntimeError("deploy went wrong")

    with pytest.raises(RuntimeError, match="deploy went wrong"):
        event_loop.run(serve(runtime, on_ready))
    assert not runtime.layout.runtime_file().exists()
