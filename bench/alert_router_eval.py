"""AlertRouter core and outbox throughput; prints figures (nothing asserted).

    .venv/bin/python bench/alert_router_eval.py

- samples/s evaluated by the pure core with the default rule set (a realistic collector message);
- samples/s with 50 threshold rules over 100 series (the issue's target: >= 50,000/s on one core);
- notifications/s through the SQLite outbox and a delivery worker to a local fake Slack webhook.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "components" / "alert-router" / "src"), str(ROOT / "src"), str(ROOT)]

from alert_router import notification  # noqa: E402
from alert_router.config import parse_config  # noqa: E402
from alert_router.core import RouterCore  # noqa: E402
from alert_router.delivery import Deliverer  # noqa: E402
from alert_router.outbox import Outbox  # noqa: E402
from alert_router.receivers.slack import SlackIntegration  # noqa: E402
from alert_router.secrets import Redactor, SecretSource  # noqa: E402

from edgewatch_shared.backoff import Backoff  # noqa: E402
from edgewatch_shared.metrics_message import Metric, MetricsMessage  # noqa: E402


def collector_message(ts_ms: int) -> MetricsMessage:
    metrics = [Metric("cpu.percent", 35.0, "%", {"cpu": "total"})]
    metrics += [Metric("cpu.percent", 30.0 + i, "%", {"cpu": str(i)}) for i in range(4)]
    metrics += [Metric(f"memory.{k}", 50.0, "B", {}) for k in ("total", "used", "available", "percent")]
    metrics += [Metric("disk.percent", 40.0, "%", {"mount": m, "device": "sda", "fstype": "ext4"})
                for m in ("/", "/data", "/var")]  # fmt: skip
    metrics += [Metric("net.bytes_recv", 1000.0, "B/s", {"interface": f"eth{i}"}) for i in range(2)]
    metrics += [Metric("temperature.current", 55.0, "°C", {"sensor": "cpu", "label": "core0"}),
                Metric("collector.samples_taken_total", ts_ms / 1000, "", {})]  # fmt: skip
    return MetricsMessage("gw-01", ts_ms, tuple(metrics))


def bench_default_rules(seconds: float = 2.0) -> float:
    core = RouterCore(parse_config(None), "gw-01", 0.0)
    samples, t, start = 0, 0.0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        t += 10.0
        message = collector_message(int(t * 1000))
        core.on_metrics(message, t)
        samples += len(message.metrics)
        if samples % 1000 < len(message.metrics):
            core.tick(t)
    return samples / (time.perf_counter() - start)


def bench_50_rules_100_series(seconds: float = 2.0) -> float:
    ops = (">", "<", ">=", "avg", "max")
    rules = []
    for i in range(50):
        rule = {"name": f"R{i}", "metric": f"m.metric{i % 10}", "op": ">" if i % 2 else "<",
                "threshold": 1e9 if i % 2 else -1e9, "matchers": [f'host=~"h[0-9]*{i % 3}"']}  # fmt: skip
        if ops[i % 5] in ("avg", "max"):
            rule.update({"value": ops[i % 5], "window": "1m"})
        rules.append(rule)
    config = parse_config({"rules": rules})
    core = RouterCore(config, "gw-01", 0.0)
    series = [(f"m.metric{i % 10}", {"host": f"h{i}"}) for i in range(100)]
    batch = 100
    samples, t, start = 0, 0.0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        t += 1.0
        metrics = tuple(Metric(name, float(samples % 97), "", labels) for name, labels in series)
        message = MetricsMessage("gw-01", int(t * 1000), metrics)
        core.on_metrics(message, t)
        samples += batch
    return samples / (time.perf_counter() - start)


def bench_outbox_to_fake_slack(count: int = 200) -> float:
    from edgewatch_testkit.fake_slack import FakeSlack

    with tempfile.TemporaryDirectory() as tmp, FakeSlack() as fake:
        config = parse_config({"receivers": [{"name": "ops", "slack": {"webhookUrl": fake.webhook_url,
                                                                      "minIntervalSeconds": 0}}],
                               "route": {"receiver": "ops"}})  # fmt: skip
        spec = config.receivers["ops"][0]
        outbox = Outbox(Path(tmp) / "o.sqlite", max_rows=100_000)
        deliverer = Deliverer(outbox, Backoff(initial=0.05), str)
        slack = SlackIntegration(spec, SecretSource(None, Redactor()))
        alerts = [{"fingerprint": "f", "status": "firing", "value": 97.0, "startsAt": 0, "endsAt": None,
                   "annotations": {"summary": "CPU high"}, "labels": {"alertname": "HighCpu", "thing": "gw-01"}}]
        start = time.perf_counter()
        for i in range(count):
            outbox.add([slack.key], notification.build("ops", f"g{i}", {}, "gw-01", alerts, float(i)), float(i))
        deliverer.set_integrations({slack.key: slack})
        deadline = time.monotonic() + 60
        while len(fake.delivered()) < count and time.monotonic() < deadline:
            deliverer.wake()
            time.sleep(0.01)
        elapsed = time.perf_counter() - start
        deliverer.stop()
        outbox.close()
        return len(fake.delivered()) / elapsed


def main() -> None:
    print(f"core, default rule set:        {bench_default_rules():>10,.0f} samples/s")
    print(f"core, 50 rules x 100 series:   {bench_50_rules_100_series():>10,.0f} samples/s  (target >= 50,000/s)")
    print(f"outbox -> fake Slack webhook:  {bench_outbox_to_fake_slack():>10,.0f} notifications/s (pacing off)")


if __name__ == "__main__":
    main()
