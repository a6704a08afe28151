"""Recipe variable interpolation with the nucleus's namespaces, and nothing else.

Only `{artifacts:...}`, `{work:...}`, `{kernel:...}`, `{configuration:...}`, `{iot:...}` and the
component-qualified `{Other.Component:artifacts|work|configuration:...}` forms are variables.
Any other text in braces (shell `${VAR:-x}`, JSON, `{foo}`) is left exactly as written.

A variable that cannot be resolved (an unknown key, a missing configuration value, a component that
is not a direct dependency) raises InterpolationError by default (strict: a typo in our own recipes
fails loudly). Pass an `unresolved` list to do what the nucleus does instead: leave the variable as
written and record `Unresolved(step, variable, reason)` so the caller can warn once.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from edgewatch.config_tree import ConfigPointerError, lookup, parse_pointer
from edgewatch.recipe.errors import InterpolationError
from edgewatch.recipe.lifecycle import Lifecycle, LifecycleStep, SkipIf

NAMESPACES = ("artifacts", "work", "kernel", "configuration", "iot")
# Namespaces that may be qualified by a (direct dependency) component name.
QUALIFIABLE = frozenset({"artifacts", "work", "configuration"})

_VARIABLE = re.compile(
    r"\{(?:(?P<component>[A-Za-z0-9._-]+):)?(?P<namespace>" + "|".join(NAMESPACES) + r"):(?P<key>[^{}]*)\}"
)


@dataclass(frozen=True)
class ComponentPaths:
    """Where a component's files live on this runtime."""

    artifacts: str
    decompressed: str
    work: str


@dataclass(frozen=True)
class InterpolationContext:
    """What the runtime knows when it interpolates `component`'s recipe.

    `paths` and `configuration` are keyed by component name and must hold `component` itself and
    each of its direct `dependencies` that a recipe refers to.
    """

    component: str
    kernel_root: str
    thing_name: str
    paths: Mapping[str, ComponentPaths] = field(default_factory=dict)
    configuration: Mapping[str, Any] = field(default_factory=dict)
    dependencies: frozenset[str] = frozenset()


def format_config_value(value: Any) -> str:
    """Strings as-is, objects/lists as compact JSON, numbers/booleans/null as JSON scalars."""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _target(ctx: InterpolationContext, qualifier: str | None, namespace: str, variable: str) -> str:
    if qualifier is None or qualifier == ctx.component:
        return ctx.component
    if namespace not in QUALIFIABLE:
        raise InterpolationError(
            ctx.component, variable, f"the {namespace} namespace cannot name a component"
        )
    if qualifier not in ctx.dependencies:
        raise InterpolationError(
            ctx.component, variable, f"{qualifier} is not a direct dependency of {ctx.component}"
        )
    return qualifier


def _paths(ctx: InterpolationContext, target: str, variable: str) -> ComponentPaths:
    try:
        return ctx.paths[target]
    except KeyError:
        raise InterpolationError(ctx.component, variable, f"no paths known for component {target}") from None


def resolve_variable(ctx: InterpolationContext, qualifier: str | None, namespace: str, key: str) -> str:
    """The value of one recipe variable, or InterpolationError."""
    variable = "{" + (f"{qualifier}:" if qualifier else "") + f"{namespace}:{key}" + "}"
    target = _target(ctx, qualifier, namespace, variable)
    if namespace == "configuration":
        if target not in ctx.configuration:
            raise InterpolationError(
                ctx.component, variable, f"no configuration known for component {target}"
            )
        try:
            return format_config_value(lookup(ctx.configuration[target], parse_pointer(key)))
        except ValueError as exc:
            raise InterpolationError(ctx.component, variable, str(exc)) from None
        except ConfigPointerError:
            raise InterpolationError(
                ctx.component, variable, f"configuration of {target} has no value at {key!r}"
            ) from None
    known: dict[str, dict[str, Any]] = {
        "artifacts": {
            "path": lambda: _paths(ctx, target, variable).artifacts,
            "decompressedPath": lambda: _paths(ctx, target, variable).decompressed,
        },
        "work": {"path": lambda: _paths(ctx, target, variable).work},
        "kernel": {"rootPath": lambda: ctx.kernel_root},
        "iot": {"thingName": lambda: ctx.thing_name},
    }
    getters = known[namespace]
    if key not in getters:
        raise InterpolationError(
            ctx.component,
            variable,
            f"unknown key {key!r} in namespace {namespace} (known: {', '.join(getters)})",
        )
    value: str = getters[key]()
    return value


@dataclass(frozen=True)
class Unresolved:
    """A variable left as written (lenient mode): where, which, and why."""

    step: str
    variable: str
    reason: str


def interpolate(text: str, ctx: InterpolationContext, unresolved: list[Unresolved] | None = None,
                step: str = "") -> str:
    """Replace every recipe variable in `text`; other braces are left exactly as written.

    With `unresolved`, a variable that cannot be resolved stays as written and is appended there
    (`step` names where it was found); without it, it raises InterpolationError."""

    def substitute(match: re.Match[str]) -> str:
        try:
            return resolve_variable(ctx, match.group("component"), match.group("namespace"), match.group("key"))
        except InterpolationError as exc:
            if unresolved is None:
                raise
            unresolved.append(Unresolved(step, match.group(0), exc.problem))
            return match.group(0)

    return _VARIABLE.sub(substitute, text)


def find_variables(text: str) -> list[str]:
    """The recipe variables (as written) that `text` uses, in order."""
    return [m.group(0) for m in _VARIABLE.finditer(text)]


def _step(step: LifecycleStep | None, ctx: InterpolationContext,
          unresolved: list[Unresolved] | None) -> LifecycleStep | None:
    if step is None:
        return None
    name = step.name.capitalize()

    def text(value: str, where: str) -> str:
        return interpolate(value, ctx, unresolved, where)

    skipif = SkipIf(step.skipif.check, text(step.skipif.target, f"{name}.Skipif")) if step.skipif else None
    return replace(
        step,
        script=text(step.script, name),
        skipif=skipif,
        setenv={k: text(v, f"{name}.Setenv.{k}") for k, v in step.setenv.items()},
    )


def interpolate_lifecycle(lifecycle: Lifecycle, ctx: InterpolationContext,
                          unresolved: list[Unresolved] | None = None) -> Lifecycle:
    """A copy of `lifecycle` with scripts, Skipif targets and Setenv values interpolated.

    Compare two results with `==` to decide whether a configuration change needs a restart. With
    `unresolved`, unresolvable variables are left as written and recorded there (see `interpolate`).
    """
    return Lifecycle(
        setenv={k: interpolate(v, ctx, unresolved, f"Setenv.{k}") for k, v in lifecycle.setenv.items()},
        bootstrap=_step(lifecycle.bootstrap, ctx, unresolved),
        install=_step(lifecycle.install, ctx, unresolved),
        startup=_step(lifecycle.startup, ctx, unresolved),
        run=_step(lifecycle.run, ctx, unresolved),
        shutdown=_step(lifecycle.shutdown, ctx, unresolved),
        recover=_step(lifecycle.recover, ctx, unresolved),
    )
