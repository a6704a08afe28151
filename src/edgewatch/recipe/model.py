"""Typed, normalised view of a Greengrass recipe (the original-case document stays in `raw`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any, Literal, NamedTuple

DependencyType = Literal["HARD", "SOFT"]

# Lifecycle step names in the order the nucleus uses them; Setenv sits beside them.
STEP_NAMES: tuple[str, ...] = ("bootstrap", "install", "startup", "run", "shutdown", "recover")

# Nucleus defaults in seconds (component recipe reference); Run has no timeout unless one is set.
DEFAULT_TIMEOUTS: Mapping[str, float | None] = {
    "bootstrap": 120.0,
    "install": 120.0,
    "startup": 120.0,
    "run": None,
    "shutdown": 15.0,
    "recover": 60.0,
}


class Dependency(NamedTuple):
    """A ComponentDependencies entry: an npm-style version range and HARD (default) or SOFT."""

    version_requirement: str
    dependency_type: DependencyType = "HARD"


@dataclass(frozen=True)
class SkipIf:
    """`Skipif: onpath <executable>` or `Skipif: exists <file>`."""

    check: Literal["onpath", "exists"]
    target: str


@dataclass(frozen=True)
class LifecycleStep:
    """One lifecycle step. `timeout` is seconds, None meaning no limit (Run's default)."""

    name: str
    script: str
    timeout: float | None
    skipif: SkipIf | None = None
    requires_privilege: bool = False
    setenv: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Lifecycle:
    """A manifest's lifecycle after selection: lifecycle-level Setenv plus the steps present."""

    setenv: Mapping[str, str] = field(default_factory=dict)
    bootstrap: LifecycleStep | None = None
    install: LifecycleStep | None = None
    startup: LifecycleStep | None = None
    run: LifecycleStep | None = None
    shutdown: LifecycleStep | None = None
    recover: LifecycleStep | None = None

    def step(self, name: str) -> LifecycleStep | None:
        """The step called `name` (any case), or None when the recipe does not define it."""
        key = name.lower()
        if key not in STEP_NAMES:
            raise KeyError(name)
        step: LifecycleStep | None = getattr(self, key)
        return step

    def environment(self, name: str) -> dict[str, str]:
        """Setenv for a step: lifecycle-level values overridden by the step's own."""
        step = self.step(name)
        env = dict(self.setenv)
        if step is not None:
            env.update(step.setenv)
        return env


@dataclass(frozen=True)
class Artifact:
    """A manifest artifact. `unarchive` is "NONE" or "ZIP"; permissions NONE/OWNER/ALL."""

    uri: str
    unarchive: str = "NONE"
    read: str = "OWNER"
    execute: str = "NONE"
    digest: str | None = None
    algorithm: str | None = None

    @property
    def file_name(self) -> str:
        """The artifact's file name: the last segment of its URI."""
        return PurePosixPath(self.uri.split("://", 1)[-1]).name

    @property
    def unpack_dir_name(self) -> str:
        """Folder a ZIP unpacks to under the decompressed path: its name without extension."""
        name = self.file_name
        return name.rsplit(".", 1)[0] if "." in name else name


@dataclass(frozen=True)
class Manifest:
    """One entry of Manifests. `lifecycle` is the raw manifest lifecycle (None if absent)."""

    index: int
    name: str | None
    platform: Mapping[str, str]
    lifecycle: Mapping[str, Any] | None
    selections: tuple[str, ...]
    artifacts: tuple[Artifact, ...]


@dataclass(frozen=True)
class SelectedManifest:
    """The manifest chosen for a platform, with its lifecycle resolved and normalised."""

    manifest: Manifest
    lifecycle: Lifecycle

    @property
    def artifacts(self) -> tuple[Artifact, ...]:
        return self.manifest.artifacts


@dataclass(frozen=True)
class Recipe:
    """A validated recipe. `raw` is the original-case document, `source` its file or "<dict>"."""

    name: str
    version: str
    publisher: str | None
    description: str | None
    format_version: str
    component_type: str | None
    default_configuration: Mapping[str, Any]
    access_control: Mapping[str, Any]
    dependencies: Mapping[str, Dependency]
    manifests: tuple[Manifest, ...]
    global_lifecycle: Mapping[str, Any] | None
    source: str
    raw: Mapping[str, Any]

    def select(self, platform: Mapping[str, str] | None = None) -> SelectedManifest:
        """Pick the manifest for `platform` (default: this machine) and resolve its lifecycle."""
        from edgewatch.recipe.platforms import select_manifest

        return select_manifest(self, platform)
