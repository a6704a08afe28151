"""Issue 9 on the runtime: accessControl only from deployments, bounded configuration depth,
BROKEN components reinstalled by the next deployment, corrupt state quarantined, nothing secret logged."""

from __future__ import annotations

import json
import logging
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from awsiot.greengrasscoreipc.model import (
    BinaryMessage,
    InvalidArgumentsError,
    PublishMessage,
    UnauthorizedError,
)

from edgewatch.local.deployment_plan import ConfigUpdate
from edgewatch.local.runtime import DeploymentRequest
from edgewatch.local.testing import connect_client, wait_until
from tests.runtime.conftest import Workspace
from tests.runtime.test_lifecycle_and_deployments import events, started_pids

NAME = "com.test.Trust"
GRANT = {"aws.greengrass.ipc.pubsub": {"p": {"operations": ["aws.greengrass#PublishToTopic"],
                                             "resources": ["granted/topic"]}}}
SELF_GRANT = {"aws.greengrass.ipc.pubsub": {"all": {"operations": ["*"], "resources": ["*"]}}}


def _deploy_sleeper(workspace: Workspace, rt) -> None:  # type: ignore[no-untyped-def]
    workspace.recipe(NAME, "1.0.0", f"""
        ComponentConfiguration:
          DefaultConfiguration:
            level: 1
            accessControl: {json.dumps(GRANT)}
        Manifests:
          - Platform: {{os: linux}}
            Lifecycle:
              Run: exec sleep 300
        """)
    record = rt.deploy(DeploymentRequest(workspace.recipes, workspace.artifacts, merge={NAME: "1.0.0"}))
    assert record.status == "SUCCEEDED", record.reason


def _client(rt, root: Path):  # type: ignore[no-untyped-def]
    svcuid = rt.call(lambda: rt.runtime.deployed[NAME].svcuid)
    return connect_client(rt.call(lambda: rt.runtime.layout.socket_path), svcuid)


def _publish(client, topic: str) -> None:  # type: ignore[no-untyped-def]
    client.publish_to_topic(topic=topic, publish_message=PublishMessage(binary_message=BinaryMessage(message=b"x")))


def test_a_component_cannot_grant_itself_permissions(workspace: Workspace, start_runtime, runtime_root: Path) -> None:
    rt = start_runtime()
    _deploy_sleeper(workspace, rt)
    client = _client(rt, runtime_root)
    try:
        _publish(client, "granted/topic")
        with pytest.raises(UnauthorizedError):
            _publish(client, "other/topic")
        refused = "Config update is not allowed for following fields [accessControl]"
        with pytest.raises(InvalidArgumentsError) as whole:
            client.update_configuration(key_path=[], value_to_merge={"accessControl": SELF_GRANT})
        with pytest.raises(InvalidArgumentsError) as keyed:
            client.update_configuration(key_path=["accessControl"], value_to_merge=SELF_GRANT)
        assert whole.value.message == refused and keyed.value.message == refused
        client.update_configuration(key_path=[], value_to_merge={"level": 2})  # other keys still work
        assert client.get_configuration(key_path=["level"]).value == {"level": 2}
    finally:
        client.close()
    assert rt.call(rt.runtime.configuration, NAME)["accessControl"] == GRANT
    rt.stop()

    # Even configuration changed behind the runtime's back (an older runtime accepted such writes)
    # never grants anything: access control comes from what the deployments recorded.
    stored = runtime_root / "config" / f"{NAME}.json"
    tampered = json.loads(stored.read_text())
    tampered["accessControl"] = SELF_GRANT
    stored.write_text(json.dumps(tampered))
    rt = start_runtime()
    wait_until(lambda: rt.state(NAME) == "RUNNING", what="restored")
    client = _client(rt, runtime_root)
    try:
        _publish(client, "granted/topic")
        with pytest.raises(UnauthorizedError):
            _publish(client, "other/topic")
    finally:
        client.close()
    # A deployment can still change access control (that is where it comes from).
    widened = {"aws.greengrass.ipc.pubsub": {"p": {"operations": ["aws.greengrass#PublishToTopic"],
                                                   "resources": ["granted/topic", "other/topic"]}}}
    record = rt.deploy(DeploymentRequest(config_updates={NAME: ConfigUpdate({"accessControl": widened})}))
    assert record.status == "SUCCEEDED", record.reason
    client = _client(rt, runtime_root)
    try:
        _publish(client, "other/topic")
    finally:
        client.close()


