"""plan_deployment and plan_restore on their own: recipes in memory, no files, no processes."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from edgewatch.local.component_runner import State
from edgewatch.local.component_specs import SpecContext
from edgewatch.local.deployment_plan import (
    Change,
    ConfigUpdate,
    Current,
    DeploymentError,
    DeploymentPlan,
    DeploymentRequest,
    DetailedStatus,
    StoredComponent,
    plan_deployment,
    plan_restore,
)
from edgewatch.local.layout import RuntimeLayout
from edgewatch.recipe import Recipe, load_recipe

LINUX = {"os": "linux", "architecture": "amd64"}
SPECS = SpecContext(RuntimeLayout(Path("/ew/root")), "gw-plan", "eu-west-1", {"PATH": "/usr/bin"})
GRANT = {"aws.greengrass.ipc.pubsub": {"p1": {"policyDescription": "metrics",
                                              "operations": ["aws.greengrass#PublishToTopic"],
                                              "resources": ["edgewatch/metrics"]}}}


def recipe(name: str, version: str, *, config: dict[str, Any] | None = None, run: str = "exec app",
           deps: dict[str, str] | None = None, os_name: str = "linux") -> Recipe:
    doc: dict[str, Any] = {
        "RecipeFormatVersion": "2020-01-25", "ComponentName": name, "ComponentVersion": version,
        "ComponentConfiguration": {"DefaultConfiguration": config or {}},
        "Manifests": [{"Platform": {"os": os_name}, "Lifecycle": {"Run": run},
                       "Artifacts": [{"URI": f"s3://bucket/{name}/app.py"}]}],
    }
    if deps:
        doc["ComponentDependencies"] = {dep: {"VersionRequirement": req} for dep, req in deps.items()}
    return load_recipe(doc, name=f"{name}-{version}")


class Recipes:
    """A RecipeSource held in memory."""

    def __init__(self, *recipes: Recipe) -> None:
        self._recipes = {(r.name, r.version): r for r in recipes}

    def path(self, name: str, version: str) -> Path | None:
        return Path(f"/recipes/{name}-{version}.yaml") if (name, version) in self._recipes else None

    def versions(self, name: str) -> list[str]:
        return [v for n, v in self._recipes if n == name]

    def get(self, name: str, version: str) -> Recipe:
        return self._recipes[(name, version)]


def tokens() -> Any:
    counter = itertools.count(1)
    return lambda: f"svcuid-{next(counter)}"


def plan(current: Current, request: DeploymentRequest, recipes: Recipes, **kwargs: Any) -> DeploymentPlan:
    return plan_deployment(current, request, recipes, LINUX, specs=SPECS, new_svcuid=tokens(), **kwargs)


def running(done: DeploymentPlan, states: dict[str, State] | None = None) -> Current:
    """What the runtime has once `done` was carried out and its components run."""
    return Current(done.targets, states or dict.fromkeys(done.targets, State.RUNNING),
                   {n: t.config for n, t in done.targets.items()})


def test_a_new_root_and_its_dependency_start_with_defaults_and_fresh_tokens():
    recipes = Recipes(recipe("com.t.App", "1.0.0", config={"level": 1, "accessControl": GRANT},
                             deps={"com.t.Lib": "^1.0.0"},
                             run="exec app {configuration:/level} {com.t.Lib:artifacts:path}"),
                      recipe("com.t.Lib", "1.0.0"), recipe("com.t.Lib", "1.2.0"), recipe("com.t.Lib", "2.0.0"))
    result = plan(Current(), DeploymentRequest(merge={"com.t.App": "1.0.0"}), recipes)
    assert result.changes == {"com.t.App": Change.START, "com.t.Lib": Change.START}
    assert result.targets["com.t.Lib"].version == "1.2.0"  # the highest that satisfies ^1.0.0
    app = result.targets["com.t.App"]
    assert (app.root, result.targets["com.t.Lib"].root) == (True, False)
    assert app.config == {"level": 1, "accessControl": GRANT} and app.access_control == GRANT
    assert app.spec.lifecycle.run is not None
    assert app.spec.lifecycle.run.script == "exec app 1 /ew/root/packages/artifacts/com.t.Lib/1.2.0"
    assert app.spec.env["AWS_IOT_THING_NAME"] == "gw-plan" and app.spec.env["AWS_REGION"] == "eu-west-1"
    assert {t.svcuid for t in result.targets.values()} == {"svcuid-1", "svcuid-2"}
    assert set(result.stage) == {"com.t.App", "com.t.Lib"}
    assert [a.uri for a in result.stage["com.t.App"]] == ["s3://bucket/com.t.App/app.py"]
    assert result.validate == () and result.remove == () and result.previous == {}


def test_a_configuration_change_reconfigures_keeps_the_token_and_is_validated():
    recipes = Recipes(recipe("com.t.App", "1.0.0", config={"level": 1, "items": [1, 2]}))
    first = plan(Current(), DeploymentRequest(merge={"com.t.App": "1.0.0"}), recipes)
    current = running(first)
    result = plan(current, DeploymentRequest(config_updates={"com.t.App": ConfigUpdate({"items": [9]})}), recipes)
    assert result.changes == {"com.t.App": Change.RECONFIGURE}
    assert result.targets["com.t.App"].config == {"level": 1, "items": [9]}  # lists are replaced whole
    assert result.targets["com.t.App"].svcuid == first.targets["com.t.App"].svcuid
    assert result.validate == ("com.t.App",) and result.stage == {}  # same version: nothing to stage
    same = plan(current, DeploymentRequest(merge={"com.t.App": "1.0.0"}), recipes)
    assert same.changes == {"com.t.App": Change.KEEP} and same.changed == [] and same.validate == ()


def test_new_artifacts_restart_a_component_whose_version_did_not_change():
    recipes = Recipes(recipe("com.t.App", "1.0.0", config={"level": 1}))
    current = running(plan(Current(), DeploymentRequest(merge={"com.t.App": "1.0.0"}), recipes))
    result = plan(current, DeploymentRequest(artifact_dir=Path("/ws/artifacts"), merge={"com.t.App": "1.0.0"},
                                             config_updates={"com.t.App": ConfigUpdate({"level": 2})}), recipes)
    assert result.changes == {"com.t.App": Change.RECONFIGURE} and list(result.stage) == ["com.t.App"]
    assert result.artifact_dir == Path("/ws/artifacts")
    assert result.with_new_artifacts([]).changes == {"com.t.App": Change.RECONFIGURE}
    assert result.with_new_artifacts(["com.t.App"]).changes == {"com.t.App": Change.RESTART}


def test_a_configuration_used_by_the_lifecycle_or_another_version_restarts():
    recipes = Recipes(recipe("com.t.App", "1.0.0", config={"mode": "fast"}, run="exec app {configuration:/mode}"),
                      recipe("com.t.App", "1.1.0", config={"mode": "fast"}, run="exec app {configuration:/mode}"))
    current = running(plan(Current(), DeploymentRequest(merge={"com.t.App": "1.0.0"}), recipes))
    mode = plan(current, DeploymentRequest(config_updates={"com.t.App": ConfigUpdate({"mode": "slow"})}), recipes)
    assert mode.changes == {"com.t.App": Change.RESTART} and mode.validate == ("com.t.App",)
    upgrade = plan(current, DeploymentRequest(merge={"com.t.App": "1.1.0"}), recipes)
    assert upgrade.changes == {"com.t.App": Change.RESTART} and upgrade.validate == ()  # configuration unchanged
    assert list(upgrade.stage) == ["com.t.App"] and upgrade.previous["com.t.App"].version == "1.0.0"


def test_broken_components_are_reinstalled_and_stopped_ones_started():
    recipes = Recipes(recipe("com.t.A", "1.0.0"), recipe("com.t.B", "1.0.0"), recipe("com.t.C", "1.0.0"))
    first = plan(Current(), DeploymentRequest(merge={"com.t.A": "1.0.0", "com.t.B": "1.0.0", "com.t.C": "1.0.0"}),
                 recipes)
    current = running(first, {"com.t.A": State.BROKEN, "com.t.B": State.RUNNING})  # C has no runner
    result = plan(current, DeploymentRequest(merge={"com.t.A": "1.0.0"}), recipes)
    assert result.changes == {"com.t.A": Change.RESTART, "com.t.B": Change.KEEP, "com.t.C": Change.START}
    assert result.revive == {"com.t.A"}


def test_removal_drops_dependencies_nobody_needs_any_more():
    recipes = Recipes(recipe("com.t.App", "1.0.0", deps={"com.t.Lib": "^1.0.0"}), recipe("com.t.Lib", "1.0.0"),
                      recipe("com.t.Other", "1.0.0"))
    current = running(plan(Current(), DeploymentRequest(merge={"com.t.App": "1.0.0", "com.t.Other": "1.0.0"}),
                           recipes))
    result = plan(current, DeploymentRequest(remove=["com.t.App"]), recipes)
    assert set(result.remove) == {"com.t.App", "com.t.Lib"}
    assert result.changes == {"com.t.Other": Change.KEEP}
    assert result.changed == list(result.remove)


@pytest.mark.parametrize(("request_", "error_type", "words"), [
    (DeploymentRequest(remove=["com.t.Nobody"]), "REQUEST_ERROR", "com.t.Nobody: it is not deployed"),
    (DeploymentRequest(merge={"com.t.Nope": "1.0.0"}), "RECIPE_NOT_FOUND", "com.t.Nope-1.0.0"),
    (DeploymentRequest(merge={"com.t.Needy": "1.0.0"}), "DEPENDENCY_NOT_FOUND", "com.t.Missing"),
    (DeploymentRequest(merge={"com.t.Windows": "1.0.0"}), "RECIPE_ERROR", "no manifest matches"),
    (DeploymentRequest(config_updates={"com.t.Else": ConfigUpdate({"a": 1})}), "REQUEST_ERROR", "com.t.Else"),
    (DeploymentRequest(merge={"com.t.Typo": "1.0.0"}, strict_recipes=True), "RECIPE_INTERPOLATION_ERROR",
     "thingNmae"),
])
def test_a_plan_that_cannot_be_made_changes_nothing(request_, error_type, words):
    recipes = Recipes(recipe("com.t.Needy", "1.0.0", deps={"com.t.Missing": "^1.0.0"}),
                      recipe("com.t.Windows", "1.0.0", os_name="windows"),
                      recipe("com.t.Typo", "1.0.0", run="echo {iot:thingNmae}"))
    with pytest.raises(DeploymentError) as caught:
        plan(Current(), request_, recipes)
    assert caught.value.error_type == error_type and words in str(caught.value)
    assert caught.value.detailed_status == DetailedStatus.FAILED_NO_STATE_CHANGE


def test_an_unresolved_variable_stays_as_written_unless_strict():
    recipes = Recipes(recipe("com.t.Typo", "1.0.0", run="echo {iot:thingNmae}"))
    lenient = plan(Current(), DeploymentRequest(merge={"com.t.Typo": "1.0.0"}), recipes)
    assert lenient.targets["com.t.Typo"].spec.lifecycle.run.script == "echo {iot:thingNmae}"
    with pytest.raises(DeploymentError):
        plan(Current(), DeploymentRequest(merge={"com.t.Typo": "1.0.0"}), recipes, strict_recipes=True)
    # the request's own choice wins over the runtime's mode
    assert plan(Current(), DeploymentRequest(merge={"com.t.Typo": "1.0.0"}, strict_recipes=False), recipes,
                strict_recipes=True).changes == {"com.t.Typo": Change.START}


def test_restore_starts_what_was_stored_with_its_configuration_and_skips_what_no_longer_fits():
    app = recipe("com.t.App", "1.0.0", config={"level": 1, "accessControl": GRANT},
                 run="exec app {configuration:/level}")
    windows = recipe("com.t.Windows", "1.0.0", os_name="windows")
    stored = [StoredComponent("com.t.App", "1.0.0", app, Path("/root/recipes/com.t.App-1.0.0.yaml"), True, None),
              StoredComponent("com.t.Windows", "1.0.0", windows, Path("/root/recipes/w.yaml"), True, {})]
    result = plan_restore(stored, {"com.t.App": {"level": 5, "accessControl": {"widened": "by the component"}}}, LINUX,
                          specs=SPECS, new_svcuid=tokens())
    assert result.changes == {"com.t.App": Change.START}  # the Windows-only recipe has no manifest here
    target = result.targets["com.t.App"]
    assert target.config["level"] == 5 and target.spec.lifecycle.run.script == "exec app 5"
    assert target.access_control == GRANT  # from the recipe, never from the stored configuration
    assert target.svcuid == "svcuid-1" and target.recipe_path == Path("/root/recipes/com.t.App-1.0.0.yaml")
