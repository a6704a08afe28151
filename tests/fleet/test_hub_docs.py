"""The hub's documented merge: deployment/deployments/hub-thing.json is what the components accept, and it
adds only SubscribeToIoTCore on the fleet topics; the recipes' defaults grant no fleet access."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from alert_router.config import validity_reason as router_reason
from local_dashboard.config import validity_reason as dashboard_reason

from edgewatch.cloud.deployment_doc import render_deployment

REPO = Path(__file__).resolve().parents[2]
VALUES = {"AWS_REGION": "eu-west-1", "AWS_ACCOUNT_ID": "123456789012", "THING_NAME": "hub-01"}
SUBSCRIBE = "aws.greengrass#SubscribeToIoTCore"


def merges() -> dict[str, dict[str, Any]]:
    template = json.loads((REPO / "deployment" / "deployments" / "hub-thing.json").read_text(encoding="utf-8"))
    params = render_deployment(template, VALUES)
    return {name: json.loads(spec["configurationUpdate"]["merge"]) for name, spec in params["components"].items()}


def grants(access: dict[str, Any], service: str) -> set[tuple[str, str]]:
    return {(op, res) for p in access.get(service, {}).values() for op in p["operations"] for res in p["resources"]}


def test_the_hub_merge_is_accepted_by_both_components_and_grants_only_fleet_reads() -> None:
    m = merges()
    dashboard, router = m["com.edgewatch.LocalDashboard"], m["com.edgewatch.AlertRouter"]
    assert dashboard_reason(dashboard) is None and dashboard["fleetView"] is True
    assert router_reason(router) is None and router["iotCoreInputs"] == ["dt/edgewatch/+/metrics"]
    mqtt = "aws.greengrass.ipc.mqttproxy"
    assert grants(dashboard["accessControl"], mqtt) == {(SUBSCRIBE, "dt/edgewatch/+/metrics"),
                                                        (SUBSCRIBE, "dt/edgewatch/+/alerts")}  # fmt: skip
    assert grants(router["accessControl"], mqtt) == {(SUBSCRIBE, "dt/edgewatch/+/metrics"),
                                                     (SUBSCRIBE, "$aws/events/presence/connected/+"),
                                                     (SUBSCRIBE, "$aws/events/presence/disconnected/+")}  # fmt: skip
    assert set(dashboard["accessControl"]) == set(router["accessControl"]) == {mqtt}


def test_the_default_recipes_grant_no_fleet_access() -> None:
    for name in ("com.edgewatch.LocalDashboard", "com.edgewatch.AlertRouter"):
        recipe = yaml.safe_load((REPO / "recipes" / f"{name}.yaml").read_text())
        defaults = recipe["ComponentConfiguration"]["DefaultConfiguration"]
        assert not any(op == SUBSCRIBE for op, _ in grants(defaults["accessControl"], "aws.greengrass.ipc.mqttproxy"))
        assert defaults.get("fleetView", False) is False and defaults.get("iotCoreInputs", []) == []
