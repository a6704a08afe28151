"""Pure parts of a local deployment: finding recipes, resolving versions, computing configuration."""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from edgewatch.config_tree import deep_merge, depth_problem, parse_pointer, reset
from edgewatch.local.versions import Version, best_match, satisfies

log = logging.getLogger(__name__)

RECIPE_SUFFIXES = (".yaml", ".yml", ".json")


class DeploymentError(Exception):
    """Why a deployment failed, with a Greengrass-style error type."""

    def __init__(self, message: str, error_type: str = "COMPONENT_ERROR") -> None:
        super().__init__(message)
        self.error_type = error_type


@dataclass(frozen=True)
class ConfigUpdate:
    """greengrass-cli's `{"MERGE": {...}, "RESET": ["/pointer", ...]}` for one component."""

    merge: Mapping[str, Any] = field(default_factory=dict)
    reset: tuple[str, ...] = ()


def parse_config_updates(document: Any) -> dict[str, ConfigUpdate]:
    """Validate `--update-config`: `{"Name": {"MERGE": {...}, "RESET": [...]}}`."""
    if not isinstance(document, Mapping):
        raise DeploymentError("--update-config must be a JSON object keyed by component name", "REQUEST_ERROR")
    updates: dict[str, ConfigUpdate] = {}
    for name, body in document.items():
        if not isinstance(body, Mapping) or not set(body) <= {"MERGE", "RESET"}:
            raise DeploymentError(
                f"--update-config.{name} must be an object with MERGE and/or RESET", "REQUEST_ERROR"
            )
        merge = body.get("MERGE", {})
        resets = body.get("RESET", [])
        if not isinstance(merge, Mapping):
            raise DeploymentError(f"--update-config.{name}.MERGE must be an object", "REQUEST_ERROR")
        too_deep = depth_problem(merge)
        if too_deep:
            raise DeploymentError(f"--update-config.{name}.MERGE is {too_deep}", "REQUEST_ERROR")
        if not isinstance(resets, list) or not all(isinstance(p, str) for p in resets):
            raise DeploymentError(f"--update-config.{name}.RESET must be a list of JSON pointers", "REQUEST_ERROR")
        for pointer in resets:
            try:
                parse_pointer(pointer)
            except ValueError as exc:
                raise DeploymentError(f"--update-config.{name}.RESET: {exc}", "REQUEST_ERROR") from None
        updates[str(name)] = ConfigUpdate(dict(merge), tuple(resets))
    return updates


def new_configuration(
    defaults: Mapping[str, Any], existing: Mapping[str, Any] | None, update: ConfigUpdate | None
) -> dict[str, Any]:
    """Configuration after a deployment, with the nucleus's rules.

    A component keeps the configuration it has (a new version's defaults only fill keys it lacks);
    RESET puts pointers back to the defaults; MERGE then merges, replacing lists whole.
    """
    config = deep_merge(defaults, existing) if existing is not None else copy.deepcopy(dict(defaults))
    if update is not None:
        for pointer in update.reset:
            config = reset(config, pointer, defaults)
        config = deep_merge(config, update.merge)
    return config


ACCESS_CONTROL = "accessControl"


def deployment_access_control(
    defaults: Mapping[str, Any], previous: Mapping[str, Any] | None, update: ConfigUpdate | None
) -> dict[str, Any] | None:
    """A component's `accessControl` after a deployment, from the deployment alone.

    Only the recipe's DefaultConfiguration, what earlier deployments set and this deployment's
    MERGE/RESET count; configuration a component wrote itself never grants anything.
    """
    existing = {ACCESS_CONTROL: dict(previous)} if previous is not None else None
    config = new_configuration({k: v for k, v in defaults.items() if k == ACCESS_CONTROL}, existing,
                               _access_part(update))
    value = config.get(ACCESS_CONTROL)
    return dict(value) if isinstance(value, Mapping) else None


def _access_part(update: ConfigUpdate | None) -> ConfigUpdate | None:
    if update is None:
        return None
    merge = {k: v for k, v in update.merge.items() if k == ACCESS_CONTROL}
    resets = tuple(p for p in update.reset if p in ("", "/") or parse_pointer(p)[:1] == [ACCESS_CONTROL])
    return ConfigUpdate(merge, resets)


