"""Real subprocess components, deployed from recipes on the local runtime."""

from __future__ import annotations

import json
import os
import stat
import sys
import zipfile
from io import BytesIO
from pathlib import Path

from edgewatch.local.deployment_plan import ConfigUpdate
from edgewatch.local.runtime import DeploymentRequest
from edgewatch.local.testing import wait_until
from tests.runtime.conftest import Workspace


def events(root: Path, name: str) -> list[str]:
    path = root / "work" / name / "events.log"
    return path.read_text().splitlines() if path.exists() else []


def started_pids(root: Path, name: str) -> list[str]:
    return [line.split()[1] for line in events(root, name) if line.startswith("started ")]


def ready(root: Path, name: str) -> list[str]:
    """The probe's pids once it has opened its configuration streams (else a validation could miss it)."""
    wait_until(lambda: "ready" in events(root, name), what=f"{name} ready")
    return started_pids(root, name)


def request(ws: Workspace, **kwargs) -> DeploymentRequest:
    return DeploymentRequest(ws.recipes, ws.artifacts, **kwargs)


def test_deployed_component_runs_with_the_nucleus_environment_and_logs(workspace, start_runtime, runtime_root):
    workspace.probe("com.test.A", "1.0.0", config="{greeting: hi, accessControl: {}}", lifecycle=f"""Setenv:
                    PROBE_SETENV: "{{configuration:/greeting}}-${{HOME:-unset}}"
                  Install: pwd > install-cwd.txt
                  Run: exec {sys.executable} -u {{artifacts:path}}/probe.py {{iot:thingName}}""")
    rt = start_runtime()
    record = rt.deploy(request(workspace, merge={"com.test.A": "1.0.0"}))
    assert (record.status, record.reason) == ("SUCCEEDED", "")
    assert rt.state("com.test.A") == "RUNNING"
    work = runtime_root / "work" / "com.test.A"
    assert (work / "install-cwd.txt").read_text().strip() == str(work)  # the work dir existed before Install
    env = json.loads(wait_until(lambda: (work / "env.json").exists() and (work / "env.json").read_text()))
    assert env["AWS_IOT_THING_NAME"] == "gw-test" and env["AWS_REGION"] == "us-east-1"
    assert env["SVCUID"] and env["AWS_GG_NUCLEUS_DOMAIN_SOCKET_FILEPATH_FOR_COMPONENT"].endswith("ipc.socket")
    assert env["PROBE_SETENV"] == "hi-${HOME:-unset}"  # recipe variables interpolated, shell syntax left as is
    assert "argv=['gw-test']" in wait_until(lambda: events(runtime_root, "com.test.A"))[0]
    log_text = (runtime_root / "logs" / "com.test.A.log").read_text()
    assert "com.test.A (runtime): state RUNNING" in log_text
    assert log_text.splitlines()[0][:4].isdigit() and "Z [INFO]" in log_text.splitlines()[0]


def test_configuration_only_update_notifies_without_restart(workspace, start_runtime, runtime_root):
    workspace.probe("com.test.A", "1.0.0", config="{level: 1, items: [1, 2]}")
    rt = start_runtime()
    assert rt.deploy(request(workspace, merge={"com.test.A": "1.0.0"})).status == "SUCCEEDED"
    first = ready(runtime_root, "com.test.A")
    record = rt.deploy(DeploymentRequest(config_updates={"com.test.A": ConfigUpdate({"items": [9]})}))
    assert record.status == "SUCCEEDED"
    wait_until(lambda: "config-update items" in events(runtime_root, "com.test.A"), what="update event")
    assert "validated ACCEPTED" in events(runtime_root, "com.test.A")
    assert started_pids(runtime_root, "com.test.A") == first  # not restarted
    assert rt.call(rt.runtime.configuration, "com.test.A") == {"level": 1, "items": [9]}
    # RESET puts a pointer back to its default
    rt.deploy(DeploymentRequest(config_updates={"com.test.A": ConfigUpdate({}, ("/items",))}))
    assert rt.call(rt.runtime.configuration, "com.test.A")["items"] == [1, 2]


