"""Deployment records as stored under state/deployments/: read back exactly, in any time zone."""

from __future__ import annotations

import calendar
import time
from pathlib import Path

import pytest

from edgewatch.local.deployment_history import DeploymentHistory, DeploymentRecord
from edgewatch.local.deployment_plan import DeploymentStatus, DetailedStatus


@pytest.fixture
def summer_time_zone(monkeypatch: pytest.MonkeyPatch):
    """A zone with daylight saving time: the old `mktime(...) - timezone` was an hour off in its summer."""
    monkeypatch.setenv("TZ", "Europe/Berlin")
    time.tzset()
    if time.localtime(calendar.timegm((2026, 7, 1, 12, 0, 0, 0, 0, 0))).tm_isdst != 1:
        pytest.skip("no Europe/Berlin time zone data on this machine")
    yield
    monkeypatch.undo()
    time.tzset()


def test_created_on_is_read_back_as_utc_in_summer_and_winter(summer_time_zone):
    summer, winter = calendar.timegm((2026, 7, 1, 12, 0, 0, 0, 0, 0)), calendar.timegm((2026, 1, 15, 8, 30, 5, 0, 0, 0))
    for created in (summer, winter):
        record = DeploymentRecord("d-1", float(created), DeploymentStatus.SUCCEEDED, DetailedStatus.SUCCESSFUL)
        again = DeploymentRecord.from_json(record.to_json())
        assert again.created == created
        assert again.to_json() == record.to_json()


def test_history_survives_a_restart_and_an_unfinished_deployment_is_failed(tmp_path: Path):
    history = DeploymentHistory(tmp_path / "deployments")
    done = DeploymentRecord("d-done", 1_780_000_000.0, DeploymentStatus.FAILED,
                            DetailedStatus.FAILED_NO_STATE_CHANGE, "no recipe", ["RECIPE_NOT_FOUND"])
    cut = DeploymentRecord("d-cut", 1_780_000_100.0, DeploymentStatus.IN_PROGRESS)
    for record in (done, cut):
        history.save(record)
    (tmp_path / "deployments" / "d-bad.json").write_text('{"deploymentId": "d-bad", "createdOn": "yesterday", '
                                                          '"status": "SUCCEEDED"}')
    again = DeploymentHistory(tmp_path / "deployments")
    again.load()
    assert [r.deployment_id for r in again.records()] == ["d-done", "d-cut"]  # oldest first, the bad one aside
    assert again.get("d-done") == done
    assert again.get("d-cut").status == DeploymentStatus.FAILED
    assert again.get("d-cut").reason == "the runtime stopped during it"
    assert again.get("d-cut").to_json()["detailedStatus"] == ""
    assert list((tmp_path / "deployments").glob("d-bad.json.corrupt-*"))
