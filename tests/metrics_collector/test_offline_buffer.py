from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from metrics_collector.offline_buffer import OfflineBuffer

COMPONENT_SRC = Path(__file__).resolve().parents[2] / "components" / "metrics-collector" / "src"


def test_bound_drops_oldest_and_counts_them(tmp_path: Path) -> None:
    buffer = OfflineBuffer(tmp_path / "b.sqlite", max_bytes=1_000)
    dropped = [buffer.append(f"{i:03d}".encode() * 100, created_ms=i) for i in range(5)]  # 300 B each
    assert dropped == [0, 0, 0, 1, 1]
    assert [p.created_ms for p in buffer.oldest(10)] == [2, 3, 4]
    assert buffer.depth().payloads == 3 and buffer.depth().bytes == 900
    assert buffer.set_max_bytes(600) == 1
    assert [p.created_ms for p in buffer.oldest(10)] == [3, 4]


def test_order_and_removal_survive_reopen(tmp_path: Path) -> None:
    path = tmp_path / "b.sqlite"
    buffer = OfflineBuffer(path, max_bytes=10_000)
    for i in range(5):
        buffer.append(f"p{i}".encode(), created_ms=i)
    first = buffer.oldest(1)[0]
    buffer.remove(first.id)
    assert [p.payload for p in buffer.oldest(10, after_id=buffer.oldest(1)[0].id)] == [b"p2", b"p3", b"p4"]
    buffer.close()

    reopened = OfflineBuffer(path, max_bytes=10_000)
    assert [p.payload for p in reopened.oldest(10)] == [b"p1", b"p2", b"p3", b"p4"]
    assert reopened.depth().payloads == 4


WRITER = """
import sys
from pathlib import Path
from metrics_collector.offline_buffer import OfflineBuffer
buffer = OfflineBuffer(Path(sys.argv[1]), max_bytes=50_000_000)
i = 0
while True:
    buffer.append(b"payload-%08d" % i, created_ms=i)
    print(i, flush=True)  # printed only after the commit returned
    i += 1
"""


def test_survives_kill_9_of_a_writer(tmp_path: Path) -> None:
    path = tmp_path / "b.sqlite"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(COMPONENT_SRC), *sys.path])}
    child = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True, env=env
    )
    assert child.stdout is not None
    acknowledged = -1
    deadline = time.monotonic() + 30
    while acknowledged < 50 and time.monotonic() < deadline:
        acknowledged = int(child.stdout.readline())
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=10)
    assert acknowledged >= 50

    buffer = OfflineBuffer(path, max_bytes=50_000_000)
    stored = [p.created_ms for p in buffer.oldest(1_000_000)]
    # Every acknowledged append is there, in order, with nothing torn or duplicated.
    assert stored[: acknowledged + 1] == list(range(acknowledged + 1))
    assert stored == list(range(len(stored)))
    assert buffer.oldest(1)[0].payload == b"payload-00000000"
