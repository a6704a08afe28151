"""The edgewatch.metrics/1 message: code and JSON schema agree on a table of documents."""

from __future__ import annotations

import copy
import json
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgewatch_shared import metrics_message
from edgewatch_shared.metrics_message import (
    SCHEMA_ID,
    MessageError,
    Metric,
    MetricsMessage,
    from_json,
    schema_path,
    validation_errors,
)

GOOD: dict[str, Any] = {
    "schema": "edgewatch.metrics/1",
    "thing": "gw-01",
    "ts": 1763800000123,
    "metrics": [{"name": "cpu.percent", "value": 12.5, "unit": "%", "labels": {"cpu": "total"}}],
}


def variant(path: list[Any], value: Any = None, *, delete: bool = False) -> dict[str, Any]:
    doc = copy.deepcopy(GOOD)
    node = doc
    for key in path[:-1]:
        node = node[key]
    if delete:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return doc


CASES: list[tuple[str, Any, bool]] = [
    ("the architecture example", GOOD, True),
    ("unknown extra fields", {**GOOD, "seq": 7, "metrics": [{**GOOD["metrics"][0], "kind": "gauge"}]}, True),
    ("empty labels and metrics", {**GOOD, "metrics": [{"name": "load.1m", "value": 0, "unit": "", "labels": {}}]},
     True),
    ("no metrics at all", {**GOOD, "metrics": []}, True),
    ("integer value", variant(["metrics", 0, "value"], 3), True),
    ("wrong schema id", variant(["schema"], "edgewatch.metrics/2"), False),
    ("missing thing", variant(["thing"], delete=True), False),
    ("empty thing", variant(["thing"], ""), False),
    ("float ts", variant(["ts"], 1.5), False),
    ("negative ts", variant(["ts"], -1), False),
    ("string ts", variant(["ts"], "1763800000123"), False),
    ("metrics not a list", variant(["metrics"], {}), False),
    ("upper-case name", variant(["metrics", 0, "name"], "CPU.Percent"), False),
    ("name with dash", variant(["metrics", 0, "name"], "cpu-percent"), False),
    ("name with empty segment", variant(["metrics", 0, "name"], "cpu..percent"), False),
    ("string value", variant(["metrics", 0, "value"], "12"), False),
    ("boolean value", variant(["metrics", 0, "value"], True), False),
    ("missing unit", variant(["metrics", 0, "unit"], delete=True), False),
    ("missing labels", variant(["metrics", 0, "labels"], delete=True), False),
    ("nested label", variant(["metrics", 0, "labels"], {"cpu": {"id": "0"}}), False),
    ("numeric label", variant(["metrics", 0, "labels"], {"cpu": 0}), False),
    ("not an object", [GOOD], False),
]


@pytest.fixture(scope="module")
def schema_validator() -> jsonschema.protocols.Validator:
    with open(schema_path()) as f:
        schema = json.load(f)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


@pytest.mark.parametrize(("what", "doc", "valid"), CASES, ids=[c[0] for c in CASES])
def test_code_and_schema_agree(schema_validator: Any, what: str, doc: Any, valid: bool) -> None:
    assert schema_validator.is_valid(doc) is valid
    assert (validation_errors(doc) == []) is valid


def test_round_trip_and_unknown_fields_ignored() -> None:
    message = MetricsMessage(
        thing="gw-01", ts=5, metrics=(Metric("net.bytes_sent", 1.5, "B/s", {"interface": "eth0"}),)
    )
    text = message.to_json()
    assert from_json(text) == message
    assert json.loads(text)["schema"] == SCHEMA_ID
    with_extra = json.dumps({**json.loads(text), "future": {"x": 1}})
    assert from_json(with_extra) == message


def test_errors_name_every_bad_field() -> None:
    with pytest.raises(MessageError) as caught:
        from_json(json.dumps({**GOOD, "ts": "soon", "metrics": [{"name": "Bad Name", "value": 1}]}))
    text = str(caught.value)
    assert "'ts'" in text
    assert "metrics[0].name" in text
    assert "metrics[0]: missing required field 'unit'" in text
    with pytest.raises(MessageError, match="not JSON"):
        from_json(b"{nope")


def test_nan_cannot_be_serialised() -> None:
    with pytest.raises(ValueError):
        MetricsMessage(thing="g", ts=1, metrics=(Metric("cpu.percent", float("nan"), "%"),)).to_json()


_SCALARS = (st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
            | st.sampled_from(["cpu.percent", "disk.read_only", "Bad.Name", "cpu.percent\n"]))  # fmt: skip
_METRICS = st.dictionaries(
    st.sampled_from(["name", "value", "unit", "labels", "extra"]),
    _SCALARS | st.dictionaries(st.text(max_size=4), _SCALARS, max_size=3),
    max_size=5,
)


@settings(max_examples=500, deadline=None)
@given(_METRICS)
def test_the_fast_path_accepts_only_what_the_full_check_accepts(item: dict[str, Any]) -> None:
    # The fast check is an optimisation: it may send a valid metric to the full walk, never pass an invalid one.
    if metrics_message._is_valid_plain_metric(item):
        assert metrics_message._metric_problems(item, "m") == []
    assert (metrics_message._metric_errors(item, "m") == []) == (metrics_message._metric_problems(item, "m") == [])


def test_the_fast_path_takes_a_typical_metric() -> None:
    typical = {"name": "cpu.percent", "value": 1.5, "unit": "%", "labels": {"cpu": "0"}}
    assert metrics_message._is_valid_plain_metric(typical)
    assert not metrics_message._is_valid_plain_metric({"name": "cpu.percent", "value": True, "unit": "%", "labels": {}})