def _nested(depth: int) -> dict:
    value: dict = {"leaf": 1}
    for _ in range(depth):
        value = {"a": value}
    return value


def test_deeply_nested_configuration_is_refused_with_a_path(workspace: Workspace, start_runtime,
                                                            runtime_root: Path) -> None:
    rt = start_runtime()
    _deploy_sleeper(workspace, rt)
    client = _client(rt, runtime_root)
    try:
        with pytest.raises(InvalidArgumentsError) as too_deep:
            client.update_configuration(key_path=[], value_to_merge=_nested(500))
        assert too_deep.value.message.startswith(
            "valueToMerge is nested deeper than 64 levels at /a/a/a/a/a/a/a/a/...")
        client.update_configuration(key_path=[], value_to_merge=_nested(40))  # deep but sane: accepted
    finally:
        client.close()
    from edgewatch.local.deployment_plan import DeploymentError, parse_config_updates

    with pytest.raises(DeploymentError, match=r"--update-config.com.test.Trust.MERGE is nested deeper than 64"):
        parse_config_updates({NAME: {"MERGE": _nested(500)}})
    assert rt.state(NAME) == "RUNNING"


def test_cli_rejects_absurd_update_config_with_one_line(tmp_path: Path) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text("{\"c\": {\"MERGE\": " + "{\"a\": " * 5000 + "1" + "}" * 5002)
    huge = tmp_path / "huge.json"
    huge.write_text(json.dumps({"c": {"MERGE": {"k": "x" * (2 * 1024 * 1024)}}}))
    for source, expected in ((f"@{deep}", "nested"), (f"@{huge}", "larger than 1048576 bytes"),
                             (f"@{tmp_path / 'missing.json'}", "cannot read")):
        result = subprocess.run([sys.executable, "-m", "edgewatch.cli", "local", "deployment", "create",
                                 "--root", str(tmp_path / "rt"), "--update-config", source],
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 2, result.stderr
        assert expected in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert "Traceback" not in result.stderr


def test_any_deployment_reinstalls_a_broken_component(workspace: Workspace, start_runtime, runtime_root: Path) -> None:
    workspace.probe("com.test.Crashy", "1.0.0", config="{level: 1}")
    rt = start_runtime()
    assert rt.deploy(DeploymentRequest(workspace.recipes, workspace.artifacts,
                                       merge={"com.test.Crashy": "1.0.0"})).status == "SUCCEEDED"
    wait_until(lambda: started_pids(runtime_root, "com.test.Crashy"), what="started")
    crash = runtime_root / "work" / "com.test.Crashy" / "crash"
    crash.touch()
    wait_until(lambda: rt.state("com.test.Crashy") == "BROKEN", timeout=30, what="BROKEN")
    # A deployment that does not remove the cause reinstalls it, sees it fail again and says so.
    record = rt.deploy(DeploymentRequest(config_updates={"com.test.Crashy": ConfigUpdate({"level": 9})}))
    assert record.status == "FAILED", record.reason
    assert "com.test.Crashy-1.0.0 was BROKEN and failed again after its reinstall: Run exited with code 1" \
        in record.reason and record.error_types == ["COMPONENT_BROKEN"]
    assert rt.call(rt.runtime.configuration, "com.test.Crashy")["level"] == 1  # rolled back
    wait_until(lambda: rt.state("com.test.Crashy") == "BROKEN", timeout=30, what="BROKEN again")
    before = len(started_pids(runtime_root, "com.test.Crashy"))
    crash.unlink()  # the operator fixed the cause; a configuration deployment follows
    record = rt.deploy(DeploymentRequest(config_updates={"com.test.Crashy": ConfigUpdate({"level": 2})}))
    assert record.status == "SUCCEEDED", record.reason
    assert rt.state("com.test.Crashy") == "RUNNING"
    wait_until(lambda: len(started_pids(runtime_root, "com.test.Crashy")) == before + 1, what="reinstalled")
    assert any('"level": 2' in line for line in events(runtime_root, "com.test.Crashy") if line.startswith("started"))


@pytest.mark.parametrize("content", [b"\x00\xffgarbage", b'[{"name": "com.test.Trust", "vers', b'{"name": 1}',
                                     b'[{"name": "com.test.Trust", "version": 1, "recipe": [], "root": "yes"}]'])
def test_corrupt_runtime_state_is_quarantined_and_the_runtime_starts(
        content: bytes, workspace: Workspace, start_runtime, runtime_root: Path, caplog) -> None:
    rt = start_runtime()
    _deploy_sleeper(workspace, rt)
    rt.stop()
    state = runtime_root / "state"
    (state / "deployed.json").write_bytes(content)
    record_file = next((state / "deployments").glob("*.json"))
    record_file.write_bytes(content)
    with caplog.at_level(logging.ERROR):
        rt = start_runtime()
    assert rt.call(lambda: sorted(rt.runtime.deployed)) == []  # nothing deployed, and it says so
    kept = list(state.glob("deployed.json.corrupt-*"))
    assert len(kept) == 1 and kept[0].read_bytes() == content  # moved aside, never deleted
    assert list((state / "deployments").glob(f"{record_file.name}.corrupt-*"))
    assert "is corrupt" in caplog.text and "starting with nothing deployed" in caplog.text
    # ... and it works: deploying again brings the component back, the new state file is sound.
    record = rt.deploy(DeploymentRequest(workspace.recipes, workspace.artifacts, merge={NAME: "1.0.0"}))
    assert record.status == "SUCCEEDED", record.reason
    assert json.loads((state / "deployed.json").read_text())[0]["name"] == NAME


def test_state_files_are_private_and_hold_no_configuration_values(workspace: Workspace, start_runtime,
                                                                  runtime_root: Path, caplog) -> None:
    rt = start_runtime()
    _deploy_sleeper(workspace, rt)
    secret = "https://hooks.example/T0KEN-do-not-log"
    with caplog.at_level(logging.DEBUG):
        record = rt.deploy(DeploymentRequest(config_updates={NAME: ConfigUpdate({"hook": {"url": secret}})}))
    assert record.status == "SUCCEEDED", record.reason
    assert secret not in caplog.text
    saved = (runtime_root / "state" / "deployments" / f"{record.deployment_id}.json").read_text()
    assert secret not in saved and '"/hook/url"' in saved  # the key path is kept, the value is not
    for path in (runtime_root / "state").rglob("*"):
        mode = stat.S_IMODE(os.stat(path).st_mode)
        assert not mode & 0o077, f"{path} is {oct(mode)}"
    assert not list((runtime_root / "state").rglob("*.tmp"))
    config = runtime_root / "config" / f"{NAME}.json"
    assert stat.S_IMODE(os.stat(config).st_mode) == 0o600 and secret in config.read_text()


@pytest.mark.parametrize("content", [b"{not json", b"[1, 2]", b"\xff\xfe"])
def test_corrupt_stored_configuration_is_quarantined_and_defaults_are_used(
        content: bytes, workspace: Workspace, start_runtime, runtime_root: Path, caplog) -> None:
    rt = start_runtime()
    _deploy_sleeper(workspace, rt)
    rt.deploy(DeploymentRequest(config_updates={NAME: ConfigUpdate({"level": 5})}))
    rt.stop()
    stored = runtime_root / "config" / f"{NAME}.json"
    stored.write_bytes(content)
    with caplog.at_level(logging.ERROR):
        rt = start_runtime()
    wait_until(lambda: rt.state(NAME) == "RUNNING", what="restored on its defaults")
    assert rt.call(rt.runtime.configuration, NAME)["level"] == 1  # the recipe's default
    kept = list(stored.parent.glob(f"{stored.name}.corrupt-*"))
    assert len(kept) == 1 and kept[0].read_bytes() == content and "is corrupt" in caplog.text
    assert json.loads(stored.read_text())["level"] == 1  # a sound file again
