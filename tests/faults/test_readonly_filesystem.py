"""A filesystem that remounts read-only (the SD card failure of edge gateways) reaches Slack.

Real parts throughout: a loop-mounted ext4 image, the runtime as a subprocess (`edgewatch local start
--detach`), the real MetricsCollector and AlertRouter built and deployed by the CLI, and the Slack
test server. The collector watches only the loop mount and first sees it read-write; then
`mount -o remount,ro` makes `disk.read_only` 1 and the recipe's FilesystemReadOnly rule (its `for`
and keepFiringFor shortened, so the test takes seconds) goes to Slack; remounted read-write, it
resolves. A loop ext4 rather than a tmpfs: the collector leaves pseudo filesystems such as tmpfs out.
Needs root with CAP_SYS_ADMIN (CI runs as root); skipped, saying why, where mounting is impossible.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from edgewatch.build.suite import build_components
from edgewatch.local.testing import wait_until
from edgewatch_testkit.cli import deploy_built, edgewatch, start_detached_runtime
from edgewatch_testkit.fake_slack import FakeSlack
from tests.faults.test_runtime_crash import COLLECTOR, REPO, ROUTER, THING, batches, component_processes

RULE = "FilesystemReadOnly"


def _run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(cmd), capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


@pytest.fixture
def loop_mount(tmp_path: Path) -> Iterator[Path]:
    """A small ext4 image mounted read-write on a fresh folder; unmounted afterwards whatever happened."""
    if os.geteuid() != 0:
        pytest.skip("mounting a loop filesystem needs root (CI runs as root)")
    if shutil.which("mkfs.ext4") is None or shutil.which("mount") is None:
        pytest.skip("mkfs.ext4 and mount (e2fsprogs, util-linux) are needed to make a loop filesystem")
    image, mountpoint = tmp_path / "sdcard.img", tmp_path / "sdcard"
    mountpoint.mkdir()
    with image.open("wb") as f:
        f.truncate(16 << 20)
    made = _run("mkfs.ext4", "-q", "-F", str(image))
    assert made.returncode == 0, made.stderr
    mounted = _run("mount", "-o", "loop,rw", str(image), str(mountpoint))
    if mounted.returncode != 0:  # no CAP_SYS_ADMIN or no loop device (an unprivileged container)
        pytest.skip(f"cannot mount a loop filesystem here: {mounted.stderr.strip()}")
    try:
        yield mountpoint
    finally:
        if _run("umount", str(mountpoint)).returncode != 0:
            _run("umount", "-l", str(mountpoint))  # still busy: detach it now, the kernel finishes later


def _rule(**overrides: Any) -> dict[str, Any]:
    """The recipe's FilesystemReadOnly, as shipped, with `overrides`."""
    recipe = yaml.safe_load((REPO / "recipes" / f"{ROUTER}.yaml").read_text())
    rules = recipe["ComponentConfiguration"]["DefaultConfiguration"]["rules"]
    return {**next(r for r in rules if r["name"] == RULE), **overrides}


def _read_only_values(root: Path, mountpoint: str) -> list[float]:
    """Every disk.read_only value the collector published for `mountpoint`, oldest first."""
    return [m["value"] for batch in batches(root) for sample in batch.get("samples", []) for m in sample["metrics"]
            if m["name"] == "disk.read_only" and m.get("labels", {}).get("mount") == mountpoint]  # fmt: skip


def _slack(slack: FakeSlack, status: str) -> list[str]:
    """The bodies of Slack messages about the rule with this status, as text."""
    texts = [json.dumps(r.body) for r in slack.delivered()]
    return [t for t in texts if RULE in t and f"*Status:* {status.upper()}" in t]


@pytest.mark.timeout(420)
def test_remount_read_only_reaches_slack_then_read_write_resolves(loop_mount: Path, tmp_path: Path) -> None:
    root, mountpoint = tmp_path / "rt", str(loop_mount)
    with FakeSlack() as slack:
        out = tmp_path / "gg"
        built = build_components(REPO, [COLLECTOR, ROUTER], out_dir=out)
        update = tmp_path / "update.json"
        update.write_text(json.dumps({
            COLLECTOR: {"MERGE": {"sampleIntervalSeconds": 0.5, "iotPublishIntervalSeconds": 1,
                                  "iotPublishMode": "raw", "diskIncludeMounts": [mountpoint]}},
            ROUTER: {"MERGE": {
                "rules": [_rule(**{"for": "1s", "keepFiringFor": "1s"})],
                "route": {"receiver": "default", "groupWait": "0s", "groupInterval": "1s", "repeatInterval": "1h"},
                "receivers": [{"name": "default", "slack": {"webhookUrl": slack.webhook_url, "minIntervalSeconds": 0},
                               "log": {}}],
                "evaluationIntervalSeconds": 0.2, "retryInitialSeconds": 0.2, "retryMaxSeconds": 1,
            }},
        }))  # fmt: skip
        try:
            start_detached_runtime(root, THING)
            deploy_built(root, out, built, update)

            # The collector must first see the mount read-write (that is what read-only is measured against).
            wait_until(lambda: 0 in _read_only_values(root, mountpoint), timeout=60, interval=0.5,
                       what=f"disk.read_only 0 for {mountpoint} in the collector's batches")  # fmt: skip
            assert _slack(slack, "firing") == []

            remounted = _run("mount", "-o", "remount,ro", mountpoint)
            assert remounted.returncode == 0, remounted.stderr
            firing = wait_until(lambda: _slack(slack, "firing"), timeout=60, interval=0.5,
                                what=f"{RULE} for {mountpoint} in Slack")  # fmt: skip
            assert mountpoint in firing[0] and "read-only" in firing[0] and THING in firing[0]
            assert 1 in _read_only_values(root, mountpoint)

            remounted = _run("mount", "-o", "remount,rw", mountpoint)
            assert remounted.returncode == 0, remounted.stderr
            resolved = wait_until(lambda: _slack(slack, "resolved"), timeout=60, interval=0.5,
                                  what=f"{RULE} resolved in Slack after the read-write remount")  # fmt: skip
            assert mountpoint in resolved[0]
        finally:
            edgewatch("local", "stop", "--root", str(root), timeout=120)
            for processes in component_processes(root).values() if root.exists() else []:
                for process in processes:  # never leave a component behind holding the mount
                    with contextlib.suppress(Exception):
                        process.kill()
