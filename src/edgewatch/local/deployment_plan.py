"""Pure parts of a local deployment: what a deployment does, decided without touching anything.

`plan_deployment(current, request, recipes, platform)` resolves versions, computes every component's
configuration and access control, interpolates its lifecycle and compares the result with what
runs: what to start, restart, reconfigure and remove. `plan_restore` does the same for what a
runtime brings back when it starts. `deployment_executor` carries a plan out. Recipes come from a
`RecipeSource` (files: `recipe_index.RecipeIndex`); nothing here reads or writes a file.
"""

from __future__ import annotations

import copy
import logging
import secrets as token_source
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from edgewatch.config_tree import deep_merge, depth_problem, parse_pointer, reset
from edgewatch.local.component_runner import RunSpec, State
from edgewatch.local.component_specs import SpecContext, SpecError
from edgewatch.local.component_updates import UpdatePolicy
from edgewatch.local.versions import Version, best_match, satisfies
from edgewatch.recipe import Artifact, Recipe, RecipeError

log = logging.getLogger(__name__)


class DeploymentStatus(StrEnum):
    """A deployment's status, as greengrass-cli shows it."""

    QUEUED = "QUEUED"
    IN_PROGRESS = "IN_PROGRESS"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


class DetailedStatus(StrEnum):
    """The nucleus's detailedDeploymentStatus of a finished deployment."""

    SUCCESSFUL = "SUCCESSFUL"
    FAILED_NO_STATE_CHANGE = "FAILED_NO_STATE_CHANGE"
    FAILED_ROLLBACK_COMPLETE = "FAILED_ROLLBACK_COMPLETE"


class DeploymentError(Exception):
    """Why a deployment failed, with a Greengrass-style error type and what it left behind."""

    def __init__(self, message: str, error_type: str = "COMPONENT_ERROR",
                 detailed_status: DetailedStatus = DetailedStatus.FAILED_ROLLBACK_COMPLETE) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.detailed_status = detailed_status


def no_change(message: str, error_type: str) -> DeploymentError:
    """A deployment that failed before it changed anything."""
    return DeploymentError(message, error_type, DetailedStatus.FAILED_NO_STATE_CHANGE)


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



@dataclass
class DeploymentRequest:
    recipe_dir: Path | None = None
    artifact_dir: Path | None = None
    merge: dict[str, str] = field(default_factory=dict)
    remove: list[str] = field(default_factory=list)
    config_updates: dict[str, ConfigUpdate] = field(default_factory=dict)
    # componentUpdatePolicy: NOTIFY_COMPONENTS (default, timeout 60 s) or SKIP_NOTIFY_COMPONENTS
    update_policy: UpdatePolicy = field(default_factory=UpdatePolicy)
    # None: the runtime's default (`local start --strict-recipes`); True: an unresolvable recipe
    # variable fails this deployment; False: it stays as written with one WARNING, as on the nucleus.
    strict_recipes: bool | None = None


@dataclass(frozen=True)
class Deployed:
    """One component version as deployed: its recipe, configuration and interpolated run spec."""

    name: str
    version: str
    recipe: Recipe
    recipe_path: Path
    root: bool
    config: dict[str, Any]
    spec: RunSpec
    svcuid: str
    # From the deployment only (recipe defaults + deployment merges), never from what a component wrote.
    access_control: dict[str, Any] | None = None


class RecipeSource(Protocol):
    """Recipes by component name and version."""

    def path(self, name: str, version: str) -> Path | None:
        """Where the recipe of `name`-`version` is, or None when there is none."""

    def versions(self, name: str) -> list[str]:
        """Every (semantic) version of `name` there is a recipe for."""

    def get(self, name: str, version: str) -> Recipe:
        """The recipe; KeyError when there is none, RecipeError when it is invalid."""


@dataclass(frozen=True)
class Current:
    """What the runtime has when a deployment starts."""

    deployed: Mapping[str, Deployed] = field(default_factory=dict)
    # The state of each component that has a runner; one without is started again.
    states: Mapping[str, State] = field(default_factory=dict)
    # The stored configuration of each component that has one (what components wrote included).
    configurations: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


