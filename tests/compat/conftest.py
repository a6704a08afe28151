"""Shared helpers for the compatibility suite: components written the way public Greengrass components
are (recipes in tests/compat/recipes/, or written inline), deployed on the real local runtime.

    def test_x(compat):                         # a started LocalRuntime (in a thread) under tmp_path
        compat.add_recipe_folder(RECIPES / "hello")   # copy <folder>/recipes/* and <folder>/artifacts/**
        record = compat.deploy({"com.example.HelloWorld": "1.0.0"})
        assert record.status == "SUCCEEDED", record.reason
        compat.wait_state("com.example.HelloWorld", "FINISHED")
        client = compat.client("com.example.HelloWorld")   # the unmodified GreengrassCoreIPCClientV2

A recipe folder has greengrass-cli's layout: `recipes/<name>-<version>.yaml` and
`artifacts/<name>/<version>/<files>`. `compat.recipe(...)` writes one inline instead. `compat.start(**kw)`
starts the runtime with LocalRuntime keyword arguments (call it before anything else to choose them;
otherwise the first deploy starts it with the defaults). `python3` in recipes is this test's interpreter.
"""

from __future__ import annotations

import os
import shutil
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edgewatch.local.runtime import DeploymentRecord, DeploymentRequest, LocalRuntime
from edgewatch.local.testing import RuntimeThread, connect_client, wait_until

RECIPES = Path(__file__).with_name("recipes")


class Compat:
    """A workspace (recipes + artifacts folders) and a LocalRuntime running in a background thread."""

    def __init__(self, base: Path) -> None:
        self.root = base / "root"
        self.recipes = base / "ws" / "recipes"
        self.artifacts = base / "ws" / "artifacts"
        self.recipes.mkdir(parents=True)
        self.artifacts.mkdir(parents=True)
        self.rt: RuntimeThread | None = None

    # -- workspace
    def add_recipe_folder(self, folder: Path) -> None:
        """Copy a folder in greengrass-cli layout (recipes/, artifacts/) into the workspace."""
        if (folder / "recipes").is_dir():
            shutil.copytree(folder / "recipes", self.recipes, dirs_exist_ok=True)
        if (folder / "artifacts").is_dir():
            shutil.copytree(folder / "artifacts", self.artifacts, dirs_exist_ok=True)

    def recipe(self, name: str, version: str, body: str, files: dict[str, str | bytes] | None = None) -> Path:
        """Write `recipes/<name>-<version>.yaml` (body after the three header keys, dedented) and its
        artifact folder `artifacts/<name>/<version>/` with `files`."""
        text = f"RecipeFormatVersion: '2020-01-25'\nComponentName: {name}\nComponentVersion: '{version}'\n"
        path = self.recipes / f"{name}-{version}.yaml"
        path.write_text(text + textwrap.dedent(body))
        folder = self.artifacts / name / version
        folder.mkdir(parents=True, exist_ok=True)
        for file_name, content in (files or {}).items():
            target = folder / file_name
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                target.write_bytes(content)
            else:
                target.write_text(content)
        return path

    # -- runtime
    def start(self, **kwargs: Any) -> RuntimeThread:
        # Public recipes run `python3 ...`: make that this interpreter (it has awsiotsdk).
        bin_dir = self.root.parent / "bin"
        bin_dir.mkdir(exist_ok=True)
        if not (bin_dir / "python3").exists():
            # A wrapper, not a symlink: a symlinked venv python outside the venv loses its site-packages.
            (bin_dir / "python3").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
            (bin_dir / "python3").chmod(0o700)
        extra_env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}", **kwargs.pop("extra_env", {})}
        options = {"restart_delay_s": 0.05, "kill_grace_s": 2.0, "validation_timeout_s": 20.0,
                   "reinstall_check_s": 1.0, "extra_env": extra_env, **kwargs}
        assert self.rt is None, "runtime already started"
        self.rt = RuntimeThread(lambda: LocalRuntime(self.root, "gw-compat", **options)).start()
        return self.rt

    @property
    def runtime(self) -> Any:
        return self.started().runtime

    def started(self) -> RuntimeThread:
        return self.rt if self.rt is not None else self.start()

    def deploy(self, merge: dict[str, str] | None = None, **kwargs: Any) -> DeploymentRecord:
        """One deployment from the workspace folders, as `deployment create --recipeDir --artifactDir
        --merge` does; returns its finished record."""
        request = DeploymentRequest(self.recipes, self.artifacts, merge=dict(merge or {}), **kwargs)
        return self.started().deploy(request)

    def state(self, name: str) -> str:
        return self.started().state(name)

    def wait_state(self, name: str, *states: str, timeout: float = 15.0) -> str:
        """Poll until the component is in one of `states`."""
        return wait_until(lambda: (s := self.state(name)) in states and s, timeout,
                          what=f"{name} in {states} (now {self.state(name)})")

    def client(self, name: str) -> Any:
        """The unmodified GreengrassCoreIPCClientV2 authenticated as the deployed component."""
        rt = self.started()
        svcuid = rt.call(lambda: rt.runtime.deployed[name].svcuid)
        return connect_client(rt.call(lambda: rt.runtime.layout.socket_path), svcuid)

    def log(self, name: str) -> str:
        """The component's log file (`<root>/logs/<name>.log`), or '' before it exists."""
        path = self.root / "logs" / f"{name}.log"
        return path.read_text() if path.exists() else ""

    def work(self, name: str) -> Path:
        return self.root / "work" / name

    def stop(self) -> None:
        if self.rt is not None:
            self.rt.stop()
            self.rt = None


@pytest.fixture
def compat(tmp_path: Path) -> Iterator[Compat]:
    helper = Compat(tmp_path)
    yield helper
    helper.stop()
    shutil.rmtree(helper.root, ignore_errors=True)
