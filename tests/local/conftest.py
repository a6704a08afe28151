from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from edgewatch.local.testing import ComponentSpec, ThreadedIpcRuntime

ALL_PUBSUB = {"aws.greengrass.ipc.pubsub": {"all": {"operations": ["*"], "resources": ["*"]}}}


@pytest.fixture
def ipc_runtime(tmp_path: Path) -> Iterator[Callable[..., ThreadedIpcRuntime]]:
    """Factory: start a threaded IPC runtime with the given components; stopped after the test."""
    started: list[ThreadedIpcRuntime] = []

    def start(components: dict[str, ComponentSpec], **kwargs: object) -> ThreadedIpcRuntime:
        runtime = ThreadedIpcRuntime(tmp_path / f"root{len(started)}", components, **kwargs).start()
        started.append(runtime)
        return runtime

    yield start
    for runtime in started:
        runtime.stop()
