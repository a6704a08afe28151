"""alert_router.rules: the rule shape, its validation (errors name the path) and the comparisons."""

from __future__ import annotations

from typing import Any

import pytest
from alert_router.rules import DEFAULT_RULES, RULE_FIELDS, parse_rule, parse_rules

from edgewatch_shared.config_values import ConfigValueError

BASE = {"name": "HighCpu", "metric": "cpu.percent", "threshold": 90}


def rule(**fields: Any) -> Any:
    return parse_rule("rules[0]", {**BASE, **fields})


def test_a_minimal_rule_gets_the_documented_defaults() -> None:
    r = rule()
    assert (r.value, r.window, r.op, r.for_, r.keep_firing_for, r.clear_threshold, r.severity) == (
        "last", 0.0, ">", 0.0, 0.0, None, "warning")
    assert not r.is_absence and r.summary.text == "{rule} on {thing}" and dict(r.labels) == {}


def test_durations_are_seconds() -> None:
    r = rule(value="avg", window="5m", **{"for": "90s", "keepFiringFor": "1h"})
    assert (r.window, r.for_, r.keep_firing_for) == (300.0, 90.0, 3600.0)


def test_breached_and_still_active_with_and_without_hysteresis() -> None:
    plain = rule()
    assert plain.breached(91) and not plain.breached(90) and not plain.still_active(85)
    held = rule(clearThreshold=80)
    assert not held.breached(85) and held.still_active(85) and not held.still_active(80)
    low = rule(op="<", threshold=10, clearThreshold=15)  # e.g. free space below 10, clears above 15
    assert low.breached(9) and low.still_active(14) and not low.still_active(15)
    boolean = rule(metric="disk.read_only", op="==", threshold=1)
    assert boolean.breached(1.0) and not boolean.breached(0.0)


def test_selects_by_name_and_matchers() -> None:
    r = rule(metric="cpu.mode_percent", matchers=['cpu="total"', 'mode="iowait"'])
    assert r.selects("cpu.mode_percent", {"cpu": "total", "mode": "iowait"})
    assert not r.selects("cpu.mode_percent", {"cpu": "total", "mode": "user"})
    assert not r.selects("cpu.percent", {"cpu": "total", "mode": "iowait"})


def test_an_absence_rule() -> None:
    r = parse_rule("rules[0]", {"name": "Silent", "metric": "collector.samples_taken_total", "absentFor": "2m"})
    assert r.is_absence and r.absent_for == 120.0


@pytest.mark.parametrize(("fields", "path", "reason"), [
    ({"treshold": 5}, "rules[0].treshold", "unknown field"),
    ({"metric": "CPU Percent"}, "rules[0].metric", "must be a dotted lower-case metric name"),
    ({"severity": "page"}, "rules[0].severity", "must be one of critical, warning, info"),
    ({"labels": {"severity": "x"}}, "rules[0].labels.severity", "is set by the router"),
    ({"labels": {"kind": 1}}, "rules[0].labels.kind", "must be a string"),
    ({"labels": ["kind"]}, "rules[0].labels", "must be an object of strings"),
    ({"op": "=>"}, "rules[0].op", "must be one of"),
    ({"value": "median"}, "rules[0].value", "must be one of last, avg, min, max, rate"),
    ({"value": "avg"}, "rules[0].window", "is required for value 'avg'"),
    ({"clearThreshold": 95}, "rules[0].clearThreshold", "must be at most threshold 90"),
    ({"op": "<", "clearThreshold": 85}, "rules[0].clearThreshold", "must be at least threshold 90"),
    ({"op": "==", "clearThreshold": 85}, "rules[0].clearThreshold", "has no meaning with op '=='"),
    ({"for": "5 minutes"}, "rules[0].for", "is not a duration"),
    ({"window": "2d", "value": "max"}, "rules[0].window", "must be at most 86400 seconds"),
    ({"absentFor": "1m"}, "rules[0].threshold", "does not apply to an absence rule"),
    ({"summary": "{nosuch}"}, "rules[0].summary", "unknown placeholder"),
])  # fmt: skip
def test_bad_rules_are_rejected_naming_the_field(fields: dict[str, Any], path: str, reason: str) -> None:
    with pytest.raises(ConfigValueError) as err:
        rule(**fields)
    assert err.value.key == path and reason in err.value.reason


def test_required_fields() -> None:
    for missing in ("name", "metric", "threshold"):
        raw = {k: v for k, v in BASE.items() if k != missing}
        with pytest.raises(ConfigValueError) as err:
            parse_rule("rules[3]", raw)
        assert err.value.key == f"rules[3].{missing}"
    with pytest.raises(ConfigValueError, match=r"^rules\[3\]: must be an object"):
        parse_rule("rules[3]", ["name"])


def test_rule_lists() -> None:
    with pytest.raises(ConfigValueError, match=r"^rules: must be a list of rules"):
        parse_rules("rules", {"HighCpu": BASE})
    with pytest.raises(ConfigValueError) as err:
        parse_rules("rules", [BASE, {**BASE, "threshold": 95}])
    assert err.value.key == "rules[1].name" and "duplicate name 'HighCpu' (also rules[0])" in err.value.reason


def test_the_default_rules_parse_and_use_only_known_fields() -> None:
    rules = parse_rules("rules", DEFAULT_RULES)
    assert len(rules) == len(DEFAULT_RULES) >= 15
    assert all(set(raw) <= set(RULE_FIELDS) for raw in DEFAULT_RULES)
    assert {r.severity for r in rules} == {"critical", "warning"}
