"""Typed, normalised view of a Greengrass recipe (the original-case document stays in `raw`), and
manifest selection. Layering: errors <- lifecycle, platforms <- model <- loader (interpolation needs lifecycle only).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, Literal, NamedTuple

from edgewatch.recipe.errors import RecipeError
from edgewatch.recipe.lifecycle import DEFAULT_SELECTIONS, Lifecycle, normalise_lifecycle, resolve_selections
from edgewatch.recipe.platforms import current_platform, platform_matches

logger = logging.getLogger(__name__)

DependencyType = Literal["HARD", "SOFT"]

class Dependency(NamedTuple):
    """A ComponentDependencies entry: an npm-style version range and HARD (default) or SOFT."""

    version_requirement: str
    dependency_type: DependencyType = "HARD"


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
        return select_manifest(self, platform)


def resolve_manifest_lifecycle(recipe: Recipe, manifest: Manifest) -> SelectedManifest:
    """Apply the reference's rule: the manifest lifecycle if it has one, else the global
    lifecycle resolved with the manifest's Selections (default `all`)."""
    path = f"Manifests[{manifest.index}].Lifecycle"
    if manifest.lifecycle:
        raw = manifest.lifecycle
    else:
        selections = manifest.selections or DEFAULT_SELECTIONS
        raw = resolve_selections(recipe.global_lifecycle or {}, selections) or {}
        path = f"Lifecycle (selections {', '.join(selections)})"
    return SelectedManifest(manifest=manifest, lifecycle=normalise_lifecycle(raw, recipe.source, path))


def select_manifest(recipe: Recipe, device: Mapping[str, str] | None = None) -> SelectedManifest:
    """The first manifest whose Platform matches `device` (default: this machine)."""
    device = dict(device) if device is not None else current_platform()
    for manifest in recipe.manifests:
        try:
            matched = platform_matches(manifest.platform, device)
        except ValueError as exc:
            raise RecipeError(recipe.source, f"Manifests[{manifest.index}].Platform", str(exc)) from exc
        if matched:
            logger.debug("%s: manifest %d matches platform %s", recipe.name, manifest.index, device)
            return resolve_manifest_lifecycle(recipe, manifest)
    wanted = "; ".join(str(dict(m.platform)) or "{}" for m in recipe.manifests) or "no manifests"
    raise RecipeError(
        recipe.source, "Manifests", f"no manifest matches platform {device} (manifests: {wanted})"
    )
