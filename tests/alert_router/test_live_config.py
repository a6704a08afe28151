"""Live configuration on the local runtime: the real `python -m alert_router`, the unmodified IPC
client, and a configuration change made as a deployment's `--update-config` makes it (the component
validates the proposed configuration, then the merged configuration is stored and the component is
notified). Each change takes effect for the next sample, without a restart.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edgewatch.local.testing import ComponentSpec, ThreadedIpcRuntime, stop_process, wait_until
from edgewatch_testkit.fake_slack import FakeSlack
from tests.alert_router.test_on_local_runtime import (
    NAME,
    THING,
    cpu,
    iot_alerts,
    publish,
    recipe_defaults,
    start_router,
)

RULE = {"name": "HighCpu", "metric": "cpu.percent", "op": ">", "threshold": 90, "summary": "CPU {value}% on {thing}"}
ROUTE = {"receiver": "default", "groupWait": 0, "groupInterval": "1s", "repeatInterval": "1h"}


def receivers(default_url: str, pager_url: str | None = None) -> list[dict[str, Any]]:
    out = [{"name": "default", "slack": {"webhookUrl": default_url, "minIntervalSeconds": 0}, "iotCore": {}}]
    if pager_url is not None:
        out.append({"name": "pager", "slack": {"webhookUrl": pager_url, "minIntervalSeconds": 0}})
    return out


def base_config(url: str, pager_url: str | None = None) -> dict[str, Any]:
    return {"rules": [RULE], "route": ROUTE, "receivers": receivers(url, pager_url), "inhibitRules": [],
            "evaluationIntervalSeconds": 0.1, "retryInitialSeconds": 0.1, "retryMaxSeconds": 0.5}  # fmt: skip


@pytest.fixture
def slack_a() -> Iterator[FakeSlack]:
    with FakeSlack() as server:
        yield server


@pytest.fixture
def slack_b() -> Iterator[FakeSlack]:
    with FakeSlack() as server:
        yield server


def make_runtime(tmp_path: Path, config: dict[str, Any]) -> ThreadedIpcRuntime:
    defaults = recipe_defaults()
    components = {
        NAME: ComponentSpec(access_control=defaults["accessControl"], configuration={**defaults, **config}),
        "test.Peer": ComponentSpec(
            access_control={"aws.greengrass.ipc.pubsub": {"p": {"operations": ["*"], "resources": ["*"]}}}
        ),
    }
    return ThreadedIpcRuntime(tmp_path / "runtime", components, thing_name=THING).start()


def deploy(runtime: ThreadedIpcRuntime, merge: dict[str, Any], deployment_id: str) -> None:
    """What a deployment with `--update-config {"NAME": {"MERGE": merge}}` does to a running component:
    the merged configuration is offered for validation, then stored, and the component is notified."""
    proposed = {**runtime.call(runtime.services.configuration.get, NAME), **merge}  # lists are replaced whole
    verdict = runtime.run(runtime.services.configuration.validate(NAME, proposed, deployment_id, 10))
    assert verdict.answered and verdict.accepted, verdict.message
    runtime.call(runtime.services.configuration.set, NAME, proposed)


def applied_count(work: Path) -> int:
    return (work / "alert_router.log").read_text().count("configuration applied:")


def starts(work: Path) -> int:
    return (work / "alert_router.log").read_text().count("alert router for ")


def texts(fake: FakeSlack) -> list[str]:
    return [r.body.get("text", "") for r in fake.delivered()]


def fire(peer: Any, fake: FakeSlack, value: float, what: str) -> None:
    before = len([t for t in texts(fake) if "firing" in t.lower()])
    wait_until(lambda: (publish(peer, cpu(value)), len([t for t in texts(fake) if "firing" in t.lower()]) > before)[1],
               timeout=20, interval=0.2, what=what)  # fmt: skip



def test_raised_threshold_applies_to_the_next_sample(tmp_path: Path, slack_a: FakeSlack) -> None:
    runtime = make_runtime(tmp_path, base_config(slack_a.webhook_url))
    work = tmp_path / "work"
    router = start_router(runtime, work)
    try:
        peer = runtime.client("test.Peer")
        fire(peer, slack_a, 95, "the first firing at threshold 90")
        pid = router.pid

        deploy(runtime, {"rules": [{**RULE, "threshold": 96}]}, "dep-threshold")
        wait_until(lambda: applied_count(work) == 1, timeout=10, what="the configuration to be applied")
        # The changed rule resolves what its old version announced.
        wait_until(lambda: any("resolved" in t.lower() for t in texts(slack_a)), timeout=10,
                   what="the RESOLVED of the old rule's alert")  # fmt: skip
        after = len(iot_alerts(runtime))
        publish(peer, cpu(95))  # the next sample: below the new threshold, so no alert
        fire(peer, slack_a, 97, "a firing above the new threshold")
        new = [n for n in iot_alerts(runtime)[after:] if n["status"] == "firing"]
        assert new and all(a["value"] > 96 for n in new for a in n["alerts"]), new
        assert router.poll() is None and router.pid == pid and starts(work) == 1  # no restart
    finally:
        stop_process(router)
        runtime.stop()
    log = (work / "alert_router.log").read_text()
    assert "unhashable" not in log and "could not be applied" not in log


def test_changed_webhook_url_sends_to_the_new_url_and_none_to_the_old(
    tmp_path: Path, slack_a: FakeSlack, slack_b: FakeSlack
) -> None:
    runtime = make_runtime(tmp_path, base_config(slack_a.webhook_url))
    work = tmp_path / "work"
    router = start_router(runtime, work)
    try:
        peer = runtime.client("test.Peer")
        fire(peer, slack_a, 95, "the firing on the old webhook")
        pid = router.pid
        old_posts = len(slack_a.received)

        deploy(runtime, {"receivers": receivers(slack_b.webhook_url)}, "dep-webhook")  # a leaked URL rotated
        wait_until(lambda: applied_count(work) == 1, timeout=10, what="the configuration to be applied")
        wait_until(lambda: (publish(peer, cpu(10)), any("resolved" in t.lower() for t in texts(slack_b)))[1],
                   timeout=20, interval=0.2, what="the RESOLVED on the new webhook")  # fmt: skip
        fire(peer, slack_b, 97, "a new firing on the new webhook")
        assert len(slack_a.received) == old_posts, "a post still went to the old webhook URL"
        assert router.poll() is None and router.pid == pid and starts(work) == 1
    finally:
        stop_process(router)
        runtime.stop()
    log = (work / "alert_router.log").read_text()
    assert slack_a.webhook_url not in log and slack_b.webhook_url not in log  # configuration values never logged


def test_changed_route_sends_the_next_notification_to_the_new_receiver(
    tmp_path: Path, slack_a: FakeSlack, slack_b: FakeSlack
) -> None:
    runtime = make_runtime(tmp_path, base_config(slack_a.webhook_url, slack_b.webhook_url))
    work = tmp_path / "work"
    router = start_router(runtime, work)
    try:
        peer = runtime.client("test.Peer")
        fire(peer, slack_a, 95, "the firing on the default receiver")
        pid = router.pid
        default_posts = len(slack_a.received)
        assert slack_b.received == []

        route = {**ROUTE, "routes": [{"matchers": ["alertname=HighCpu"], "receiver": "pager"}]}
        deploy(runtime, {"route": route}, "dep-route")
        wait_until(lambda: applied_count(work) == 1, timeout=10, what="the configuration to be applied")
        # The alert now belongs to the pager's group, which has not heard of it: the pager is told.
        wait_until(lambda: (publish(peer, cpu(95)), any("firing" in t.lower() for t in texts(slack_b)))[1],
                   timeout=20, interval=0.2, what="the firing on the pager")  # fmt: skip
        wait_until(lambda: (publish(peer, cpu(10)), any("resolved" in t.lower() for t in texts(slack_b)))[1],
                   timeout=20, interval=0.2, what="the RESOLVED on the pager")  # fmt: skip
        assert len(slack_a.received) == default_posts, "the default receiver still got notifications"
        assert router.poll() is None and router.pid == pid and starts(work) == 1
    finally:
        stop_process(router)
        runtime.stop()
    stored = json.loads((tmp_path / "work" / "alert-router-last-good-config.json").read_text())
    assert stored["route"] == route  # the last good configuration follows the update
    assert (tmp_path / "work" / "alert-router-last-good-config.json").stat().st_mode & 0o777 == 0o600


def test_a_part_that_fails_to_apply_does_not_keep_the_others_from_applying(tmp_path: Path) -> None:
    from alert_router.config import parse_config
    from alert_router.core import RouterCore
    from alert_router.delivery import Deliverer
    from alert_router.outbox import Outbox
    from alert_router.service import RouterService

    from edgewatch_shared.backoff import Backoff

    old = parse_config(base_config("https://hooks.example/old"))
    new = parse_config({**base_config("https://hooks.example/new"), "rules": [{**RULE, "threshold": 96}]})
    core = RouterCore(old, THING, 0.0)
    made: list[Any] = []
    outbox = Outbox(tmp_path / "o.sqlite", 100)
    service = RouterService(core=core, outbox=outbox, deliverer=Deliverer(outbox, Backoff(), lambda s: s),
                            integrations_for=lambda c: made.append(c) or {}, clock=lambda: 0.0)  # fmt: skip

    def broken(*args: Any) -> None:
        raise RuntimeError("a bug in rule evaluation")

    core.evaluator.set_rules = broken  # type: ignore[method-assign]
    try:
        service.apply_config(new, 1.0)
        assert made[-1] is new  # the receivers (the new webhook) were applied all the same
        assert core.dispatcher.route == new.route
        assert service.config_failures == ["rules"]
        doc = service.health_document(1.0)
        assert doc["status"] == "degraded" and any("failed: rules" in r for r in doc["reasons"])
    finally:
        outbox.close()


def test_update_config_deployment_on_the_full_runtime_rotates_the_webhook(
    tmp_path: Path, slack_a: FakeSlack, slack_b: FakeSlack
) -> None:
    """The same change through the local runtime's deployment path (`deployment create --update-config`),
    with the built component run from its recipe."""
    import sys

    from edgewatch.build.suite import build_components
    from edgewatch.local.deployment_plan import ConfigUpdate
    from edgewatch.local.runtime import DeploymentRequest, LocalRuntime
    from edgewatch.local.testing import RuntimeThread, connect_client

    root = Path(__file__).resolve().parents[2]
    out = tmp_path / "build"
    built = build_components(root, [NAME], out)
    rt_root = tmp_path / "rt"
    thread = RuntimeThread(lambda: LocalRuntime(rt_root, THING, extra_env={"EDGEWATCH_PYTHON": sys.executable},
                                                validation_timeout_s=20, strict_recipes=True)).start()  # fmt: skip
    try:
        first = thread.deploy(DeploymentRequest(out / "recipes", out / "artifacts", {c.name: c.version for c in built},
                                                config_updates={NAME: ConfigUpdate(merge=base_config(
                                                    slack_a.webhook_url))}))  # fmt: skip
        assert first.status == "SUCCEEDED", first.reason
        peer_token = thread.call(thread.runtime.services.add_component, "test.Peer",
                                 {"aws.greengrass.ipc.pubsub": {"p": {"operations": ["*"], "resources": ["*"]}}})
        peer = connect_client(thread.runtime.layout.socket_path, peer_token)
        try:
            fire(peer, slack_a, 95, "the firing on the old webhook")
            old_posts = len(slack_a.received)
            log = rt_root / "logs" / f"{NAME}.log"
            update = DeploymentRequest(config_updates={NAME: ConfigUpdate(merge={"receivers": receivers(
                slack_b.webhook_url)})})  # fmt: skip
            second = thread.deploy(update)
            assert second.status == "SUCCEEDED", second.reason
            wait_until(lambda: "configuration applied:" in log.read_text(), timeout=10, what="the live update")
            wait_until(lambda: (publish(peer, cpu(10)), any("resolved" in t.lower() for t in texts(slack_b)))[1],
                       timeout=20, interval=0.2, what="the RESOLVED on the new webhook")  # fmt: skip
            assert len(slack_a.received) == old_posts, "a post still went to the old webhook URL"
            assert log.read_text().count("alert router for ") == 1  # reconfigured, not restarted
            rejected = thread.deploy(DeploymentRequest(config_updates={NAME: ConfigUpdate(merge={
                "rules": [{**RULE, "op": ["<"]}]})}))  # fmt: skip
            assert rejected.status == "FAILED" and "rules[0].op" in rejected.reason  # answered, not timed out
        finally:
            peer.close()
    finally:
        thread.stop()


def test_rule_changes_keep_alert_state_as_prometheus_does_on_reload() -> None:
    from alert_router.config import parse_config

    from tests.alert_router.timeline import Timeline, config

    rule = {**RULE, "for": "10s"}
    tl = Timeline(config([rule]))
    for t in range(0, 12):
        tl.push(t, "cpu.percent", 95)
    assert tl.states() == {"HighCpu": "firing"} and len(tl.sent) == 1

    # Threshold raised but still breached, summary changed: the same alert goes on, nobody is told again.
    tl.core.apply_config(parse_config(config([{**rule, "threshold": 92, "summary": "hot {value}"}])), 12)
    for t in range(12, 30):
        tl.push(t, "cpu.percent", 95)
    assert tl.states() == {"HighCpu": "firing"} and len(tl.sent) == 1
    assert tl.core.evaluator.firing()[0].annotations["summary"] == "hot 95"

    # Raised above the value: resolved at the next evaluation.
    tl.core.apply_config(parse_config(config([{**rule, "threshold": 99}])), 30)
    tl.push(31, "cpu.percent", 95)
    tl.advance(45)
    assert tl.states() == {} and [n.status for _, n in tl.sent] == ["firing", "resolved"]

    # Labels changed: a different alert; the old one resolves at once, the new one starts pending.
    tl2 = Timeline(config([RULE]))
    tl2.push(0, "cpu.percent", 95)
    tl2.core.apply_config(parse_config(config([{**RULE, "labels": {"team": "ops"}}])), 1)
    tl2.advance(15)
    assert [n.status for _, n in tl2.sent] == ["firing", "resolved"]