def _ci(document: Mapping[str, Any], key: str) -> Any:
    for k, v in document.items():
        if str(k).lower() == key.lower():
            return v
    return None


class RecipeIndex:
    """Recipes found in folders, by component name and version (the first folder wins)."""

    def __init__(self, folders: Iterable[Path]) -> None:
        self._paths: dict[tuple[str, str], Path] = {}
        for folder in folders:
            if folder is None or not folder.is_dir():
                continue
            for path in sorted(folder.iterdir()):
                if path.suffix.lower() not in RECIPE_SUFFIXES or not path.is_file():
                    continue
                try:
                    text = path.read_text()
                    document = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
                except (OSError, ValueError, yaml.YAMLError) as exc:
                    log.warning("skipping unreadable recipe %s: %s", path, exc)
                    continue
                if not isinstance(document, Mapping):
                    continue
                name, version = _ci(document, "ComponentName"), _ci(document, "ComponentVersion")
                if isinstance(name, str) and version is not None:
                    self._paths.setdefault((name, str(version)), path)

    def path(self, name: str, version: str) -> Path | None:
        return self._paths.get((name, version))

    def versions(self, name: str) -> list[str]:
        found = []
        for n, v in self._paths:
            if n != name:
                continue
            try:
                Version(v)
            except ValueError:
                continue
            found.append(v)
        return found


def resolve_versions(
    roots: Mapping[str, str],
    index: RecipeIndex,
    dependencies_of: Any,
    current: Mapping[str, str],
) -> dict[str, str]:
    """Every component needed for `roots` (name → exact version) with its dependencies resolved.

    `dependencies_of(name, version)` returns `{dependency: version requirement}`. A dependency keeps
    its deployed version when that satisfies every requirement, else takes the highest that does.
    """
    chosen: dict[str, str] = {}
    requirements: dict[str, list[tuple[str, str]]] = {}
    pending = list(roots.items())
    absent = [f"{name}-{version}" for name, version in roots.items() if index.path(name, version) is None]
    if absent:
        raise DeploymentError(f"no recipe for {', '.join(sorted(absent))} in the recipe folders", "RECIPE_NOT_FOUND")
    missing: dict[str, str] = {}  # every unresolved dependency is named, not only the first
    while pending:
        name, version = pending.pop()
        if chosen.get(name) == version:
            continue
        chosen[name] = version
        for dep, requirement in dependencies_of(name, version).items():
            requirements.setdefault(dep, []).append((name, requirement))
            needs = " ".join(r for _, r in requirements[dep])
            if dep in chosen and all(_ok(chosen[dep], r) for _, r in requirements[dep]):
                continue
            if dep in roots and not _ok(roots[dep], needs):
                raise DeploymentError(
                    f"{name}-{version} needs {dep} {requirement}, but {dep}-{roots[dep]} is requested",
                    "DEPENDENCY_CONFLICT",
                )
            picked = roots.get(dep) or best_match(index.versions(dep), needs, current.get(dep))
            if picked is None:
                wanted = ", ".join(f"{who} needs {req}" for who, req in requirements[dep])
                available = index.versions(dep)
                missing[dep] = f"no version of {dep} satisfies: {wanted}" + (
                    f" (available: {', '.join(sorted(available, key=Version))})" if available else "")
                continue
            missing.pop(dep, None)
            pending.append((dep, picked))
    if missing:
        raise DeploymentError(f"{len(missing)} unresolved dependenc{'y' if len(missing) == 1 else 'ies'}: "
                              + "; ".join(missing[d] for d in sorted(missing)), "DEPENDENCY_NOT_FOUND")
    return chosen


def _ok(version: str, requirement: str) -> bool:
    return satisfies(version, requirement)


def dependency_order(names: Iterable[str], dependencies: Mapping[str, Iterable[str]]) -> list[str]:
    """Names ordered so that dependencies come first; a cycle is an error."""
    names = list(names)
    order: list[str] = []
    state: dict[str, int] = {}

    def visit(name: str, chain: tuple[str, ...]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            raise DeploymentError("dependency cycle: " + " -> ".join((*chain, name)), "DEPENDENCY_CYCLE")
        state[name] = 1
        for dep in sorted(dependencies.get(name, ())):
            if dep in names:
                visit(dep, (*chain, name))
        state[name] = 2
        order.append(name)

    for name in sorted(names):
        visit(name, ())
    return order