def test_component_rejecting_a_configuration_fails_the_deployment_and_keeps_the_old_one(
        workspace, start_runtime, runtime_root):
    workspace.probe("com.test.A", "1.0.0", config="{rejectIf: bad, level: 1}")
    rt = start_runtime()
    rt.deploy(request(workspace, merge={"com.test.A": "1.0.0"}))
    first = ready(runtime_root, "com.test.A")
    record = rt.deploy(DeploymentRequest(config_updates={"com.test.A": ConfigUpdate({"bad": "level too high"})}))
    assert record.status == "FAILED"
    assert record.reason == "com.test.A rejected the configuration: level too high"
    assert record.error_types == ["COMPONENT_CONFIGURATION_REJECTED"]
    assert "bad" not in rt.call(rt.runtime.configuration, "com.test.A")
    assert started_pids(runtime_root, "com.test.A") == first



def test_artifacts_are_staged_only_after_the_configuration_was_accepted(workspace, start_runtime, runtime_root):
    workspace.probe("com.test.A", "1.0.0", config="{rejectIf: bad, level: 1}")
    rt = start_runtime()
    rt.deploy(request(workspace, merge={"com.test.A": "1.0.0"}))
    first = ready(runtime_root, "com.test.A")
    source = workspace.artifacts / "com.test.A" / "1.0.0" / "probe.py"
    source.write_text(source.read_text() + "\n# edited\n")
    staged = runtime_root / "packages" / "artifacts" / "com.test.A" / "1.0.0" / "probe.py"
    rejected = rt.deploy(request(workspace, merge={"com.test.A": "1.0.0"},
                                 config_updates={"com.test.A": ConfigUpdate({"bad": "no"})}))
    assert (rejected.status, rejected.error_types) == ("FAILED", ["COMPONENT_CONFIGURATION_REJECTED"])
    assert rejected.detailed_status == "FAILED_NO_STATE_CHANGE"
    assert "# edited" not in staged.read_text()  # nothing was copied for a deployment that was refused
    assert started_pids(runtime_root, "com.test.A") == first
    accepted = rt.deploy(request(workspace, merge={"com.test.A": "1.0.0"},
                                 config_updates={"com.test.A": ConfigUpdate({"level": 2})}))
    assert accepted.status == "SUCCEEDED" and "# edited" in staged.read_text()
    wait_until(lambda: len(started_pids(runtime_root, "com.test.A")) == 2, what="restarted on the new artifact")

def test_failed_install_rolls_back_to_the_previous_version_without_touching_others(
        workspace, start_runtime, runtime_root):
    workspace.probe("com.test.A", "1.0.0", config="{v: 1}")
    workspace.probe("com.test.A", "2.0.0", config="{v: 2}", lifecycle=f"""Install: echo broken >&2; exit 3
                  Run: exec {sys.executable} -u {{artifacts:path}}/probe.py""")
    workspace.probe("com.test.Other", "1.0.0")
    rt = start_runtime()
    assert rt.deploy(request(workspace, merge={"com.test.A": "1.0.0", "com.test.Other": "1.0.0"})).status == "SUCCEEDED"
    other_pids = wait_until(lambda: started_pids(runtime_root, "com.test.Other"))
    a_pids = wait_until(lambda: started_pids(runtime_root, "com.test.A"))
    record = rt.deploy(request(workspace, merge={"com.test.A": "2.0.0"}))
    assert record.status == "FAILED"
    assert "Install failed with exit code 3" in record.reason and record.error_types == ["COMPONENT_ERROR"]
    assert rt.call(lambda: rt.runtime.deployed["com.test.A"].version) == "1.0.0"
    wait_until(lambda: len(started_pids(runtime_root, "com.test.A")) == len(a_pids) + 1, what="v1 back")
    assert rt.state("com.test.A") == "RUNNING"
    assert started_pids(runtime_root, "com.test.Other") == other_pids  # untouched component kept running
    assert "broken" in (runtime_root / "logs" / "com.test.A.log").read_text()