class Change(StrEnum):
    """What a deployment does to one of its components."""

    START = "start"  # new, or not running
    RESTART = "restart"  # another version, run spec or artifacts, or BROKEN (then reinstalled)
    RECONFIGURE = "reconfigure"  # only the configuration changed: validated and set, no restart
    KEEP = "keep"


@dataclass(frozen=True)
class DeploymentPlan:
    """What carrying out a deployment does, decided before anything is touched."""

    targets: Mapping[str, Deployed]  # everything deployed afterwards, in resolution order
    changes: Mapping[str, Change]  # by target
    remove: tuple[str, ...] = ()
    # Restarted because BROKEN: must stay up for a while after the reinstall.
    revive: frozenset[str] = frozenset()
    # Running components offered their changed configuration for validation (as on the nucleus, only changed).
    validate: tuple[str, ...] = ()
    # The artifacts to stage, by component: new, another version, or an `--artifactDir` given.
    stage: Mapping[str, tuple[Artifact, ...]] = field(default_factory=dict)
    artifact_dir: Path | None = None
    # What was deployed before: what a failed deployment rolls back to.
    previous: Mapping[str, Deployed] = field(default_factory=dict)

    def names(self, change: Change) -> list[str]:
        return [name for name, c in self.changes.items() if c == change]

    @property
    def start(self) -> list[str]:
        return self.names(Change.START)

    @property
    def restart(self) -> list[str]:
        return self.names(Change.RESTART)

    @property
    def reconfigure(self) -> list[str]:
        return self.names(Change.RECONFIGURE)

    @property
    def changed(self) -> list[str]:
        return self.start + self.restart + self.reconfigure + list(self.remove)

    def with_new_artifacts(self, names: Iterable[str]) -> DeploymentPlan:
        """The plan once staging found new or changed files for `names`: those restart. Same version with
        new artifacts is the everyday edit loop of greengrass-cli."""
        fresh = set(names)
        return replace(self, changes={
            name: Change.RESTART if name in fresh and change in (Change.KEEP, Change.RECONFIGURE) else change
            for name, change in self.changes.items()})


def _new_svcuid() -> str:
    return token_source.token_urlsafe(24)


