"""Deployment, artifacts, lifecycle and recipe variables as the nucleus and greengrass-cli do them,
with components written the way public ones are (issue 12, items 1, 2, 4, 5, 7 and 8)."""

from __future__ import annotations

import json
import logging
import os
import pwd
import shutil
import sys
import tempfile
from pathlib import Path

import awsiot
import pytest

from edgewatch.local.deployment_plan import ConfigUpdate
from edgewatch.local.iot_core import read_records
from edgewatch.local.layout import RuntimeLayout
from edgewatch.local.testing import wait_until
from tests.compat.conftest import RECIPES, Compat

HELLO = "com.example.HelloWorld"


def test_getting_started_hello_world_without_artifacts_section(compat: Compat) -> None:
    """Developer guide, greengrass-cli `deployment create`: "--artifactDir ... The full path to the folder
    that contains the artifact files you want to include in your deployment" (<name>/<version>/<artifacts>);
    CreateLocalDeployment: "All artifact files in this directory will be copied over to the Greengrass
    package store". The getting-started recipe lists no Artifacts and runs {artifacts:path}/hello_world.py."""
    compat.add_recipe_folder(RECIPES / "hello-world")
    record = compat.deploy({HELLO: "1.0.0"})
    assert record.status == "SUCCEEDED", record.reason
    compat.wait_state(HELLO, "FINISHED")
    store = compat.root / "packages" / "artifacts" / HELLO / "1.0.0"
    assert (store / "hello_world.py").is_file() and (store / "lib" / "greeting.py").is_file()
    assert (compat.work(HELLO) / "Greengrass_HelloWorld.log").read_text() == "Hello, world!\n"
    assert "Hello, world!" in compat.log(HELLO)
    # configuration from a deployment reaches the script through {configuration:/Message}
    record = compat.deploy(config_updates={HELLO: ConfigUpdate({"Message": "edge"})})
    assert record.status == "SUCCEEDED", record.reason
    wait_until(lambda: "Hello, edge!" in (compat.work(HELLO) / "Greengrass_HelloWorld.log").read_text(),
               what="the greeting with the new message")


def _daemon_recipe(compat: Compat, name: str) -> None:
    compat.recipe(name, "1.0.0", """
        Manifests:
          - Platform: {os: linux}
            Lifecycle:
              Startup:
                Script: nohup python3 -u {artifacts:path}/daemon.py > daemon.out 2>&1 &
                Timeout: 10
              Shutdown: kill "$(cat daemon.pid)"
        """, {"daemon.py": DAEMON})


DAEMON = """\
import os
import sys
import time

with open("daemon.pid.tmp", "w") as f:
    f.write(str(os.getpid()))
os.rename("daemon.pid.tmp", "daemon.pid")
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
while True:
    time.sleep(0.2)
"""


def test_startup_daemon_is_running_when_its_script_exits_zero(compat: Compat) -> None:
    """Component recipe reference, Startup: the nucleus waits for the script to exit; "the component
    enters the RUNNING state" when it succeeds (a background process it started keeps running), without
    UpdateState. Shutdown stops the daemon; stopping the runtime leaves no process."""
    name = "com.example.StartupDaemon"
    _daemon_recipe(compat, name)
    record = compat.deploy({name: "1.0.0"})
    assert record.status == "SUCCEEDED", record.reason
    assert compat.state(name) == "RUNNING"
    pid_file = compat.work(name) / "daemon.pid"
    pid = int(wait_until(lambda: pid_file.exists() and pid_file.read_text(), what="the daemon's pid"))
    os.kill(pid, 0)  # alive after its Startup script exited
    assert "Startup started" in compat.log(name)
    compat.stop()

    def gone() -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False

    wait_until(gone, what="the daemon stopped by Shutdown")


BOOTSTRAP_BODY = """
    ComponentConfiguration:
      DefaultConfiguration: {{level: 1}}
    Manifests:
      - Platform: {{os: linux}}
        Lifecycle:
          Bootstrap:
            Script: echo "bootstrap {tag}" >> order.txt; exit {code}
          Install: echo install >> order.txt
          Run: echo run >> order.txt
    """


