"""The collector deployed by the CLI on the local runtime finds the runtime as its nucleus and measures
the Greengrass root given by the recipe's `{kernel:rootPath}`.

Real parts: `edgewatch local start --detach` (strict recipes), the collector built and deployed with
`edgewatch local deployment create`, its IoT Core batches read from the runtime's loopback log.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import psutil
import pytest

from edgewatch.build.suite import build_components
from edgewatch.local.testing import wait_until
from edgewatch_testkit.cli import deploy_built, edgewatch, start_detached_runtime
from tests.faults.test_runtime_crash import COLLECTOR, REPO, THING, batches, runtime_pid

GREENGRASS = ("greengrass.nucleus_rss", "greengrass.nucleus_cpu_percent", "greengrass.root_available",
              "greengrass.root_percent")  # fmt: skip


def latest(root: Path) -> dict[str, float]:
    values: dict[str, float] = {}
    for batch in batches(root):
        for sample in batch.get("samples", []):
            for metric in sample["metrics"]:
                if metric["name"].startswith("greengrass."):
                    values[metric["name"]] = metric["value"]
    return values


@pytest.mark.timeout(300)
def test_nucleus_is_the_runtime_and_the_root_is_kernel_root_path(tmp_path: Path) -> None:
    root, out = tmp_path / "rt", tmp_path / "gg"
    built = build_components(REPO, [COLLECTOR], out_dir=out)
    update = tmp_path / "update.json"
    update.write_text(json.dumps({COLLECTOR: {"MERGE": {
        "sampleIntervalSeconds": 0.5, "iotPublishIntervalSeconds": 1, "iotPublishMode": "raw",
    }}}))  # fmt: skip
    try:
        start_detached_runtime(root, THING)
        deploy_built(root, out, built, update, timeout=240)
        values = wait_until(lambda: (v := latest(root)) and set(GREENGRASS) <= set(v) and v, timeout=60,
                            interval=0.5, what="the greengrass.* metrics in the collector's batches")  # fmt: skip
        runtime_rss = psutil.Process(runtime_pid(root)).memory_info().rss
        # The runtime process is the nucleus: its RSS (it moves a little between the two reads).
        assert 0.5 * runtime_rss <= values["greengrass.nucleus_rss"] <= 2 * runtime_rss
        assert 0 <= values["greengrass.nucleus_cpu_percent"] <= 100 * (os.cpu_count() or 1)
        st = os.statvfs(root)
        assert values["greengrass.root_available"] == pytest.approx(st.f_bavail * st.f_frsize, rel=0.05)
        assert 0 < values["greengrass.root_percent"] < 100
    finally:
        edgewatch("local", "stop", "--root", str(root), timeout=120)