def plan_deployment(
    current: Current,
    request: DeploymentRequest,
    recipes: RecipeSource,
    platform: Mapping[str, str],
    *,
    specs: SpecContext,
    strict_recipes: bool = False,
    new_svcuid: Callable[[], str] = _new_svcuid,
) -> DeploymentPlan:
    """What `request` does on top of `current`; raises DeploymentError (FAILED_NO_STATE_CHANGE).

    `strict_recipes` is the runtime's mode, used when the request does not say.
    """
    old = current.deployed
    roots = {name: d.version for name, d in old.items() if d.root}
    for name in request.remove:
        if name not in roots:
            raise no_change(f"cannot remove {name}: it is not deployed", "REQUEST_ERROR")
        del roots[name]
    roots.update(request.merge)

    def recipe_of(name: str, version: str) -> Recipe:
        try:
            return recipes.get(name, version)
        except KeyError:
            raise no_change(f"no recipe for {name}-{version}", "RECIPE_NOT_FOUND") from None
        except RecipeError as exc:
            raise no_change(str(exc), "RECIPE_ERROR") from None

    def dependencies_of(name: str, version: str) -> dict[str, str]:
        return {dep: d.version_requirement for dep, d in recipe_of(name, version).dependencies.items()}

    try:
        versions = resolve_versions(roots, recipes, dependencies_of, {n: d.version for n, d in old.items()})
    except DeploymentError as exc:
        raise no_change(str(exc), exc.error_type) from None
    unknown = set(request.config_updates) - set(versions)
    if unknown:
        raise no_change(f"--update-config names components that are not deployed: {sorted(unknown)}",
                        "REQUEST_ERROR")

    configs: dict[str, dict[str, Any]] = {}
    access: dict[str, dict[str, Any] | None] = {}
    for name, version in versions.items():
        recipe = recipe_of(name, version)
        update = request.config_updates.get(name)
        configs[name] = new_configuration(recipe.default_configuration, current.configurations.get(name), update)
        access[name] = deployment_access_control(
            recipe.default_configuration, old[name].access_control if name in old else None, update)
        configs[name].pop(ACCESS_CONTROL, None)
        if access[name] is not None:
            configs[name][ACCESS_CONTROL] = access[name]

    strict = strict_recipes if request.strict_recipes is None else request.strict_recipes
    targets: dict[str, Deployed] = {}
    stage: dict[str, tuple[Artifact, ...]] = {}
    for name, version in versions.items():
        recipe = recipe_of(name, version)
        try:
            selected = recipe.select(platform)
        except RecipeError as exc:
            raise no_change(str(exc), "RECIPE_ERROR") from None
        if name not in old or old[name].version != version or request.artifact_dir is not None:
            stage[name] = tuple(selected.artifacts)
        svcuid = old[name].svcuid if name in old else new_svcuid()
        try:
            spec = specs.run_spec(name, version, recipe, selected.lifecycle, svcuid, configs=configs,
                                  versions=versions, strict=strict)
        except SpecError as exc:
            raise no_change(f"{exc} (strict recipes: run without --strict-recipes to leave it as written, as "
                            "the nucleus does)", "RECIPE_INTERPOLATION_ERROR") from None
        path = recipes.path(name, version)
        assert path is not None  # resolve_versions only picks versions that have a recipe
        targets[name] = Deployed(name, version, recipe, path, name in roots, configs[name], spec, svcuid,
                                 access[name])

    changes: dict[str, Change] = {}
    revive = set()
    for name, target in targets.items():
        state = current.states.get(name)
        if name not in old or state is None:
            changes[name] = Change.START
        elif (old[name].version != target.version or old[name].spec != target.spec or state == State.BROKEN):
            # "Any deployment will attempt to reinstall currently broken components" (nucleus).
            changes[name] = Change.RESTART
            if state == State.BROKEN:
                revive.add(name)
        elif old[name].config != target.config:
            changes[name] = Change.RECONFIGURE
        else:
            changes[name] = Change.KEEP
    plan = DeploymentPlan(targets, changes, tuple(name for name in old if name not in targets), frozenset(revive),
                          stage=stage, artifact_dir=request.artifact_dir, previous=dict(old))
    validate = tuple(name for name in plan.reconfigure + plan.restart if targets[name].config != old[name].config)
    return replace(plan, validate=validate)


@dataclass(frozen=True)
class StoredComponent:
    """One entry of what the runtime had deployed when it stopped, with its recipe loaded."""

    name: str
    version: str
    recipe: Recipe
    recipe_path: Path
    root: bool
    # None: written by an older runtime that did not store it; the recipe's default then counts.
    access_control: dict[str, Any] | None = None


def plan_restore(
    stored: Sequence[StoredComponent],
    configurations: Mapping[str, Mapping[str, Any]],
    platform: Mapping[str, str],
    *,
    specs: SpecContext,
    strict_recipes: bool = False,
    new_svcuid: Callable[[], str] = _new_svcuid,
) -> DeploymentPlan:
    """What a starting runtime brings back: every stored component, with its stored configuration, to
    start. A component whose recipe no longer fits is left out with an ERROR: one must not keep the
    others down."""
    configs = {s.name: dict(configurations.get(s.name) or s.recipe.default_configuration) for s in stored}
    versions = {s.name: s.version for s in stored}
    targets: dict[str, Deployed] = {}
    for entry in stored:
        # Access control as the deployments left it, never from the stored (component-writable) configuration.
        access = (entry.access_control if entry.access_control is not None
                  else deployment_access_control(entry.recipe.default_configuration, None, None))
        svcuid = new_svcuid()
        try:
            spec = specs.run_spec(entry.name, entry.version, entry.recipe, entry.recipe.select(platform).lifecycle,
                                  svcuid, configs=configs, versions=versions, strict=strict_recipes)
        except (RecipeError, SpecError) as exc:
            log.error("cannot restore %s-%s: %s", entry.name, entry.version, exc)
            continue
        targets[entry.name] = Deployed(entry.name, entry.version, entry.recipe, entry.recipe_path, entry.root,
                                       configs[entry.name], spec, svcuid, access)
    return DeploymentPlan(targets, dict.fromkeys(targets, Change.START))


def resolve_versions(
    roots: Mapping[str, str],
    index: RecipeSource,
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
