"""How a component version is run on this runtime: its interpolated lifecycle and environment.

Pure: the layout, thing name and environment are given, nothing is read from the machine here.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from edgewatch.local.component_runner import RunSpec
from edgewatch.local.layout import RuntimeLayout
from edgewatch.recipe import (
    ComponentPaths,
    InterpolationContext,
    InterpolationError,
    Lifecycle,
    Recipe,
    Unresolved,
    interpolate_lifecycle,
)

log = logging.getLogger(__name__)


class SpecError(Exception):
    """A recipe variable could not be resolved in strict mode; the message names it."""


@dataclass(frozen=True)
class SpecContext:
    """What every component's run spec shares on one runtime."""

    layout: RuntimeLayout
    thing_name: str
    region: str
    # The runtime's environment with `--env` applied; the nucleus's variables and `runtime_env` come on top.
    base_env: Mapping[str, str] = field(default_factory=dict)
    runtime_env: Mapping[str, str] = field(default_factory=dict)
    user: str | None = None

    def run_spec(self, name: str, version: str, recipe: Recipe, lifecycle: Lifecycle, svcuid: str, *,
                 configs: Mapping[str, Any], versions: Mapping[str, str], strict: bool) -> RunSpec:
        """The run spec of `name`-`version`: recipe variables interpolated (raises SpecError when `strict`
        and one cannot be), the nucleus's environment variables set."""
        layout = self.layout

        def paths(component: str, component_version: str) -> ComponentPaths:
            return ComponentPaths(str(layout.artifacts(component, component_version)),
                                  str(layout.unarchived(component, component_version)),
                                  str(layout.work(component)))

        related = {name: version}
        related.update({dep: versions[dep] for dep in recipe.dependencies if dep in versions})
        ctx = InterpolationContext(
            component=name,
            kernel_root=str(layout.root),
            thing_name=self.thing_name,
            paths={n: paths(n, v) for n, v in related.items()},
            configuration={n: configs[n] for n in related if n in configs},
            dependencies=frozenset(recipe.dependencies),
        )
        unresolved: list[Unresolved] | None = None if strict else []
        try:
            interpolated = interpolate_lifecycle(lifecycle, ctx, unresolved)
        except InterpolationError as exc:
            raise SpecError(str(exc)) from None
        if unresolved:
            # One WARNING per component and deployment; the nucleus leaves such variables as written.
            log.warning("recipe %s-%s: left unresolved recipe variable(s) as written: %s", name, version,
                        "; ".join(f"{u.step}: {u.variable} ({u.reason})" for u in unresolved))
        env = dict(self.base_env)
        env.update({
            "SVCUID": svcuid,
            "AWS_GG_NUCLEUS_DOMAIN_SOCKET_FILEPATH_FOR_COMPONENT": layout.socket_path,
            "AWS_IOT_THING_NAME": self.thing_name,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "GG_ROOT_CA_PATH": str(layout.root / "rootCA.pem"),
            **self.runtime_env,
        })
        return RunSpec(name, version, interpolated, layout.work(name), env, self.user)
