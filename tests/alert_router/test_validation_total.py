"""Validation is total: any JSON value gets ACCEPTED or REJECTED with a path, never an exception or a
timeout; a stored configuration the router cannot use at start is treated like a rejected update."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alert_router.config import DEFAULTS, parse_config, validity_reason
from alert_router.startup import open_last_good

from edgewatch.local.testing import ComponentSpec, ThreadedIpcRuntime, stop_process, wait_until
from edgewatch_shared import health_message
from edgewatch_shared.config_lifecycle import choose_config
from edgewatch_testkit.fake_slack import FakeSlack
from tests.alert_router.test_on_local_runtime import NAME, THING, cpu, publish, recipe_defaults, start_router

RULE = {"name": "HighCpu", "metric": "cpu.percent", "op": ">", "threshold": 90}


def nested(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = {"a": value}
    return value


CASES = [
    ({"rules": [{**RULE, "op": ["<"]}]}, "rules[0].op: must be one of"),
    ({"rules": [{**RULE, "value": {"avg": 1}}]}, "rules[0].value: must be one of"),
    ({"evaluationIntervalSeconds": int("9" * 400)}, "evaluationIntervalSeconds: is an integer out of range"),
    ({"retryMaxSeconds": float("nan")}, "retryMaxSeconds: must be a finite number"),
    ({"rules": [{**RULE, "threshold": float("inf")}]}, "rules[0].threshold: must be a finite number"),
    ({"route": nested(500)}, "route.a.a.a"),
    ({"rules": [nested(5000)]}, "rules[0].a.a"),
    ({"rules": [{**RULE, "labels": {"k": ["v"]}}]}, "rules[0].labels.k: must be a string"),
    ({"receivers": [{"name": "default", "slack": {"webhookUrl": 5}}]}, "receivers[0].slack.webhookUrl:"),
    ({"inhibitRules": [{"sourceMatchers": [{"name": "a", "op": ["="], "value": "b"}], "targetMatchers": ["b=c"]}]},
     "inhibitRules[0].sourceMatchers[0].op:"),
    ({"rules": [{**RULE, "for": "9" * 70000}]}, "rules[0].for: is a string longer than"),
    ({"silencesTopic": "x" * 300}, "silencesTopic:"),
    ([1, 2], "(configuration): must be an object"),
    ("rules", "(configuration): must be an object"),
]  # fmt: skip


@pytest.mark.parametrize(("doc", "start"), CASES)
def test_bad_values_are_rejected_with_path_and_never_raise(doc: Any, start: str) -> None:
    reason = validity_reason(doc)
    assert reason is not None and reason.startswith(start), reason
    assert "could not be validated" not in reason and len(reason) <= 600


def test_defaults_and_empty_are_accepted() -> None:
    assert validity_reason(None) is None and validity_reason({}) is None and validity_reason(DEFAULTS) is None
    assert validity_reason({"accessControl": {"anything": [1]}, "somethingOld": 1}) is None  # old keys tolerated


def test_startup_uses_last_good_then_defaults_and_says_which(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    last_good = open_last_good(tmp_path / "last-good.json")
    good = {"rules": [RULE], "evaluationIntervalSeconds": 2, "accessControl": {"x": {}}}
    assert choose_config(lambda: good, parse_config, last_good).source == "stored"
    assert (tmp_path / "last-good.json").stat().st_mode & 0o777 == 0o600
    assert "accessControl" not in json.loads((tmp_path / "last-good.json").read_text())  # the nucleus's

    bad = {"rules": [{**RULE, "op": ["<"]}]}
    with caplog.at_level(logging.ERROR):
        start = choose_config(lambda: bad, parse_config, last_good)
    assert start.source == "last-good" and start.config == parse_config(good)
    assert start.fallback and "rules[0].op" in start.describe()
    assert any("running on the last good configuration" in r.getMessage() for r in caplog.records)

    def unreadable() -> Any:
        raise TimeoutError("nucleus away")

    assert choose_config(unreadable, parse_config, last_good).source == "last-good"
    (tmp_path / "last-good.json").write_text("{not json")  # corrupt: moved aside, defaults used
    start = choose_config(lambda: bad, parse_config, last_good)
    assert start.source == "defaults" and start.config == parse_config(None)
    assert len(list(tmp_path.glob("last-good.json.corrupt-*"))) == 1


def test_a_last_good_file_of_the_old_format_is_unwrapped(tmp_path: Path) -> None:
    path = tmp_path / "last-good.json"
    path.write_text(json.dumps({"configuration": {"rules": [RULE]}}))
    start = choose_config(lambda: {"rules": "bad"}, parse_config, open_last_good(path))
    assert start.source == "last-good" and start.config == parse_config({"rules": [RULE]})


# -- on the local runtime, with the real component


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as server:
        yield server


def good_config(url: str) -> dict[str, Any]:
    return {
        "rules": [RULE], "inhibitRules": [],
        "route": {"receiver": "default", "groupWait": 0, "groupInterval": "1s", "repeatInterval": "1h"},
        "receivers": [{"name": "default", "slack": {"webhookUrl": url, "minIntervalSeconds": 0}}],
        "evaluationIntervalSeconds": 0.1, "retryInitialSeconds": 0.1, "retryMaxSeconds": 0.5,
        "healthIntervalSeconds": 1,
    }  # fmt: skip



def test_component_rejects_hostile_updates_and_starts_on_last_good_config(tmp_path: Path, fake: FakeSlack) -> None:
    defaults = recipe_defaults()
    components = {
        NAME: ComponentSpec(access_control=defaults["accessControl"],
                            configuration={**defaults, **good_config(fake.webhook_url)}),
        "test.Peer": ComponentSpec(
            access_control={"aws.greengrass.ipc.pubsub": {"p": {"operations": ["*"], "resources": ["*"]}}}
        ),
    }  # fmt: skip
    runtime = ThreadedIpcRuntime(tmp_path / "runtime", components, thing_name=THING).start()
    work = tmp_path / "work"
    log = work / "alert_router.log"
    try:
        peer = runtime.client("test.Peer")
        health: list[dict[str, Any]] = []
        peer.subscribe_to_topic(topic="edgewatch/health",
                                on_stream_event=lambda e: health.append(e.json_message.message))
        router = start_router(runtime, work)
        try:
            wait_until(lambda: health, timeout=20, what="a health document from the router")
            first = health_message.from_dict(health[0])  # validates against edgewatch.health/1
            assert first.component == NAME and first.thing == THING and first.status == "healthy"
            assert first.interval_seconds == 1 and "messages_total" in first.counters
            hostile = [({"rules": [{**RULE, "op": ["<"]}]}, "rules[0].op:"),
                       ({"evaluationIntervalSeconds": int("4" * 400)}, "evaluationIntervalSeconds:"),
                       ({"route": nested(500)}, "route.a")]  # fmt: skip
            for i, (merge, path) in enumerate(hostile):
                proposed = {**runtime.call(runtime.services.configuration.get, NAME), **merge}
                verdict = runtime.run(runtime.services.configuration.validate(NAME, proposed, f"dep-{i}", 10))
                assert verdict.answered and not verdict.accepted and verdict.message.startswith(path), verdict.message
        finally:
            stop_process(router)
        assert router.returncode == 0

        # A configuration the router cannot use is on the device (e.g. stored before validation was
        # total): it starts on the last good one, says so in its log and health, and still alerts.
        bad = {**runtime.call(runtime.services.configuration.get, NAME), "rules": [{**RULE, "op": ["<"]}]}
        runtime.call(runtime.services.configuration.set, NAME, bad)
        health.clear()
        router = start_router(runtime, work)
        try:
            wait_until(lambda: "running on the last good configuration" in log.read_text(), timeout=20,
                       what="the fallback log line")  # fmt: skip
            degraded = wait_until(lambda: [h for h in health if h["status"] == "degraded"], timeout=20,
                                  what="a degraded health document")[0]  # fmt: skip
            assert any("last good configuration" in r and "rules[0].op" in r for r in degraded["reasons"])
            wait_until(lambda: (publish(peer, cpu(97)), fake.delivered())[1], timeout=20, interval=0.2,
                       what="an alert from the last good configuration")  # fmt: skip
            assert router.poll() is None
        finally:
            stop_process(router)
    finally:
        runtime.stop()
    assert fake.webhook_url not in log.read_text()
    stored = json.loads((work / "alert-router-last-good-config.json").read_text())
    assert stored["rules"] == [RULE]  # the unusable one never replaced the last good
