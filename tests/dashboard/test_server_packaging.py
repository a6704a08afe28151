"""Packaging of the LocalDashboard: recipe, permissions, platforms, the built zip, deployment documents."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import yaml

from edgewatch.build.suite import build_components
from edgewatch.recipe import load_recipe
from tests.dashboard.conftest import ROOT

RECIPE = ROOT / "recipes" / "com.edgewatch.LocalDashboard.yaml"


def test_recipe_grants_exactly_the_dashboard_topics_and_no_secrets() -> None:
    recipe = load_recipe(RECIPE)  # schema-checked as GDK does
    access = recipe.default_configuration["accessControl"]
    assert set(access) == {"aws.greengrass.ipc.pubsub"}  # SecretManager only when a deployment adds it
    grants = {(op, res) for policy in access["aws.greengrass.ipc.pubsub"].values()
              for op in policy["operations"] for res in policy["resources"]}  # fmt: skip
    topics = ["edgewatch/metrics", "edgewatch/alerts", "edgewatch/health", "edgewatch/silences"]
    assert grants == {("aws.greengrass#SubscribeToTopic", t) for t in topics} | {
        ("aws.greengrass#PublishToTopic", "edgewatch/silences")}
    raw = yaml.safe_load(RECIPE.read_text())
    assert [m["Platform"]["architecture"] for m in raw["Manifests"]] == ["amd64", "aarch64", "arm"]
    assert (ROOT / "components" / "local-dashboard" / "recipe.yaml").resolve() == RECIPE


def test_built_zip_holds_the_page_assets_and_not_the_web_sources(tmp_path: Path) -> None:
    (built,) = build_components(ROOT, ["local-dashboard"], tmp_path)
    names = set(zipfile.ZipFile(built.artifact_files[0]).namelist())
    for asset in ("index.html", "login.html", "app.js", "app.css", "uPlot.iife.min.js", "uPlot.min.css"):
        assert f"src/local_dashboard/static/{asset}" in names and f"src/local_dashboard/static/{asset}.gz" in names
    assert not any(n.startswith("web/") or "node_modules" in n for n in names)
    assert "src/local_dashboard/__main__.py" in names and "edgewatch_shared/silence_message.py" in names
    assert "requirements.txt" in names
    requirements = (ROOT / "components" / "local-dashboard" / "requirements.txt").read_text().splitlines()
    pins = [line for line in requirements if line and not line.startswith("#")]
    assert pins and all("==" in line for line in pins)


def test_dev_document_deploys_the_dashboard_and_the_fleet_document_leaves_it_out() -> None:
    dev = json.loads((ROOT / "deployment" / "deployments" / "dev-thing.json").read_text())
    fleet = json.loads((ROOT / "deployment" / "deployments" / "fleet-thing-group.json").read_text())
    assert set(dev["components"]) == {"com.edgewatch.MetricsCollector", "com.edgewatch.AlertRouter",
                                      "com.edgewatch.LocalDashboard"}  # fmt: skip
    assert "com.edgewatch.LocalDashboard" not in fleet["components"]