def test_startup_must_exit_or_report_running_within_its_timeout(workspace, start_runtime, runtime_root):
    """Startup that reports RUNNING over IPC is RUNNING; one that neither exits nor reports within its
    Timeout fails the deployment (a Startup that exits 0 is RUNNING too: tests/compat)."""
    probe = f"{sys.executable} -u {{artifacts:path}}/probe.py"
    workspace.probe("com.test.Good", "1.0.0", config="{reportRunning: true}",
                    lifecycle=f"Startup: {{Script: '{probe} &', Timeout: 20}}")
    workspace.probe("com.test.Silent", "1.0.0", config="{reportRunning: false}",
                    lifecycle=f"Startup: {{Script: 'exec {probe}', Timeout: 1}}")
    rt = start_runtime()
    assert rt.deploy(request(workspace, merge={"com.test.Good": "1.0.0"})).status == "SUCCEEDED"
    assert rt.state("com.test.Good") == "RUNNING"
    record = rt.deploy(request(workspace, merge={"com.test.Silent": "1.0.0"}))
    assert record.status == "FAILED"
    assert "Startup neither exited nor reported RUNNING within 1 s" in record.reason
    assert rt.call(lambda: sorted(rt.runtime.deployed)) == ["com.test.Good"]


def test_three_errors_make_a_component_broken_and_others_carry_on(workspace, start_runtime, runtime_root):
    workspace.probe("com.test.Crashy", "1.0.0", lifecycle=f"""Run: exec {sys.executable} -u {{artifacts:path}}/probe.py
                  Recover: echo recovering >> events.log""")
    workspace.probe("com.test.Steady", "1.0.0")
    rt = start_runtime()
    record = rt.deploy(request(workspace, merge={"com.test.Crashy": "1.0.0", "com.test.Steady": "1.0.0"}))
    assert record.status == "SUCCEEDED"
    wait_until(lambda: started_pids(runtime_root, "com.test.Crashy"))
    (runtime_root / "work" / "com.test.Crashy" / "crash").touch()
    wait_until(lambda: rt.state("com.test.Crashy") == "BROKEN", timeout=30, what="BROKEN")
    crash_events = events(runtime_root, "com.test.Crashy")
    assert crash_events.count("crashing") == 3 and crash_events.count("recovering") == 2
    assert rt.state("com.test.Steady") == "RUNNING"
    assert rt.call(lambda: rt.runtime.deployed["com.test.Crashy"].version) == "1.0.0"  # not rolled back


def test_hard_dependency_starts_first_and_dependency_configuration_interpolates(
        workspace, start_runtime, runtime_root):
    order = runtime_root.parent / "order.txt"
    workspace.recipe("com.test.Base", "1.2.0", f"""
        ComponentConfiguration: {{DefaultConfiguration: {{port: 8125}}}}
        Manifests:
          - Platform: {{os: '*'}}
            Lifecycle: {{Install: 'echo Base >> {order}', Run: 'sleep 60'}}
        """)
    workspace.recipe("com.test.App", "1.0.0", f"""
        ComponentDependencies:
          com.test.Base: {{VersionRequirement: '>=1.0.0 <2.0.0', DependencyType: HARD}}
        Manifests:
          - Platform: {{os: /lin.*/}}
            Lifecycle:
              Install: 'echo App {{com.test.Base:configuration:/port}} >> {order}'
              Run: sleep 60
        """)
    rt = start_runtime()
    record = rt.deploy(request(workspace, merge={"com.test.App": "1.0.0"}))
    assert record.status == "SUCCEEDED", record.reason
    assert order.read_text().split("\n")[:2] == ["Base", "App 8125"]
    assert rt.call(lambda: sorted((n, d.version, d.root) for n, d in rt.runtime.deployed.items())) == [
        ("com.test.App", "1.0.0", True), ("com.test.Base", "1.2.0", False)]