def test_bootstrap_runs_before_install_when_new_or_changed(compat: Compat, caplog) -> None:
    """Component recipe reference, Bootstrap: runs before Install when the component is deployed for the
    first time or its Bootstrap changed; exit code 100 asks for a device reboot, 101 for a nucleus
    restart. A local runtime reboots nothing: it logs the request (WARNING) and goes on."""
    name = "com.example.Bootstrap"
    order = compat.work(name) / "order.txt"
    compat.recipe(name, "1.0.0", BOOTSTRAP_BODY.format(tag="a", code=0))
    assert compat.deploy({name: "1.0.0"}).status == "SUCCEEDED"
    wait_until(lambda: order.exists() and "run" in order.read_text(), what="Run after Bootstrap and Install")
    assert order.read_text().splitlines() == ["bootstrap a", "install", "run"]

    # same Bootstrap, configuration change only: Bootstrap does not run again
    assert compat.deploy(config_updates={name: ConfigUpdate({"level": 2})}).status == "SUCCEEDED"
    # a restart of the runtime: Install runs again (every start), Bootstrap does not
    compat.stop()
    compat.start()
    wait_until(lambda: order.read_text().count("run") == 2, what="Run after the restart")
    assert order.read_text().count("bootstrap") == 1

    # changed Bootstrap (same version redeployed) that asks for a nucleus restart, then a reboot
    for tag, code, said in (("b", 101, "requested a restart of the nucleus"), ("c", 100, "requested a device reboot")):
        compat.recipe(name, "1.0.0", BOOTSTRAP_BODY.format(tag=tag, code=code))
        with caplog.at_level(logging.WARNING, logger="edgewatch.local.component_runner"):
            record = compat.deploy({name: "1.0.0"})
        assert record.status == "SUCCEEDED", record.reason
        assert f"bootstrap {tag}" in order.read_text()
        assert said in compat.log(name)
        assert any(said in r.getMessage() and name in r.getMessage() for r in caplog.records)
    assert compat.state(name) in ("RUNNING", "FINISHED")


def test_bootstrap_failure_fails_the_deployment(compat: Compat) -> None:
    """Component recipe reference, Bootstrap: any exit code other than 0, 100 or 101 is an error."""
    name = "com.example.BadBootstrap"
    compat.recipe(name, "1.0.0", BOOTSTRAP_BODY.format(tag="x", code=7))
    record = compat.deploy({name: "1.0.0"})
    assert record.status == "FAILED"
    assert "Bootstrap failed with exit code 7" in record.reason


APP = """\
import os, sys, time
version = open(os.path.join(os.path.dirname(__file__), "version.txt")).read().strip()
print("app", os.environ.get("GREETING", "-"), version, flush=True)
if version == "broken":
    sys.exit(1)
while True:
    time.sleep(1)
"""


def _app(compat: Compat, version_txt: str, setenv: str = "") -> None:
    compat.recipe("com.example.EditLoop", "1.0.0", f"""
        Manifests:
          - Platform: {{os: linux}}
            Lifecycle:
              {setenv}
              Run: exec python3 -u {{artifacts:path}}/app.py
        """, {"app.py": APP, "version.txt": version_txt})


def test_same_version_redeploy_is_the_edit_loop(compat: Compat) -> None:
    """Developer guide, "Develop and test a component on your device": edit the recipe or artifacts and
    run `deployment create` again with the same version; the new artifacts are copied to the package
    store and the component restarts. "Any deployment will attempt to reinstall currently broken
    components." state/deployed.json points at the runtime's own copy of each recipe."""
    name = "com.example.EditLoop"
    _app(compat, "one")
    assert compat.deploy({name: "1.0.0"}).status == "SUCCEEDED"
    wait_until(lambda: "app - one" in compat.log(name), what="first version")
    deployed = json.loads((compat.root / "state" / "deployed.json").read_text())
    stored = Path(deployed[0]["recipe"])
    assert stored.parent == compat.root / "packages" / "recipes" and stored.is_file()

    _app(compat, "two")  # artifacts changed, same version
    assert compat.deploy({name: "1.0.0"}).status == "SUCCEEDED"
    wait_until(lambda: "app - two" in compat.log(name), what="new artifacts running")
    assert (compat.root / "packages" / "artifacts" / name / "1.0.0" / "version.txt").read_text() == "two"

    _app(compat, "two", setenv="Setenv: {GREETING: hi}")  # recipe changed, same version
    assert compat.deploy({name: "1.0.0"}).status == "SUCCEEDED"
    wait_until(lambda: "app hi two" in compat.log(name), what="new recipe running")
    assert "GREETING" in stored.read_text()  # the runtime's copy was updated
    assert json.loads((compat.root / "state" / "deployed.json").read_text())[0]["recipe"] == str(stored)

    _app(compat, "broken")  # a bad edit: the component goes BROKEN...
    compat.deploy({name: "1.0.0"})
    compat.wait_state(name, "BROKEN")
    _app(compat, "three")  # ...and the fix, redeployed as the same version, brings it back
    record = compat.deploy({name: "1.0.0"})
    assert record.status == "SUCCEEDED", record.reason
    wait_until(lambda: "app - three" in compat.log(name), what="fixed version running")
    assert compat.state(name) == "RUNNING"
    # the user's folder may go away: the runtime runs from its own copies
    compat.stop()
    shutil.rmtree(compat.recipes)
    shutil.rmtree(compat.artifacts)
    compat.start()
    compat.wait_state(name, "RUNNING")
    wait_until(lambda: compat.log(name).count("app - three") == 2, what="restored from the runtime's copy")


