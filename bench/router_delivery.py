"""AlertRouter figures for the README (printed, not asserted).

    .venv/bin/python bench/router_delivery.py

Prints the core/outbox figures of `alert_router_eval.py`, then the latency from a metric's
PublishToTopic (real GreengrassCoreIPCClientV2 on the local runtime) to the fake Slack server
receiving the notification, with group_wait 0, through `python -m alert_router` as a subprocess.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "components" / "alert-router" / "src"), str(ROOT / "src"), str(ROOT), str(ROOT / "bench")]

import alert_router_eval  # noqa: E402
import yaml  # noqa: E402
from awsiot.greengrasscoreipc import model  # noqa: E402

from edgewatch.local.testing import ComponentSpec, ThreadedIpcRuntime, wait_until  # noqa: E402
from edgewatch_testkit.fake_slack import FakeSlack  # noqa: E402

NAME = "com.edgewatch.AlertRouter"


def latency(samples: int = 200) -> list[float]:
    defaults = yaml.safe_load((ROOT / "recipes" / f"{NAME}.yaml").read_text())["ComponentConfiguration"][
        "DefaultConfiguration"
    ]
    with tempfile.TemporaryDirectory() as tmp, FakeSlack() as fake:
        config = {
            **defaults,
            "rules": [{"name": "HighCpu", "metric": "cpu.percent", "op": ">", "threshold": 90}],
            "route": {"receiver": "ops", "groupBy": ["..."], "groupWait": 0},
            "receivers": [{"name": "ops", "slack": {"webhookUrl": fake.webhook_url, "minIntervalSeconds": 0}}],
        }
        components = {
            NAME: ComponentSpec(access_control=defaults["accessControl"], configuration=config),
            "bench.Peer": ComponentSpec(
                access_control={"aws.greengrass.ipc.pubsub": {"p": {"operations": ["*"], "resources": ["*"]}}}
            ),
        }
        with ThreadedIpcRuntime(Path(tmp) / "rt", components, thing_name="bench") as rt:
            env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path[:2]), "SVCUID": rt.svcuid(NAME),
                   "AWS_GG_NUCLEUS_DOMAIN_SOCKET_FILEPATH_FOR_COMPONENT": rt.socket_path,
                   "AWS_IOT_THING_NAME": "bench", "EDGEWATCH_WORK_PATH": tmp,
                   "EDGEWATCH_LOG_LEVEL": "WARNING"}  # fmt: skip
            router = subprocess.Popen([sys.executable, "-m", "alert_router"], env=env, cwd=tmp,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
            peer = rt.client("bench.Peer")

            def publish(i: int) -> None:
                doc = {"schema": "edgewatch.metrics/1", "thing": "bench", "ts": int(time.time() * 1000),
                       "metrics": [{"name": "cpu.percent", "value": 97.0, "unit": "%",
                                    "labels": {"cpu": str(i)}}]}  # fmt: skip
                message = model.PublishMessage(json_message=model.JsonMessage(message=doc))
                peer.publish_to_topic(topic="edgewatch/metrics", publish_message=message)

            try:
                wait_until(lambda: (publish(-1), fake.delivered())[1], timeout=20, interval=0.2, what="warm-up")
                out = []
                for i in range(samples):
                    before = len(fake.received)
                    start = time.monotonic()
                    publish(i)
                    wait_until(lambda before=before: len(fake.received) > before, timeout=10, interval=0.0005)
                    out.append((fake.received[-1].at - start) * 1000)
                return out
            finally:
                router.terminate()
                router.wait(10)


def main() -> None:
    alert_router_eval.main()
    ms = sorted(latency())
    p50, p99 = statistics.median(ms), ms[int(len(ms) * 0.99) - 1]
    print(f"PublishToTopic -> Slack server: p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {ms[-1]:.1f} ms "
          f"over {len(ms)} notifications (group_wait 0; target p99 <= 50 ms)")  # fmt: skip
    print(json.dumps({"p50_ms": round(p50, 1), "p99_ms": round(p99, 1)}))


if __name__ == "__main__":
    main()