def test_zip_artifacts_unpack_read_only_into_the_decompressed_path(workspace, start_runtime, runtime_root):
    archive = BytesIO()
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("pkg/data.txt", "payload")
    workspace.recipe("com.test.Zip", "1.0.0", """
        Manifests:
          - Platform: {os: linux}
            Lifecycle:
              Run: cat {artifacts:decompressedPath}/bundle/pkg/data.txt > seen.txt
            Artifacts:
              - {URI: s3://b/bundle.zip, Unarchive: ZIP}
        """, {"bundle.zip": archive.getvalue()})
    rt = start_runtime()
    record = rt.deploy(request(workspace, merge={"com.test.Zip": "1.0.0"}))
    assert record.status == "SUCCEEDED", record.reason
    wait_until(lambda: rt.state("com.test.Zip") == "FINISHED")
    assert (runtime_root / "work" / "com.test.Zip" / "seen.txt").read_text() == "payload"
    unpacked = runtime_root / "packages" / "artifacts-unarchived" / "com.test.Zip" / "1.0.0" / "bundle"
    assert not stat.S_IMODE(os.stat(unpacked / "pkg" / "data.txt").st_mode) & 0o222
    assert not stat.S_IMODE(os.stat(runtime_root / "packages" / "artifacts" / "com.test.Zip" / "1.0.0" /
                                    "bundle.zip").st_mode) & 0o222


def test_recipe_and_interpolation_errors_fail_clearly_and_change_nothing(workspace, start_runtime):
    workspace.recipe("com.test.Typo", "1.0.0", """
        Manifests:
          - Platform: {os: linux}
            Lifecycle: {Run: 'echo {iot:thingNmae}'}
        """)
    workspace.recipe("com.test.Invalid", "1.0.0", """
        Manifests:
          - Platform: {os: linux}
            Lifecycle: {Run: 'true'}
            Artifacts: [{URI: s3://b/x, Unarchive: TAR}]
        """)
    workspace.recipe("com.test.Windows", "1.0.0", """
        Manifests:
          - Platform: {os: windows}
            Lifecycle: {Run: 'true'}
        """)
    rt = start_runtime()
    # strict (as CI deploys our own components): an unresolvable variable fails the deployment
    typo = rt.deploy(request(workspace, merge={"com.test.Typo": "1.0.0"}, strict_recipes=True))
    assert typo.status == "FAILED" and "thingNmae" in typo.reason
    assert typo.detailed_status == "FAILED_NO_STATE_CHANGE"
    invalid = rt.deploy(request(workspace, merge={"com.test.Invalid": "1.0.0"}))
    assert invalid.status == "FAILED" and "com.test.Invalid-1.0.0.yaml" in invalid.reason
    assert "Manifests[0].Artifacts[0]" in invalid.reason
    platform = rt.deploy(request(workspace, merge={"com.test.Windows": "1.0.0"}))
    assert platform.status == "FAILED" and platform.error_types == ["RECIPE_ERROR"]
    missing = rt.deploy(request(workspace, merge={"com.test.Nope": "1.0.0"}))
    assert missing.status == "FAILED" and missing.error_types == ["RECIPE_NOT_FOUND"]
    assert rt.call(lambda: dict(rt.runtime.deployed)) == {}


def test_removal_runs_shutdown_and_restart_keeps_configuration(workspace, start_runtime, runtime_root):
    shutdown_mark = runtime_root.parent / "shutdown.txt"
    workspace.probe("com.test.A", "1.0.0", config="{level: 1}",
                    lifecycle=f"""Run: exec {sys.executable} -u {{artifacts:path}}/probe.py
                  Shutdown: echo bye >> {shutdown_mark}""")
    rt = start_runtime()
    rt.deploy(request(workspace, merge={"com.test.A": "1.0.0"}))
    rt.deploy(DeploymentRequest(config_updates={"com.test.A": ConfigUpdate({"level": 5})}))
    rt.stop()
    assert shutdown_mark.read_text() == "bye\n"  # stopping the runtime ran Shutdown
    again = start_runtime()
    assert again.state("com.test.A") == "RUNNING"
    assert again.call(again.runtime.configuration, "com.test.A") == {"level": 5}
    wait_until(lambda: any(line.startswith("started ") and '"level": 5' in line
                           for line in events(runtime_root, "com.test.A")), what="restarted with level 5")
    assert again.deploy(DeploymentRequest(remove=["com.test.A"])).status == "SUCCEEDED"
    assert shutdown_mark.read_text() == "bye\nbye\n"
    assert again.call(lambda: dict(again.runtime.deployed)) == {}


