"""A configured secret appears nowhere under the runtime root except the component's own configuration.

A full run: the runtime as a subprocess (`edgewatch local start --detach`), the real collector and
AlertRouter, the router configured with an inline Slack `webhookUrl` carrying a distinctive token,
alerts delivered to a real local HTTP server through it, then a configuration deployment that
replaces the URL (second token). Every file under the root and every line the CLI printed is
scanned. Allowed: `<root>/config/com.edgewatch.AlertRouter.json` (like the nucleus's config store,
the runtime must keep the configuration to hand it to the component) and the router's own copy of
its last good configuration in its work folder (it runs on it when the stored one is unusable,
issue 9 item 2), and `<root>/config/effectiveConfig.yaml`, which lists every service's configuration
as the nucleus's does (issue 12). All must be 0600 in a 0700 tree. Nothing under the root may be
world-readable.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
import sys
from pathlib import Path

import pytest

from edgewatch.build.suite import build_components
from edgewatch.local.testing import wait_until
from edgewatch_testkit.cli import edgewatch, merge_args
from edgewatch_testkit.fake_slack import FakeSlack
from tests.faults.test_runtime_crash import COLLECTOR, REPO, ROUTER, THING

CONFIG = Path("config") / f"{ROUTER}.json"
ALLOWED = {CONFIG, Path("work") / ROUTER / "alert-router-last-good-config.json",
           Path("config") / "effectiveConfig.yaml"}


def _router_config(webhook: str, rule: str) -> dict:
    return {"MERGE": {
        "rules": [{"name": rule, "metric": "collector.samples_taken_total", "op": ">", "threshold": -1,
                   "severity": "warning", "summary": "test alert"}],
        "route": {"receiver": "default", "groupWait": "0s"},
        "receivers": [{"name": "default", "slack": {"webhookUrl": webhook, "minIntervalSeconds": 0},
                       "log": {}}],
    }}


@pytest.mark.timeout(420)
def test_no_secret_under_the_runtime_root_and_nothing_world_readable(tmp_path: Path) -> None:
    root = tmp_path / "rt"
    tokens = [f"LEAKCANARY{secrets.token_hex(8)}", f"LEAKCANARY{secrets.token_hex(8)}"]
    printed: list[str] = []

    def run(*args: str, timeout: float = 300) -> None:
        result = edgewatch(*args, timeout=timeout)
        printed.extend((result.stdout, result.stderr))
        assert result.returncode == 0, result.stdout + result.stderr

    with FakeSlack() as slack:
        urls = [f"{slack.base}/services/T0/B0/{token}" for token in tokens]
        out = tmp_path / "gg"
        built = build_components(REPO, [COLLECTOR, ROUTER], out_dir=out)
        first = tmp_path / "first.json"
        first.write_text(json.dumps({
            COLLECTOR: {"MERGE": {"sampleIntervalSeconds": 0.5, "iotPublishIntervalSeconds": 1}},
            ROUTER: _router_config(urls[0], "CanaryOne")}))
        second = tmp_path / "second.json"
        second.write_text(json.dumps({ROUTER: _router_config(urls[1], "CanaryTwo")}))
        try:
            run("local", "start", "--root", str(root), "--thing-name", THING, "--detach", "--strict-recipes",
                "--env", f"EDGEWATCH_PYTHON={sys.executable}")
            merges = merge_args(built)
            run("local", "deployment", "create", "--root", str(root), "--recipeDir", str(out / "recipes"),
                "--artifactDir", str(out / "artifacts"), *merges, "--update-config", f"@{first}", "--wait")
            wait_until(lambda: any(tokens[0] in r.path for r in slack.delivered()), timeout=60,
                       what="an alert delivered through the first webhook")
            run("local", "deployment", "create", "--root", str(root), "--update-config", f"@{second}", "--wait")
            wait_until(lambda: any(tokens[1] in r.path for r in slack.delivered()), timeout=60,
                       what="an alert delivered through the replaced webhook")
            run("local", "component", "list", "--root", str(root))
            run("local", "deployment", "list", "--root", str(root))
        finally:
            run("local", "stop", "--root", str(root), timeout=120)

    leaks = []
    for path in sorted(root.rglob("*")):
        mode = os.lstat(path).st_mode
        assert not stat.S_IMODE(mode) & 0o007, f"{path} is {oct(stat.S_IMODE(mode))}: readable by others"
        if not stat.S_ISREG(mode):
            continue
        if path.relative_to(root) in ALLOWED:
            assert stat.S_IMODE(mode) == 0o600, f"{path} holds the configuration and is {oct(stat.S_IMODE(mode))}"
            continue
        data = path.read_bytes()
        leaks += [f"{path.relative_to(root)} holds token {i + 1}" for i, t in enumerate(tokens) if t.encode() in data]
    assert not leaks, leaks
    assert stat.S_IMODE(os.stat(root).st_mode) == 0o700
    assert tokens[1] in (root / CONFIG).read_text()  # the component's configuration does hold the current URL
    for text in printed:
        assert not any(t in text for t in tokens), text
    # The runtime did log the deployments, by key path.
    assert "configuration keys" in (root / "logs" / "runtime.log").read_text()
