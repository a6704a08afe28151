"""Pure cores of the stand-ins: shadow documents, the component update policy, component metrics.

Validation is total (ARCHITECTURE §6): for any JSON value each answers accepted or rejected with a
reason, and never raises anything else."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgewatch.local.builtin_components import CATALOGUE, NUCLEUS, BuiltinComponents, builtin_recipe
from edgewatch.local.component_metrics import metric_problem
from edgewatch.local.component_updates import UpdatePolicy
from edgewatch.local.shadows import ConflictError, ShadowError, apply_update, delta, get_document
from edgewatch.recipe import load_recipe

JSON = st.recursive(st.none() | st.booleans() | st.integers(-2**63, 2**63) | st.floats(allow_nan=False)
                    | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
                    max_leaves=30)


@settings(max_examples=300, deadline=None)
@given(JSON, st.one_of(st.none(), st.just({"state": {}, "version": 1, "metadata": {}, "timestamp": 1})))
def test_shadow_update_is_total(request: Any, stored: Any) -> None:
    """AWS IoT Device Shadow service: an update document is accepted or refused with a reason."""
    try:
        shadow, response = apply_update(stored, request, 1000)
    except (ShadowError, ConflictError):
        return
    assert shadow["version"] == (stored["version"] if stored else 0) + 1
    assert response["version"] == shadow["version"]
    get_document(shadow)


def test_shadow_semantics() -> None:
    """Developer guide (local shadows) / IoT Device Shadow: merge, null deletes, versions, delta."""
    shadow, _ = apply_update(None, {"state": {"desired": {"a": 1, "b": {"c": 2}}, "reported": {"a": 0}}}, 10)
    assert shadow["version"] == 1 and shadow["metadata"]["desired"]["b"]["c"] == {"timestamp": 10}
    shadow, response = apply_update(shadow, {"state": {"desired": {"b": None}, "reported": {"a": 1}}}, 20)
    assert shadow["state"] == {"desired": {"a": 1}, "reported": {"a": 1}} and shadow["version"] == 2
    assert "delta" not in get_document(shadow)["state"]
    assert response["metadata"]["reported"]["a"] == {"timestamp": 20}
    shadow, _ = apply_update(shadow, {"state": {"desired": None}}, 30)
    assert shadow["state"] == {"reported": {"a": 1}}
    with pytest.raises(ConflictError):
        apply_update(shadow, {"state": {"reported": {}}, "version": 1}, 40)
    with pytest.raises(ShadowError, match="nesting"):
        apply_update(None, {"state": {"reported": {"1": {"2": {"3": {"4": {"5": {"6": {"7": 1}}}}}}}}}, 1)
    with pytest.raises(ShadowError, match="invalid node"):
        apply_update(None, {"state": {"delta": {}}}, 1)
    assert delta({"a": [1, 2], "b": 1}, {"a": [1, 2], "b": 2}) == {"b": 1}


@settings(max_examples=200, deadline=None)
@given(JSON, JSON)
def test_update_policy_parse_is_total(action: Any, timeout: Any) -> None:
    try:
        policy = UpdatePolicy.parse(action, timeout)
    except ValueError as exc:
        assert "componentUpdatePolicy" in str(exc)
        return
    assert policy.action in ("NOTIFY_COMPONENTS", "SKIP_NOTIFY_COMPONENTS") and 0 <= policy.timeout_s <= 86400


@settings(max_examples=200, deadline=None)
@given(JSON)
def test_metric_validation_is_total(metric: Any) -> None:
    problem = metric_problem(0, metric)
    assert problem is None or problem.startswith("metrics[0]")


def test_stand_in_recipes_load_and_resolve(tmp_path) -> None:
    """Every stand-in is a valid recipe; the Nucleus carries its configuration as defaults."""
    builtins = BuiltinComponents(tmp_path, {"awsRegion": "eu-north-1"})
    folder = builtins.write_recipes()
    for builtin in CATALOGUE.values():
        recipe = load_recipe(folder / f"{builtin.name}-{builtin.version}.json")
        assert recipe.name == builtin.name and recipe.select({"os": "linux", "architecture": "amd64"})
    assert builtin_recipe(CATALOGUE[NUCLEUS], {"awsRegion": "x"})["ComponentConfiguration"] == {
        "DefaultConfiguration": {"awsRegion": "x"}}
    assert builtins.warn_unavailable(["aws.greengrass.TokenExchangeService", NUCLEUS]) != []
    assert builtins.warn_unavailable(["aws.greengrass.TokenExchangeService"]) == []  # once per run


def test_nucleus_configuration_follows_the_run_options(tmp_path) -> None:
    """The region of this run (`local start --region`) wins over a stored one; deployed keys stay."""
    from edgewatch.local.configuration import ConfigurationStore

    store = ConfigurationStore(None)
    BuiltinComponents(tmp_path, {"awsRegion": "us-east-1", "logging": {"level": "INFO"}}).provide_nucleus_configuration(
        store)
    store.merge(NUCLEUS, ("logging",), {"level": "DEBUG"})
    BuiltinComponents(tmp_path, {"awsRegion": "eu-west-1", "logging": {"level": "INFO"}}).provide_nucleus_configuration(
        store)
    assert store.get(NUCLEUS) == {"awsRegion": "eu-west-1", "logging": {"level": "DEBUG"}}
