"""`edgewatch fleet index enable`, `fleet group create` and deploying to a dynamic group.

moto keeps the indexing configuration; dynamic thing groups come from the IoT double in fakes.py
(moto has none), every request checked against botocore's model.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from edgewatch.cloud import cli as cloud_cli
from edgewatch.cloud.errors import CloudError
from edgewatch.fleet import cli
from edgewatch.fleet.indexing import (
    MAX_INDEXED_SHADOWS,
    READY_QUERIES,
    query_problems,
    thing_config,
    wanted_thing_indexing,
)
from tests.cloud.conftest import ACCOUNT, REGION, OfflineAws

REPO = Path(__file__).resolve().parents[2]
MC = "com.edgewatch.MetricsCollector"
AR = "com.edgewatch.AlertRouter"
ENABLED = {
    "thingIndexingMode": "REGISTRY_AND_SHADOW",
    "thingConnectivityIndexingMode": "STATUS",
    "namedShadowIndexingMode": "ON",
    "filter": {"namedShadowNames": ["edgewatch"]},
}


def fleet(aws: OfflineAws, *argv: str) -> int:
    return cli.main(["fleet", *argv], deps=aws.deps())


def indexing(aws: OfflineAws) -> dict[str, object]:
    return thing_config(aws.client("iot").get_indexing_configuration())


def test_index_enable_turns_on_registry_shadow_and_connectivity_once(
    offline_aws: OfflineAws, capsys: pytest.CaptureFixture[str]
) -> None:
    assert indexing(offline_aws)["thingIndexingMode"] == "OFF"
    assert fleet(offline_aws, "index", "enable") == 0
    assert capsys.readouterr().out.startswith("fleet indexing enabled")
    config = indexing(offline_aws)
    assert config["thingIndexingMode"] == "REGISTRY_AND_SHADOW"
    assert config["thingConnectivityIndexingMode"] == "STATUS"
    assert config["namedShadowIndexingMode"] == "ON"
    assert config["filter"]["namedShadowNames"] == ["edgewatch"]  # type: ignore[index]
    # Again: nothing to change, nothing sent.
    assert fleet(offline_aws, "index", "enable") == 0
    assert capsys.readouterr().out.startswith("fleet indexing already enabled")
    assert offline_aws.iot.operations.count("UpdateIndexingConfiguration") == 1


def test_index_enable_keeps_what_the_account_already_indexes(offline_aws: OfflineAws) -> None:
    iot = offline_aws.client("iot")
    custom = [{"name": "attributes.site", "type": "String"}]
    iot.update_indexing_configuration(
        thingIndexingConfiguration={
            "thingIndexingMode": "REGISTRY",
            "deviceDefenderIndexingMode": "VIOLATIONS",
            "customFields": custom,
            "namedShadowIndexingMode": "ON",
            "filter": {"namedShadowNames": ["battery"]},
        }
    )
    assert fleet(offline_aws, "index", "enable") == 0
    config = indexing(offline_aws)
    assert config["filter"]["namedShadowNames"] == ["battery", "edgewatch"]  # type: ignore[index]
    assert config["deviceDefenderIndexingMode"] == "VIOLATIONS"
    assert config["customFields"] == custom
    assert config["thingIndexingMode"] == "REGISTRY_AND_SHADOW"


def test_the_named_shadow_quota_is_named_before_aws_refuses() -> None:
    full = {**ENABLED, "filter": {"namedShadowNames": [f"s{i}" for i in range(MAX_INDEXED_SHADOWS)]}}
    with pytest.raises(CloudError, match=r"10 shadows .* quota increase"):
        wanted_thing_indexing(full)
    assert wanted_thing_indexing(ENABLED) is None
    assert "managedFields" not in (wanted_thing_indexing({"managedFields": [{"name": "thingName"}]}) or {})


def test_group_create_needs_the_index_and_says_how(offline_aws: OfflineAws, caplog: pytest.LogCaptureFixture) -> None:
    assert fleet(offline_aws, "group", "create", "offline", "--query", READY_QUERIES["disconnected"]) == 1
    assert "fleet indexing is off" in caplog.text and "edgewatch fleet index enable" in caplog.text
    assert "CreateDynamicThingGroup" not in offline_aws.iot.operations


def test_group_create_is_idempotent_and_replaces_a_query_only_when_asked(
    offline_aws: OfflineAws, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    assert fleet(offline_aws, "index", "enable") == 0
    capsys.readouterr()
    query = READY_QUERIES["outdated-collector"]
    arn = f"arn:aws:iot:{REGION}:{ACCOUNT}:thinggroup/old-collectors"
    assert fleet(offline_aws, "group", "create", "old-collectors", "--query", query) == 0
    assert capsys.readouterr().out == f"created old-collectors {arn}\n"
    assert fleet(offline_aws, "group", "create", "old-collectors", "--query", query) == 0
    assert capsys.readouterr().out == f"unchanged old-collectors {arn}\n"
    other = query.replace("0.1.*", "0.2.*")
    assert fleet(offline_aws, "group", "create", "old-collectors", "--query", other) == 1
    assert "pass --update" in caplog.text
    assert offline_aws.iot.dynamic_groups["old-collectors"].query == query  # untouched
    assert fleet(offline_aws, "group", "create", "old-collectors", "--query", other, "--update") == 0
    assert capsys.readouterr().out.startswith("updated old-collectors")
    assert offline_aws.iot.dynamic_groups["old-collectors"].query == other
    assert offline_aws.iot.operations.count("CreateDynamicThingGroup") == 1


def test_group_create_refuses_a_static_group_name_and_unindexed_shadows(
    offline_aws: OfflineAws, caplog: pytest.LogCaptureFixture
) -> None:
    assert fleet(offline_aws, "index", "enable") == 0
    offline_aws.client("iot").create_thing_group(thingGroupName="plant-a")
    assert fleet(offline_aws, "group", "create", "plant-a", "--query", "attributes.site:a") == 1
    assert "plant-a exists as a static group" in caplog.text
    caplog.clear()
    assert fleet(offline_aws, "group", "create", "low", "--query", "shadow.name.battery.reported.level<20") == 1
    assert "named shadow 'battery', which is not indexed" in caplog.text


def test_the_ready_made_queries_need_exactly_what_index_enable_turns_on() -> None:
    for name, query in READY_QUERIES.items():
        assert query_problems(ENABLED, query) == [], name
    registry_only = {"thingIndexingMode": "REGISTRY"}
    assert query_problems(registry_only, READY_QUERIES["critical-alerts"])
    assert query_problems(registry_only, READY_QUERIES["disconnected"])
    assert query_problems({}, "attributes.site:plant-a")[0].startswith("fleet indexing is off")


def test_the_readme_shows_the_ready_made_queries() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for name, query in READY_QUERIES.items():
        assert query in readme, name


def test_deploy_targets_a_dynamic_group_unchanged(offline_aws: OfflineAws, capsys: pytest.CaptureFixture[str]) -> None:
    assert fleet(offline_aws, "index", "enable") == 0
    assert fleet(offline_aws, "group", "create", "offline", "--query", READY_QUERIES["disconnected"]) == 0
    arn = capsys.readouterr().out.split()[-1]
    iot = offline_aws.client("iot")
    for name in ("gw-1", "gw-2"):
        iot.create_thing(thingName=name)
    offline_aws.iot.dynamic_groups["offline"].members = ["gw-1", "gw-2"]  # what the index found
    offline_aws.greengrass.seed_component(MC, "0.1.0")
    offline_aws.greengrass.seed_component(AR, "0.1.0")
    argv = ["deploy", "--thing-group", "offline", "--repo-root", str(REPO), "--wait", "--poll-interval", "60"]
    assert cloud_cli.main(argv, deps=offline_aws.deps()) == 0
    (deployment,) = offline_aws.greengrass.deployments.values()
    assert deployment["params"]["targetArn"] == arn  # accepted by the CreateDeployment model check
    assert "CreateThingGroup" not in offline_aws.iot.operations  # the dynamic group was used as it is
    (rollout,) = offline_aws.greengrass.rollouts.values()
    assert sorted(rollout.things) == ["gw-1", "gw-2"]
    assert capsys.readouterr().out.splitlines()[-1] == "rollout succeeded (2 succeeded)"
