from __future__ import annotations

import shutil
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from edgewatch.local.runtime import LocalRuntime
from edgewatch.local.testing import RuntimeThread

PROBE = Path(__file__).with_name("probe_component.py")


class Workspace:
    """Recipes and artifacts folders for a test, in greengrass-cli's layout."""

    def __init__(self, base: Path) -> None:
        self.recipes = base / "recipes"
        self.artifacts = base / "artifacts"
        self.recipes.mkdir(parents=True)
        self.artifacts.mkdir(parents=True)

    def recipe(self, name: str, version: str, body: str, files: dict[str, str | bytes] | None = None) -> None:
        text = f"RecipeFormatVersion: '2020-01-25'\nComponentName: {name}\nComponentVersion: {version}\n"
        (self.recipes / f"{name}-{version}.yaml").write_text(text + textwrap.dedent(body))
        folder = self.artifacts / name / version
        folder.mkdir(parents=True, exist_ok=True)
        for file_name, content in (files or {}).items():
            target = folder / file_name
            if isinstance(content, bytes):
                target.write_bytes(content)
            else:
                target.write_text(content)

    def probe(self, name: str, version: str, *, config: str = "{}", lifecycle: str | None = None,
              extra: str = "") -> None:
        """A component running probe_component.py with the given DefaultConfiguration."""
        lifecycle = lifecycle or f"Run: exec {sys.executable} -u {{artifacts:path}}/probe.py"
        self.recipe(name, version, f"""
            ComponentConfiguration:
              DefaultConfiguration: {config}
            {extra}
            Manifests:
              - Platform: {{os: linux}}
                Lifecycle:
                  {lifecycle}
                Artifacts:
                  - URI: s3://bucket/probe.py
            """, {"probe.py": PROBE.read_text()})


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path / "ws")


@pytest.fixture
def runtime_root(tmp_path: Path) -> Path:
    return tmp_path / "root"


@pytest.fixture
def start_runtime(runtime_root: Path) -> Iterator[Callable[..., RuntimeThread]]:
    started: list[RuntimeThread] = []

    def start(**kwargs: Any) -> RuntimeThread:
        options = {"restart_delay_s": 0.05, "kill_grace_s": 2.0, "validation_timeout_s": 20.0, **kwargs}
        thread = RuntimeThread(lambda: LocalRuntime(runtime_root, "gw-test", **options)).start()
        started.append(thread)
        return thread

    yield start
    for thread in started:
        thread.stop()
    shutil.rmtree(runtime_root, ignore_errors=True)
