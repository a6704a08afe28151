"""Lifecycles: the step dataclasses, global-lifecycle selection keys, and normalising steps to them.

Keys are matched case-insensitively, as in the schema. Selection keys are any other keys of the
global lifecycle; they are matched exactly against the manifest's `Selections` (default `all`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from edgewatch.recipe.errors import RecipeError

logger = logging.getLogger(__name__)

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


STEP_FIELDS = ("script", "skipif", "timeout", "requiresprivilege", "setenv")
LIFECYCLE_KEYS = frozenset({"setenv", *STEP_NAMES, *STEP_FIELDS})
DEFAULT_SELECTIONS: tuple[str, ...] = ("all",)


def resolve_selections(node: Any, selections: Sequence[str]) -> Any:
    """Resolve a global lifecycle (sub)tree for a manifest's selection keys.

    At every level, lifecycle keys are kept and other keys are selection keys: the sections under
    selected keys are merged in (the earlier selection wins a conflict, explicit keys win over
    selected sections) and the rest is dropped. A level whose selected value is a plain string
    (`Script: {key1: cmd1, all: cmd2}`) becomes that string. Returns None when nothing is left.
    """
    if not isinstance(node, Mapping):
        return node
    result: dict[str, Any] = {}
    scalar: Any = None
    for selection in selections:
        if selection.lower() in LIFECYCLE_KEYS or selection not in node:
            continue
        chosen = resolve_selections(node[selection], selections)
        if isinstance(chosen, Mapping):
            for key, value in chosen.items():
                result.setdefault(key, value)
        elif chosen is not None and scalar is None:
            scalar = chosen
    for key, value in node.items():
        lowered = str(key).lower()
        if lowered not in LIFECYCLE_KEYS:
            continue
        # Setenv holds variable names, not selection keys: copy it untouched.
        resolved = value if lowered == "setenv" else resolve_selections(value, selections)
        if resolved is None or (isinstance(resolved, Mapping) and not resolved and lowered != "setenv"):
            continue
        if lowered in STEP_NAMES and isinstance(resolved, Mapping) and _ci(resolved, "script")[0] is None:
            continue  # the step's Script is under a selection this manifest did not choose
        _drop_same_key(result, lowered)
        result[key] = resolved
    if scalar is not None and not result:
        return scalar
    return result or None


def _drop_same_key(mapping: dict[str, Any], lowered: str) -> None:
    for existing in [k for k in mapping if k.lower() == lowered]:
        del mapping[existing]


def _ci(mapping: Mapping[str, Any], key: str) -> tuple[str | None, Any]:
    """Case-insensitive lookup returning (key as spelled, value) or (None, None)."""
    for k, v in mapping.items():
        if str(k).lower() == key:
            return str(k), v
    return None, None


def env_value(value: Any) -> str:
    """Setenv value as the string the process sees (booleans lower-case, as Java prints them)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return str(value)


def normalise_setenv(value: Any, source: str, path: str) -> dict[str, str]:
    """A Setenv map with string values; anything but a map is a RecipeError."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise RecipeError(source, path, "Setenv must be a map of variable names to values")
    return {str(k): env_value(v) for k, v in value.items()}


def _timeout(value: Any, step: str, source: str, path: str) -> float | None:
    if value is None:
        return DEFAULT_TIMEOUTS[step]
    try:
        seconds = float(value) if not isinstance(value, bool) else None
    except (TypeError, ValueError):
        seconds = None
    if seconds is None or seconds <= 0:
        raise RecipeError(source, path, f"Timeout must be a positive number of seconds, not {value!r}")
    return seconds


def _privilege(value: Any, source: str, path: str) -> bool:
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise RecipeError(source, path, f"RequiresPrivilege must be true or false, not {value!r}")


def parse_skipif(value: Any, source: str, path: str) -> SkipIf | None:
    """`onpath <executable>` or `exists <file>`; anything else is a RecipeError."""
    if value is None:
        return None
    parts = str(value).strip().split(None, 1)
    if len(parts) != 2 or parts[0].lower() not in ("onpath", "exists"):
        raise RecipeError(
            source, path, f"Skipif must be 'onpath <executable>' or 'exists <file>', not {value!r}"
        )
    check = "onpath" if parts[0].lower() == "onpath" else "exists"
    return SkipIf(check=check, target=parts[1].strip())


def normalise_step(name: str, value: Any, source: str, path: str) -> LifecycleStep:
    """One step from its string or object form, with the nucleus default timeout."""
    if isinstance(value, str):
        return LifecycleStep(name=name, script=value, timeout=DEFAULT_TIMEOUTS[name])
    if not isinstance(value, Mapping):
        raise RecipeError(source, path, f"a lifecycle step must be a script or an object, not {value!r}")
    for key in value:
        if str(key).lower() not in STEP_FIELDS:
            logger.warning("%s: %s: ignoring unknown step field %r", source, path, key)
    script_key, script = _ci(value, "script")
    if not isinstance(script, str):
        raise RecipeError(source, f"{path}.{script_key or 'Script'}", "a step needs a Script string")
    skip_key, skip = _ci(value, "skipif")
    timeout_key, timeout = _ci(value, "timeout")
    priv_key, priv = _ci(value, "requiresprivilege")
    env_key, env = _ci(value, "setenv")
    return LifecycleStep(
        name=name,
        script=script,
        timeout=_timeout(timeout, name, source, f"{path}.{timeout_key}"),
        skipif=parse_skipif(skip, source, f"{path}.{skip_key}"),
        requires_privilege=_privilege(priv, source, f"{path}.{priv_key}"),
        setenv=normalise_setenv(env, source, f"{path}.{env_key}"),
    )


def normalise_lifecycle(raw: Mapping[str, Any] | None, source: str, path: str = "Lifecycle") -> Lifecycle:
    """Turn a (selection-resolved) lifecycle mapping into a Lifecycle; None gives an empty one."""
    if not raw:
        return Lifecycle()
    if not isinstance(raw, Mapping):
        raise RecipeError(source, path, "a lifecycle must be an object")
    steps: dict[str, LifecycleStep] = {}
    setenv: dict[str, str] = {}
    for key, value in raw.items():
        lowered = str(key).lower()
        if lowered == "setenv":
            setenv = normalise_setenv(value, source, f"{path}.{key}")
        elif lowered in STEP_NAMES:
            steps[lowered] = normalise_step(lowered, value, source, f"{path}.{key}")
        else:
            # The nucleus ignores unknown keys; a typo ("Start") would silently do nothing.
            logger.warning("%s: %s: ignoring unknown lifecycle key %r", source, path, key)
    if "startup" in steps and "run" in steps:
        raise RecipeError(source, path, "a lifecycle may define Startup or Run, not both")
    return Lifecycle(setenv=setenv, **steps)
