from __future__ import annotations

from pathlib import Path

import pytest

from edgewatch_shared import health_message
from edgewatch_shared.component_env import component_version


def test_the_optional_version_round_trips_and_is_checked() -> None:
    doc = health_message.build(component="com.x", thing="gw", ts_ms=1, interval_seconds=30, version="1.2.3").to_dict()
    assert doc["version"] == "1.2.3" and health_message.from_dict(doc).version == "1.2.3"
    plain = health_message.build(component="com.x", thing="gw", ts_ms=1, interval_seconds=30).to_dict()
    assert "version" not in plain and health_message.from_dict(plain).version is None
    with pytest.raises(health_message.HealthMessageError, match="'version' must be a non-empty string"):
        health_message.from_dict({**plain, "version": 3})


def test_component_version_comes_from_where_the_nucleus_unpacked_the_artifact(tmp_path: Path) -> None:
    unpacked = tmp_path / "packages" / "artifacts-unarchived" / "com.edgewatch.AlertRouter" / "0.4.2"
    module = unpacked / "alert-router" / "src" / "alert_router" / "__init__.py"
    assert component_version("com.edgewatch.AlertRouter", module) == "0.4.2"
    assert component_version("com.edgewatch.MetricsCollector", module) is None  # another component's folder
    assert component_version("com.edgewatch.AlertRouter", tmp_path / "src" / "alert_router" / "__init__.py") is None
