"""The `edgewatch` command as tests run it: a subprocess of this interpreter, no terminal."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol


class Built(Protocol):
    name: str
    version: str


def edgewatch(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edgewatch.cli", *args], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)  # fmt: skip


def merge_args(built: Iterable[Built]) -> list[str]:
    """`--merge NAME=VERSION` for each built component, for `edgewatch local deployment create`."""
    return [arg for b in built for arg in ("--merge", f"{b.name}={b.version}")]


def start_detached_runtime(root: Path, thing: str) -> None:
    """`edgewatch local start --detach --strict-recipes` with this interpreter for the components."""
    started = edgewatch("local", "start", "--root", str(root), "--thing-name", thing, "--detach",
                        "--strict-recipes", "--env", f"EDGEWATCH_PYTHON={sys.executable}")  # fmt: skip
    assert started.returncode == 0, started.stdout + started.stderr


def deploy_built(
    root: Path, out: Path, built: Iterable[Built], update: Path, *merges: str, timeout: float = 300
) -> None:
    """Deploy what `build_components(..., out_dir=out)` built (plus `merges`) with `update` as
    `--update-config`, waiting for the deployment to finish."""
    deployed = edgewatch("local", "deployment", "create", "--root", str(root), "--recipeDir", str(out / "recipes"),
                         "--artifactDir", str(out / "artifacts"), *merge_args(built), *merges,
                         "--update-config", f"@{update}", "--wait", timeout=timeout)  # fmt: skip
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
