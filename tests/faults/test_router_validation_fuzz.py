"""Fuzz: the AlertRouter's configuration validator and silence parser answer for ANY JSON value.

The validator returns None (accepted) or a reason starting with a path, and never raises; the
silence parser returns a command or raises SilenceError, and nothing else. Documents include huge
integers, NaN/Infinity (json.loads accepts them), deep nesting and wrong types at every known key.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "components" / "alert-router" / "src"))

from alert_router.config import DEFAULTS, parse_config, validity_reason
from alert_router.core import RouterCore
from alert_router.rules import RULE_FIELDS
from alert_router.silences import SILENCE_FIELDS, Expire, Silence, SilenceError, parse_silence_message

INTERNAL = "could not be validated"
ROUTE_FIELDS = ("receiver", "matchers", "groupBy", "groupWait", "groupInterval", "repeatInterval", "sendResolved",
                "continue", "routes")  # fmt: skip

scalars = st.one_of(
    st.none(), st.booleans(),
    st.integers(), st.integers(min_value=10**300, max_value=10**420), st.integers(max_value=-(10**300)),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40), st.sampled_from(["<", ">", "5m", "1h30m", "avg", "rate", "a=~\"(.?){20}x\"", "", "0"]),
)  # fmt: skip
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(st.text(max_size=12), children,
                                                                              max_size=4)),
    max_leaves=25,
)  # fmt: skip


def nest(depth: int, kind: str) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value] if kind == "list" else {"x": value}
    return value


deep = st.builds(nest, st.integers(min_value=0, max_value=6000), st.sampled_from(["list", "dict"]))
values = st.one_of(json_values, deep)
rule = st.dictionaries(st.sampled_from(RULE_FIELDS), values, max_size=8).map(
    lambda d: {"name": "R", "metric": "cpu.percent", "threshold": 1, **d}
)
route = st.dictionaries(st.sampled_from(ROUTE_FIELDS), values, max_size=5).map(lambda d: {"receiver": "default", **d})
config_docs = st.one_of(
    values,
    st.dictionaries(st.sampled_from(sorted(DEFAULTS)), values, max_size=6),
    st.builds(lambda rules: {"rules": rules}, st.lists(rule, max_size=3)),
    st.builds(lambda r: {"route": r}, route),
    st.builds(lambda r: {"route": {"receiver": "default", "routes": [r]}}, route),
    st.builds(lambda x: {"receivers": [{"name": "default", "slack": x}]}, values),
    st.builds(lambda x: {"receivers": [{"name": "default", "slack": {"webhookUrl": "https://h/x", **x}}]},
              st.dictionaries(st.sampled_from(["timeoutSeconds", "minIntervalSeconds", "channel", "apiUrl"]), values)),
    st.builds(lambda x: {"inhibitRules": [x]},
              st.dictionaries(st.sampled_from(["sourceMatchers", "targetMatchers", "equal"]), values, max_size=3)),
)  # fmt: skip
FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(config_docs)
def test_router_validator_answers_for_any_json_value(doc: Any) -> None:
    reason = validity_reason(doc)
    assert reason is None or (isinstance(reason, str) and reason and INTERNAL not in reason), reason
    if reason is None:
        parse_config(doc)  # what is accepted is what runs
    else:
        assert len(reason) <= 600
        assert ":" in reason  # "path: problem"


silence_docs = st.one_of(
    values,
    st.dictionaries(st.sampled_from(SILENCE_FIELDS), values, max_size=8).map(
        lambda d: {"schema": "edgewatch.silence/1", **d}
    ),
    st.dictionaries(st.sampled_from(SILENCE_FIELDS), values, max_size=8).map(
        lambda d: {"schema": "edgewatch.silence/1", "matchers": ["alertname=X"], "author": "a", "comment": "c",
                   "endsAt": 2_000_000_000_000, **d}
    ),
)  # fmt: skip


@FUZZ
@given(silence_docs)
def test_silence_parser_returns_a_command_or_raises_silence_error(doc: Any) -> None:
    try:
        command = parse_silence_message(doc, 1_700_000_000.0)
    except SilenceError as err:
        assert str(err)
        return
    assert isinstance(command, Silence | Expire)


metric_docs = st.one_of(
    values,
    st.builds(lambda m: {"schema": "edgewatch.metrics/1", "thing": "gw", "ts": 1, "metrics": m}, values),
    st.builds(lambda v, labels: {"schema": "edgewatch.metrics/1", "thing": "gw", "ts": 1_700_000_000_000,
                                 "metrics": [{"name": "cpu.percent", "value": v, "unit": "%", "labels": labels}]},
              values, values),
)  # fmt: skip
state_docs = st.one_of(
    values,
    st.builds(lambda a, log: {"version": 1, "alerts": a, "log": log}, values, values),
    st.builds(lambda a: {"version": 1, "log": [], "alerts": [a]},
              st.fixed_dictionaries({"rule": values, "series": values, "labels": values, "startsAt": values})),
    st.builds(lambda a: {"version": 1, "log": [{"key": a, "firing": [a], "timestamp": 1}], "alerts": []}, values),
)  # fmt: skip
CORE_CONFIG = parse_config({"rules": [{"name": "HighCpu", "metric": "cpu.percent", "threshold": 90}]})


@FUZZ
@given(metric_docs)
def test_core_counts_any_metrics_document_and_never_raises(doc: Any) -> None:
    core = RouterCore(CORE_CONFIG, "gw", 1_700_000_000.0)
    core.on_metrics(doc, 1_700_000_000.0)
    core.tick(1_700_000_001.0)
    assert core.stats.messages == 1


@FUZZ
@given(state_docs)
def test_core_starts_from_any_stored_alert_state(doc: Any) -> None:
    core = RouterCore(CORE_CONFIG, "gw", 1_700_000_000.0, restored=doc if isinstance(doc, dict) else None)
    for n in core.tick(1_700_000_400.0):
        n.to_json()
