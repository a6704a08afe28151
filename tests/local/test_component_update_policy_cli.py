"""`edgewatch local deployment create --update-policy/--update-timeout`: componentUpdatePolicy end to end,
through the CLI process, the runtime process and a real component that subscribes to component updates."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from edgewatch.local.testing import wait_until
from edgewatch_testkit.cli import edgewatch
from tests.runtime.conftest import Workspace

# Defers every update by 5 s: only the policy's timeout lets a deployment through.
STUBBORN = """\
import time
from awsiot.greengrasscoreipc.clientv2 import GreengrassCoreIPCClientV2

client = GreengrassCoreIPCClientV2()


def on_event(event):
    if event.pre_update_event is not None:
        with open("updates.log", "a") as handle:
            handle.write("pre\\n")
        client.defer_component_update(deployment_id=event.pre_update_event.deployment_id, recheck_after_ms=5000)


client.subscribe_to_component_updates(on_stream_event=on_event)
with open("updates.log", "a") as handle:
    handle.write("subscribed\\n")
while True:
    time.sleep(1)
"""


@pytest.fixture
def root(tmp_path: Path):
    root = tmp_path / "rt"
    started = edgewatch("local", "start", "--root", str(root), "--thing-name", "gw-policy", "--detach")
    assert started.returncode == 0, started.stderr
    yield root
    edgewatch("local", "stop", "--root", str(root))


def _stubborn(workspace: Workspace, version: str) -> None:
    workspace.recipe("com.test.Stubborn", version, f"""
        Manifests:
          - Platform: {{os: linux}}
            Lifecycle:
              Run: exec {sys.executable} -u {{artifacts:path}}/stubborn.py
        """, {"stubborn.py": STUBBORN})


def test_update_policy_and_timeout_on_deployment_create(tmp_path: Path, root: Path) -> None:
    """Developer guide, CreateDeployment deploymentPolicies.componentUpdatePolicy: action
    NOTIFY_COMPONENTS ("notify each component before it stops and updates that component") or
    SKIP_NOTIFY_COMPONENTS, and timeoutInSeconds ("the amount of time in seconds that each component
    has to notify that it's ready for the update"; after it the deployment proceeds)."""
    workspace = Workspace(tmp_path / "ws")
    for version in ("1.0.0", "1.0.1", "1.0.2"):
        _stubborn(workspace, version)
    common = ["--root", str(root), "--recipeDir", str(workspace.recipes), "--artifactDir", str(workspace.artifacts)]
    first = edgewatch("local", "deployment", "create", *common, "--merge", "com.test.Stubborn=1.0.0", "--wait")
    assert first.returncode == 0, first.stdout + first.stderr
    updates = root / "work" / "com.test.Stubborn" / "updates.log"
    wait_until(lambda: updates.exists() and "subscribed" in updates.read_text(), what="the component subscribed")

    skipped = edgewatch("local", "deployment", "create", *common, "--merge", "com.test.Stubborn=1.0.1",
                        "--update-policy", "SKIP_NOTIFY_COMPONENTS", "--wait")
    assert skipped.returncode == 0, skipped.stdout + skipped.stderr
    assert "pre" not in updates.read_text()  # nobody was asked
    wait_until(lambda: updates.read_text().count("subscribed") == 2, what="1.0.1 subscribed")

    started = time.monotonic()
    notified = edgewatch("local", "deployment", "create", *common, "--merge", "com.test.Stubborn=1.0.2",
                         "--update-timeout", "1", "--wait")
    waited = time.monotonic() - started
    assert notified.returncode == 0, notified.stdout + notified.stderr
    assert "pre" in updates.read_text()
    assert waited < 5, waited  # the 5 s deferral was cut at the 1 s policy timeout

    bad = edgewatch("local", "deployment", "create", *common, "--merge", "com.test.Stubborn=1.0.2",
                    "--update-timeout", "-1")
    assert bad.returncode != 0 and "--update-timeout must be 0..86400" in bad.stderr + bad.stdout
