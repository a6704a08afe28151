"""Platform detection and manifest selection (first matching manifest wins, as on the nucleus)."""

from __future__ import annotations

import logging
import platform as _platform
import re
from collections.abc import Mapping

from edgewatch.recipe.errors import RecipeError
from edgewatch.recipe.lifecycle import DEFAULT_SELECTIONS, normalise_lifecycle, resolve_selections
from edgewatch.recipe.model import Manifest, Recipe, SelectedManifest

logger = logging.getLogger(__name__)

# platform.machine() values -> Greengrass architecture names (amd64, aarch64, arm, x86).
_ARCHITECTURES = {
    "x86_64": "amd64",
    "amd64": "amd64",
    "aarch64": "aarch64",
    "arm64": "aarch64",
    "armv8l": "arm",
    "armv7l": "arm",
    "armv7": "arm",
    "armv6l": "arm",
    "arm": "arm",
    "i386": "x86",
    "i486": "x86",
    "i586": "x86",
    "i686": "x86",
    "x86": "x86",
}

# `*` is documented; `all`/`any` appear in older recipes and GDK treats them as wildcards too.
_WILDCARDS = frozenset({"*", "all", "any"})


def greengrass_architecture(machine: str) -> str:
    """Map a `platform.machine()` string to the name Greengrass uses."""
    return _ARCHITECTURES.get(machine.lower(), machine.lower())


def current_platform() -> dict[str, str]:
    """This machine as the nucleus describes it: {"os": "linux", "architecture": "amd64"}."""
    system = _platform.system().lower() or "linux"
    return {"os": system, "architecture": greengrass_architecture(_platform.machine())}


def value_matches(requirement: str, actual: str | None) -> bool:
    """Match one platform value: exact, `*` (also when absent) or `/java-style regex/` (full match)."""
    if requirement in _WILDCARDS:
        return True
    if len(requirement) >= 2 and requirement.startswith("/") and requirement.endswith("/"):
        try:
            return re.fullmatch(requirement[1:-1], actual or "") is not None
        except re.error as exc:
            raise ValueError(f"invalid platform regex {requirement!r}: {exc}") from exc
    return actual is not None and requirement == actual


def platform_matches(requirement: Mapping[str, str], device: Mapping[str, str]) -> bool:
    """True when every key of a manifest's Platform matches the device's attributes."""
    return all(value_matches(str(want), device.get(key)) for key, want in requirement.items())


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
