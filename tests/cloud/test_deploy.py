"""`edgewatch deploy`: dry run, creation on moto + the greengrassv2 double, and `--wait` rollouts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgewatch.cloud import cli
from edgewatch.cloud.model import validate_request
from tests.cloud.conftest import ACCOUNT, NO_AWS, REGION, OfflineAws

REPO = Path(__file__).resolve().parents[2]
MC = "com.edgewatch.MetricsCollector"
AR = "com.edgewatch.AlertRouter"


def test_dry_run_prints_exact_requests_and_calls_nothing(aws_env: None, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(
        [
            "deploy",
            "--thing-group",
            "plant-a",
            "--dry-run",
            "--account-id",
            ACCOUNT,
            "--repo-root",
            str(REPO),
            "--component-version",
            f"{MC}=0.1.7",
            "--set",
            f"{MC}:/sampleIntervalSeconds=30",
        ],
        deps=NO_AWS,
    )
    assert code == 0
    requests = json.loads(capsys.readouterr().out)  # stdout is exactly the JSON array
    assert [(r["service"], r["operation"]) for r in requests] == [
        ("iot", "CreateThingGroup"),
        ("greengrassv2", "CreateDeployment"),
    ]
    for r in requests:
        assert set(r) == {"service", "operation", "params"}
        validate_request(r["service"], r["operation"], r["params"])
    params = requests[1]["params"]
    assert params["targetArn"] == f"arn:aws:iot:{REGION}:{ACCOUNT}:thinggroup/plant-a"
    assert params["components"][MC]["componentVersion"] == "0.1.7"
    assert params["components"][AR]["componentVersion"] == "0.1.0"  # the document's, nothing was asked
    assert json.loads(params["components"][MC]["configurationUpdate"]["merge"]) == {"sampleIntervalSeconds": 30}
    assert params["deploymentPolicies"]["failureHandlingPolicy"] == "ROLLBACK"


def test_dry_run_without_account_says_what_to_pass(aws_env: None, caplog: pytest.LogCaptureFixture) -> None:
    assert cli.main(["deploy", "--thing-group", "g", "--dry-run", "--repo-root", str(REPO)], deps=NO_AWS) == 1
    assert "--account-id" in caplog.text


@pytest.fixture
def wired(offline_aws: OfflineAws) -> OfflineAws:
    """The offline AWS; its deps() hand the CLI these clients, and sleeping advances the rollout clock."""
    return offline_aws


def _fleet(aws: OfflineAws, group: str, count: int) -> list[str]:
    iot = aws.client("iot")
    iot.create_thing_group(thingGroupName=group)
    names = [f"gw-{i:04d}" for i in range(count)]
    for name in names:
        iot.create_thing(thingName=name)
        iot.add_thing_to_thing_group(thingGroupName=group, thingName=name)
    return names


def _seed(aws: OfflineAws) -> None:
    for version in ("0.1.0", "0.1.2", "0.1.10"):
        aws.greengrass.seed_component(MC, version)
    aws.greengrass.seed_component(AR, "0.3.0")


def test_deploy_creates_the_group_and_uses_the_latest_published_versions(
    wired: OfflineAws, capsys: pytest.CaptureFixture[str]
) -> None:
    _seed(wired)
    code = cli.main(
        ["deploy", "--thing-group", "new-group", "--repo-root", str(REPO), "--set", f"{AR}:/slack/channel=#ops"],
        deps=wired.deps(),
    )
    assert code == 0
    deployment_id = capsys.readouterr().out.strip()
    assert wired.client("iot").describe_thing_group(thingGroupName="new-group")["thingGroupName"] == "new-group"
    params = wired.greengrass.deployments[deployment_id]["params"]
    assert {n: c["componentVersion"] for n, c in params["components"].items()} == {MC: "0.1.10", AR: "0.3.0"}
    assert json.loads(params["components"][AR]["configurationUpdate"]["merge"]) == {"slack": {"channel": "#ops"}}
    assert params["iotJobConfiguration"]["abortConfig"]["criteriaList"]


def test_deploy_of_an_unpublished_component_says_to_publish(
    wired: OfflineAws, caplog: pytest.LogCaptureFixture
) -> None:
    wired.greengrass.seed_component(MC, "0.1.0")
    assert cli.main(["deploy", "--thing-group", "g", "--repo-root", str(REPO)], deps=wired.deps()) == 1
    assert f"{AR} is not published" in caplog.text and "edgewatch publish" in caplog.text
    assert "CreateDeployment" not in wired.greengrass.operations()


def test_wait_follows_a_whole_exponential_rollout_to_success(
    wired: OfflineAws, capsys: pytest.CaptureFixture[str]
) -> None:
    _seed(wired)
    _fleet(wired, "plant-a", 300)
    argv = ["deploy", "--thing-group", "plant-a", "--repo-root", str(REPO), "--wait", "--poll-interval", "60"]
    code = cli.main(argv, deps=wired.deps())
    assert code == 0
    captured = capsys.readouterr()
    err = captured.err
    lines = [line for line in err.splitlines() if line.startswith("IN_PROGRESS")]
    finished = [int(line.split("] ")[1].split("/")[0]) for line in lines]
    assert finished == sorted(finished) and finished[-1] == 300  # monotonic progress to the whole fleet
    assert "\r" not in err  # not a TTY: plain lines
    assert captured.out.splitlines()[-1] == "rollout succeeded (300 succeeded)"
    rollout = next(iter(wired.greengrass.rollouts.values()))
    assert rollout.rate > 10  # the exponential rate went up from its base
    assert len(lines) < 40  # 300 devices took a few minutes, not 30 (one per 10/minute)


def test_wait_reports_an_abort_when_failures_cross_the_threshold(
    wired: OfflineAws, caplog: pytest.LogCaptureFixture
) -> None:
    _seed(wired)
    names = _fleet(wired, "plant-b", 400)
    # Every 10th device fails: 10% > the 5% FAILED abort threshold once 100 have run.
    wired.greengrass.outcomes.update({n: "FAILED" for n in names[::10]})
    argv = ["deploy", "--thing-group", "plant-b", "--repo-root", str(REPO), "--wait", "--poll-interval", "60"]
    code = cli.main(argv, deps=wired.deps())
    assert code == 1
    assert "rollout aborted: ABORT_CRITERIA FAILED 5.0% reached" in caplog.text
    rollout = next(iter(wired.greengrass.rollouts.values()))
    assert rollout.status == "CANCELED"
    counts = rollout.counts()
    assert counts.get("SUCCEEDED", 0) + counts.get("FAILED", 0) < 400  # stopped before reaching everyone


def test_wait_gives_up_after_the_wait_timeout(wired: OfflineAws, caplog: pytest.LogCaptureFixture) -> None:
    _seed(wired)
    _fleet(wired, "plant-c", 100)
    code = cli.main(
        [
            "deploy",
            "--thing-group",
            "plant-c",
            "--repo-root",
            str(REPO),
            "--wait",
            "--poll-interval",
            "60",
            "--wait-timeout",
            "120",
        ],
        deps=wired.deps(),
    )
    assert code == 1
    assert "still rolling out after 120s" in caplog.text


def test_dev_document_targets_a_thing_and_needs_no_group(
    aws_env: None, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    dev = str(REPO / "deployment" / "deployments" / "dev-thing.json")
    base = ["deploy", "--deployment", dev, "--dry-run", "--account-id", ACCOUNT, "--repo-root", str(REPO)]
    assert cli.main([*base, "--thing-name", "gw-dev"], deps=NO_AWS) == 0
    (request,) = json.loads(capsys.readouterr().out)  # a thing target: no CreateThingGroup
    assert request["operation"] == "CreateDeployment"
    assert request["params"]["targetArn"] == f"arn:aws:iot:{REGION}:{ACCOUNT}:thing/gw-dev"
    assert cli.main(base, deps=NO_AWS) == 1
    assert "needs --thing-name (for {{THING_NAME}})" in caplog.text
