"""A collector whose runtime went away and came back with new tokens (a nucleus restart) must not
live on as an orphan beside its successor: after a bounded number of AccessDenied answers it exits
non-zero, without writing its partial batch."""

from __future__ import annotations

import os
import time
from pathlib import Path

from edgewatch.local.testing import short_socket_path, wait_until
from edgewatch_shared.ipc_connection import EXIT_ACCESS_DENIED
from tests.metrics_collector.runtime_helpers import (
    FAST,
    TopicRecorder,
    collector_log,
    start_collector,
    start_runtime,
    stop_collector,
)


def test_collector_exits_when_the_restarted_runtime_refuses_its_token(tmp_path: Path) -> None:
    socket_path = short_socket_path()
    old_token = "old-token-" + os.urandom(8).hex()
    first = start_runtime(tmp_path / "rt1", FAST, socket_path=socket_path, svcuid=old_token)
    work = tmp_path / "work"
    collector = start_collector(first, work)
    second = None
    try:
        metrics = TopicRecorder(first, "edgewatch/metrics")
        metrics.wait_for(lambda m: True, what="a sample through the first runtime")
        first.stop()  # as after kill -9 of the runtime: the socket is gone
        stopped_at = time.monotonic()
        wait_until(lambda: "IPC disconnected" in collector_log(work), timeout=15, what="the collector noticing")

        os.makedirs(os.path.dirname(socket_path), exist_ok=True)
        new_token = "new-token-" + os.urandom(8).hex()
        second = start_runtime(tmp_path / "rt2", FAST, socket_path=socket_path, svcuid=new_token)
        newcomer = TopicRecorder(second, "edgewatch/metrics")
        wait_until(lambda: collector.poll() is not None, timeout=90, what="the orphaned collector to exit")
        assert collector.returncode == EXIT_ACCESS_DENIED
        assert time.monotonic() - stopped_at < 90
        log = collector_log(work)
        assert "giving up: the nucleus refused this component's SVCUID 3 times in a row" in log
        assert "abandoned: stopping without storing the partial batch" in log
        assert newcomer.messages() == []  # the orphan never got through to the new runtime
    finally:
        stop_collector(collector)
        for runtime in (first, second):
            if runtime is not None:
                runtime.stop()  # a second stop of the first runtime is harmless