UNRESOLVED = """
    ComponentConfiguration:
      DefaultConfiguration: {present: here}
    Manifests:
      - Platform: {os: linux}
        Lifecycle:
          Run: echo "value={configuration:/present} absent={configuration:/absent} shell=${HOME:+set}"
    """


def test_unresolved_variable_is_left_as_written_with_one_warning(compat: Compat, caplog) -> None:
    """Component recipe reference, recipe variables: the nucleus leaves a variable it cannot resolve
    as written, and public recipes rely on it. Default mode: the deployment goes on and ONE WARNING
    names the recipe, the step and the variable."""
    name = "com.example.Unresolved"
    compat.recipe(name, "1.0.0", UNRESOLVED)
    with caplog.at_level(logging.WARNING, logger="edgewatch.local.runtime"):
        record = compat.deploy({name: "1.0.0"})
    assert record.status == "SUCCEEDED", record.reason
    compat.wait_state(name, "FINISHED")
    wait_until(lambda: "value=here absent={configuration:/absent} shell=set" in compat.log(name), what="output")
    warnings = [r.getMessage() for r in caplog.records if "unresolved" in r.getMessage()]
    assert len(warnings) == 1, warnings
    assert f"{name}-1.0.0" in warnings[0] and "Run: {configuration:/absent}" in warnings[0]


def test_strict_recipes_fail_on_an_unresolved_variable(compat: Compat) -> None:
    """`--strict-recipes` (LocalRuntime(strict_recipes=True), or per deployment): an unresolvable variable
    fails the deployment with nothing changed; CI uses it for our own components."""
    name = "com.example.Unresolved"
    compat.recipe(name, "1.0.0", UNRESOLVED)
    compat.start(strict_recipes=True)
    record = compat.deploy({name: "1.0.0"})
    assert (record.status, record.error_types) == ("FAILED", ["RECIPE_INTERPOLATION_ERROR"])
    assert "{configuration:/absent}" in record.reason and "has no value" in record.reason
    assert compat.state(name) == "NEW"
    # a lenient deployment on a strict runtime, and the other way round
    assert compat.deploy({name: "1.0.0"}, strict_recipes=False).status == "SUCCEEDED"


def test_strict_per_deployment_on_a_lenient_runtime(compat: Compat) -> None:
    name = "com.example.Unresolved"
    compat.recipe(name, "1.0.0", UNRESOLVED)
    record = compat.deploy({name: "1.0.0"}, strict_recipes=True)
    assert record.status == "FAILED" and record.error_types == ["RECIPE_INTERPOLATION_ERROR"]


PRIVILEGE_BODY = """
    Manifests:
      - Platform: {os: linux}
        Lifecycle:
          Install: id -u > install-uid; cat {artifacts:path}/data.txt > install-read
          Run:
            Script: id -u > run-uid; echo ok > "$(pwd)/run-wrote"
            RequiresPrivilege: true
    """


# The venv's interpreter may live where `nobody` cannot reach (pyenv under /root): the component user
# runs the system Python of the same version with this venv's packages.
USER_PYTHON = shutil.which(f"python{sys.version_info.major}.{sys.version_info.minor}", path="/usr/bin:/usr/local/bin")
SITE_PACKAGES = str(Path(awsiot.__file__).resolve().parent.parent)


@pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root (CI runs as root)")
@pytest.mark.skipif(USER_PYTHON is None, reason="no system Python of this version for the component user")
def test_steps_run_as_the_default_user_unless_privileged(tmp_path: Path) -> None:
    """Developer guide, "Configure the user that runs components": with componentDefaultUser set, the
    nucleus (running as root) runs lifecycle steps as that user, and steps with RequiresPrivilege: true
    as root. The component's work dir belongs to that user; artifacts stay read-only but readable; the
    IPC socket accepts it (the SVCUID authenticates)."""
    base = Path(tempfile.mkdtemp(prefix="ew-user-"))
    os.chmod(base, 0o711)  # pytest's tmp_path is 0700 root: the component user could not reach the root
    helper = Compat(base)
    try:
        nobody = pwd.getpwnam("nobody")
        name = "com.example.Privilege"
        helper.recipe(name, "1.0.0", PRIVILEGE_BODY, {"data.txt": "artifact data"})
        helper.recipe("com.example.UserIpc", "1.0.0", f"""
            ComponentConfiguration:
              DefaultConfiguration:
                accessControl:
                  aws.greengrass.ipc.mqttproxy:
                    p: {{operations: ["aws.greengrass#PublishToIoTCore"], resources: ["user/topic"]}}
            Manifests:
              - Platform: {{os: linux}}
                Lifecycle:
                  Setenv: {{PYTHONPATH: "{SITE_PACKAGES}"}}
                  Run: {USER_PYTHON} -c "{IPC_PUBLISH}"
            """)
        helper.start(component_default_user="nobody")
        record = helper.deploy({name: "1.0.0"})
        assert record.status == "SUCCEEDED", record.reason
        helper.wait_state(name, "FINISHED")
        work = helper.work(name)
        assert (work / "install-uid").read_text().strip() == str(nobody.pw_uid)
        assert (work / "install-read").read_text() == "artifact data"
        assert (work / "run-uid").read_text().strip() == "0"  # RequiresPrivilege: root
        assert work.stat().st_uid == nobody.pw_uid

        # a component running as nobody reaches the IPC socket with the real client
        record = helper.deploy({"com.example.UserIpc": "1.0.0"})
        assert record.status == "SUCCEEDED", record.reason
        helper.wait_state("com.example.UserIpc", "FINISHED", "BROKEN")
        assert helper.state("com.example.UserIpc") == "FINISHED", helper.log("com.example.UserIpc")
        published = RuntimeLayout(helper.root).iot_core_log()
        message = wait_until(lambda: next(iter(read_records(published)), None), what="the IoT Core publish")
        assert message["topic"] == "user/topic", message
        assert str(nobody.pw_uid) in json.dumps(message)
    finally:
        helper.stop()
        shutil.rmtree(base, ignore_errors=True)


IPC_PUBLISH = (
    "import os; from awsiot.greengrasscoreipc.clientv2 import GreengrassCoreIPCClientV2 as C; "
    "c = C(); c.publish_to_iot_core(topic_name='user/topic', qos='1', payload=str(os.getuid()).encode()); "
    "c.close()"
)


def test_default_user_when_not_root_warns_once_and_runs_as_self(compat: Compat, caplog, monkeypatch) -> None:
    """Where the runtime is not root it cannot switch users: one WARNING at start, steps run as itself."""
    monkeypatch.setattr(os, "geteuid", lambda: 4242)
    name = "com.example.Privilege"
    compat.recipe(name, "1.0.0", PRIVILEGE_BODY, {"data.txt": "artifact data"})
    with caplog.at_level(logging.WARNING, logger="edgewatch.local.runtime"):
        compat.start(component_default_user="nobody")
    monkeypatch.undo()
    warnings = [r.getMessage() for r in caplog.records if "--component-default-user" in r.getMessage()]
    assert len(warnings) == 1 and "not running as root" in warnings[0]
    assert compat.deploy({name: "1.0.0"}).status == "SUCCEEDED"
    compat.wait_state(name, "FINISHED")
    assert (compat.work(name) / "install-uid").read_text().strip() == str(os.getuid())


def test_unknown_default_user_is_a_clear_error(tmp_path: Path) -> None:
    from edgewatch.local.runtime import LocalRuntime

    with pytest.raises(ValueError, match="no such user 'no-such-user-here'"):
        LocalRuntime(tmp_path, "t", component_default_user="no-such-user-here")