def test_install_skipif_timeout_and_rerun_at_every_start(workspace, start_runtime, runtime_root):
    marks = runtime_root.parent / "installs.txt"
    workspace.recipe("com.test.Skip", "1.0.0", f"""
        Manifests:
          - Platform: {{os: linux}}
            Lifecycle:
              Install: {{Script: 'echo ran >> {marks}', Skipif: 'onpath definitely-not-a-command-xyz'}}
              Run: sleep 60
        """)
    workspace.recipe("com.test.Skipped", "1.0.0", """
        Manifests:
          - Platform: {os: linux}
            Lifecycle:
              Install: {Script: 'exit 9', Skipif: 'onpath sh'}
              Run: sleep 60
        """)
    workspace.recipe("com.test.Slow", "1.0.0", """
        Manifests:
          - Platform: {os: linux}
            Lifecycle:
              Install: {Script: 'sleep 30', Timeout: 1}
              Run: sleep 60
        """)
    rt = start_runtime()
    assert rt.deploy(request(workspace, merge={"com.test.Skip": "1.0.0", "com.test.Skipped": "1.0.0"})).status \
        == "SUCCEEDED"
    slow = rt.deploy(request(workspace, merge={"com.test.Slow": "1.0.0"}))
    assert slow.status == "FAILED" and "Install timed out after 1 s" in slow.reason
    rt.stop()
    start_runtime()
    assert marks.read_text() == "ran\nran\n"  # Install runs again when the runtime starts


def test_configuration_used_by_the_lifecycle_restarts_the_component(workspace, start_runtime, runtime_root):
    workspace.probe("com.test.A", "1.0.0", config="{mode: fast}",
                    lifecycle=f"Run: exec {sys.executable} -u {{artifacts:path}}/probe.py {{configuration:/mode}}")
    rt = start_runtime()
    rt.deploy(request(workspace, merge={"com.test.A": "1.0.0"}))
    ready(runtime_root, "com.test.A")
    assert rt.deploy(DeploymentRequest(config_updates={"com.test.A": ConfigUpdate({"mode": "slow"})})).status \
        == "SUCCEEDED"
    wait_until(lambda: len(started_pids(runtime_root, "com.test.A")) == 2)
    starts = [line for line in events(runtime_root, "com.test.A") if line.startswith("started ")]
    assert starts[-1].endswith("argv=['slow']")


def test_soft_dependency_is_started_first_and_removing_an_unknown_component_fails(
        workspace, start_runtime, runtime_root):
    order = runtime_root.parent / "order.txt"
    soft = "ComponentDependencies:\n  com.test.Lib: {VersionRequirement: '^1.0.0', DependencyType: SOFT}"
    for name, deps in (("com.test.Lib", ""), ("com.test.User", soft)):
        workspace.recipe(name, "1.0.0", f"""
{deps}
Manifests:
  - Platform: {{os: linux}}
    Lifecycle: {{Install: 'echo {name} >> {order}', Run: sleep 60}}
""")
    rt = start_runtime()
    assert rt.deploy(request(workspace, merge={"com.test.User": "1.0.0"})).status == "SUCCEEDED"
    assert order.read_text().split() == ["com.test.Lib", "com.test.User"]
    bad = rt.deploy(DeploymentRequest(remove=["com.test.Nobody"]))
    assert bad.status == "FAILED" and "com.test.Nobody" in bad.reason


def test_a_damaged_stored_recipe_does_not_keep_the_other_components_down(workspace, start_runtime, runtime_root):
    workspace.probe("com.test.A", "1.0.0")
    workspace.probe("com.test.B", "1.0.0")
    rt = start_runtime()
    assert rt.deploy(request(workspace, merge={"com.test.A": "1.0.0", "com.test.B": "1.0.0"})).status == "SUCCEEDED"
    rt.stop()
    (runtime_root / "packages" / "recipes" / "com.test.B-1.0.0.yaml").write_text("not: [a, recipe")
    again = start_runtime()
    assert again.state("com.test.A") == "RUNNING"
    assert again.call(lambda: sorted(again.runtime.deployed)) == ["com.test.A"]
