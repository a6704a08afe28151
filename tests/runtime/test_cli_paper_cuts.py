"""CLI paper cuts (issue 12): --wait prints each component's state, --until-stable catches a component
that breaks after SUCCEEDED, `logs NAME | head` exits quietly, and the recipe schema error for an
unquoted RecipeFormatVersion says what was found and expected, with every error listed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from edgewatch.recipe import RecipeError, load_recipe
from edgewatch_testkit.cli import edgewatch
from tests.runtime.conftest import Workspace


@pytest.fixture
def root(tmp_path: Path):
    root = tmp_path / "rt"
    started = edgewatch("local", "start", "--root", str(root), "--thing-name", "gw-cuts", "--detach")
    assert started.returncode == 0, started.stderr
    yield root
    edgewatch("local", "stop", "--root", str(root))


def _create(root: Path, ws: Workspace, *extra: str) -> subprocess.CompletedProcess[str]:
    return edgewatch("local", "deployment", "create", "--root", str(root), "--recipeDir", str(ws.recipes),
                     "--artifactDir", str(ws.artifacts), *extra)


def test_wait_prints_states_and_until_stable_catches_a_crash(workspace: Workspace, root: Path) -> None:
    """A deployment SUCCEEDS once its components start ("a deployment succeeds when its components reach
    RUNNING"): a Run step that dies a moment later is only seen by watching, which --until-stable does."""
    workspace.recipe("com.test.Steady", "1.0.0", """
        Manifests:
          - Platform: {os: linux}
            Lifecycle: {Run: exec sleep 60}
        """)
    workspace.recipe("com.test.Flaky", "1.0.0", """
        Manifests:
          - Platform: {os: linux}
            Lifecycle: {Run: sleep 0.3; exit 1}
        """)
    steady = _create(root, workspace, "--merge", "com.test.Steady=1.0.0", "--until-stable", "1")
    assert steady.returncode == 0, steady.stdout + steady.stderr
    assert "SUCCEEDED" in steady.stdout and "com.test.Steady 1.0.0: RUNNING" in steady.stdout
    assert "stayed up for 1 s" in steady.stdout

    flaky = _create(root, workspace, "--merge", "com.test.Flaky=1.0.0", "--wait", "--until-stable", "20")
    assert flaky.returncode == 1, flaky.stdout + flaky.stderr
    assert "SUCCEEDED" in flaky.stdout  # the deployment itself did succeed...
    assert "com.test.Flaky is ERRORED" in flaky.stdout or "com.test.Flaky is BROKEN" in flaky.stdout  # ...then

    plain = _create(root, workspace, "--merge", "com.test.Steady=1.0.0", "--wait")
    assert plain.returncode == 0 and "com.test.Steady 1.0.0: RUNNING" in plain.stdout


def test_strict_recipes_on_deployment_create(workspace: Workspace, root: Path) -> None:
    workspace.recipe("com.test.Absent", "1.0.0", """
        Manifests:
          - Platform: {os: linux}
            Lifecycle: {Run: 'echo {configuration:/absent}'}
        """)
    strict = _create(root, workspace, "--merge", "com.test.Absent=1.0.0", "--wait", "--strict-recipes")
    assert strict.returncode == 1 and "{configuration:/absent}" in strict.stdout, strict.stdout
    lenient = _create(root, workspace, "--merge", "com.test.Absent=1.0.0", "--wait")
    assert lenient.returncode == 0, lenient.stdout
    log = (root / "logs" / "runtime.log").read_text()
    assert log.count("left unresolved recipe variable(s) as written") == 1
    assert "Run: {configuration:/absent}" in log


def test_strict_recipes_on_local_start(workspace: Workspace, tmp_path: Path) -> None:
    """`local start --strict-recipes`: every deployment is strict (what CI uses for our components)."""
    workspace.recipe("com.test.Absent", "1.0.0", """
        Manifests:
          - Platform: {os: linux}
            Lifecycle: {Run: 'echo {iot:thingNmae}'}
        """)
    strict_root = tmp_path / "strict"
    started = edgewatch("local", "start", "--root", str(strict_root), "--detach", "--strict-recipes")
    assert started.returncode == 0, started.stderr
    try:
        created = _create(strict_root, workspace, "--merge", "com.test.Absent=1.0.0", "--wait")
        assert created.returncode == 1, created.stdout
        assert "{iot:thingNmae}" in created.stdout and "unknown key 'thingNmae'" in created.stdout
    finally:
        edgewatch("local", "stop", "--root", str(strict_root))


def test_logs_into_a_closed_pipe_exits_quietly(tmp_path: Path) -> None:
    """`edgewatch local logs NAME | head`: no BrokenPipeError traceback."""
    root = tmp_path / "rt"
    (root / "logs").mkdir(parents=True)
    (root / "logs" / "com.test.Chatty.log").write_text("".join(f"line {i} " + "x" * 100 + "\n" for i in range(5000)))
    process = subprocess.Popen([sys.executable, "-m", "edgewatch.cli", "local", "logs", "com.test.Chatty", "--root",
                                str(root), "--lines", "5000"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None and process.stderr is not None
    assert process.stdout.readline().startswith(b"line 0 ")
    process.stdout.close()  # what `head` does after its lines
    stderr = process.stderr.read().decode()
    assert process.wait(30) == 0
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr, stderr


def test_unquoted_recipe_format_version_error_reads_forwards_and_lists_every_error(tmp_path: Path) -> None:
    recipe = tmp_path / "bad.yaml"
    recipe.write_text("""RecipeFormatVersion: 2020-01-25
ComponentName: com.example.Bad
ComponentVersion: '1.0.0'
Manifests:
  - Platform: {os: linux}
    Lifecycle: {Run: 'true'}
    Artifacts: [{URI: s3://b/x, Unarchive: TAR}]
""")
    with pytest.raises(RecipeError) as raised:
        load_recipe(recipe)
    message = str(raised.value)
    assert "RecipeFormatVersion: found a date (2020-01-25, unquoted in YAML), expected the quoted string " \
           "'2020-01-25'" in message
    assert "Manifests[0].Artifacts[0].Unarchive: found 'TAR'" in message  # the other error is listed too
    assert "more error" not in message
