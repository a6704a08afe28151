"""Fuzz (hypothesis): the collector's configuration validator answers for ANY JSON value, and the
shared parsers never raise anything but their own error type.

- collector `validity_reason`: None or a reason starting with a key path; `parse_config` raises only
  ConfigValueError;
- `edgewatch_shared` readers (numbers, ints, bools, strings, lists, choices, topics, durations):
  only ConfigValueError;
- metric message (`metrics_message.from_dict` / `from_json`): only MessageError;
- health message (`health_message.from_dict` / `from_json`): only HealthMessageError, and what
  `build` makes always parses back;
- silence documents (`silence_message.create` / `expire`): only SilenceMessageError, and the result
  always encodes as JSON;
- the last good configuration file: `load` of any bytes gives a mapping or None.

Values include integers of hundreds of digits, NaN/Infinity (json.loads accepts them), lone
surrogates, deep nesting (to 6,000 levels) and wrong types at every known key.
"""

from __future__ import annotations

import json
import string
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from edgewatch_shared import health_message, metrics_message, silence_message
from edgewatch_shared.config_lifecycle import LastGoodConfig
from edgewatch_shared.config_values import (
    ConfigValueError,
    as_bool,
    as_choice,
    as_int,
    as_number,
    as_str,
    as_str_list,
    check_document,
    json_shape_error,
)
from edgewatch_shared.durations import parse_duration, parse_seconds
from edgewatch_shared.topics import as_topic
from tests.metrics_collector.runtime_helpers import COMPONENT_SRC  # noqa: F401  (puts the collector on the path)

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

SPECIAL = ["5m", "1h30m", "0.1", "1e999", "nan", "edgewatch/#", "a//b", "{iot:thingName}", " 7 ", "9" * 400]
surrogates = st.text(alphabet=st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), max_size=3)
text = st.one_of(st.text(max_size=30), surrogates, st.sampled_from(SPECIAL))
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=10**300, max_value=10**4200),
    st.integers(max_value=-(10**300)), st.floats(allow_nan=True, allow_infinity=True), text,
)  # fmt: skip
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(text, children, max_size=4)),
    max_leaves=25,
)


def nest(depth: int, kind: str) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value] if kind == "list" else {"x": value}
    return value


deep = st.builds(nest, st.integers(min_value=0, max_value=6000), st.sampled_from(["list", "dict"]))
values = st.one_of(json_values, deep)


def collector_keys() -> list[str]:
    from metrics_collector.config import DEFAULTS

    return [*DEFAULTS, "accessControl"]


collector_documents = st.one_of(
    values, st.dictionaries(st.sampled_from(collector_keys()), values, max_size=8), st.none()
)


@FUZZ
@given(collector_documents)
def test_collector_validator_answers_for_any_json_value(doc: Any) -> None:
    from metrics_collector.config import parse_config, validity_reason

    reason = validity_reason(doc)
    assert reason is None or (isinstance(reason, str) and ": " in reason and len(reason) < 2000)
    assert "could not be checked" not in (reason or ""), reason  # the parser itself never crashed
    try:
        parse_config(doc)
    except ConfigValueError as err:
        assert str(err) == reason
    else:
        assert reason is None


@FUZZ
@given(values)
def test_shared_readers_raise_only_config_value_error(value: Any) -> None:
    readers = [
        lambda v: as_number("k", v), lambda v: as_int("k", v, minimum=0, maximum=10**6), lambda v: as_bool("k", v),
        lambda v: as_str("k", v), lambda v: as_str_list("k", v), lambda v: as_choice("k", v, ("a", "b")),
        lambda v: as_topic("k", v), lambda v: parse_seconds("k", v, minimum=0.1, maximum=86400),
        lambda v: parse_duration("k", v), lambda v: check_document(v),
    ]  # fmt: skip
    for read in readers:
        try:
            read(value)
        except ConfigValueError as err:
            assert ": " in str(err) and len(str(err)) < 2000
    assert json_shape_error(value) is None or isinstance(json_shape_error(value), ConfigValueError)


metric_items = st.one_of(
    values,
    st.fixed_dictionaries(
        {}, optional={"name": st.one_of(text, st.sampled_from(["cpu.percent", "a.b_c"])), "value": values,
                      "unit": values, "labels": st.one_of(values, st.dictionaries(text, values, max_size=3))},
    ),
)  # fmt: skip
metric_docs = st.one_of(
    values,
    st.fixed_dictionaries(
        {}, optional={"schema": st.one_of(values, st.just(metrics_message.SCHEMA_ID)), "thing": values,
                      "ts": values, "metrics": st.one_of(values, st.lists(metric_items, max_size=4))},
    ),
)  # fmt: skip


@FUZZ
@given(metric_docs)
@example({"schema": metrics_message.SCHEMA_ID, "thing": "t", "ts": 10**5000, "metrics": [
    {"name": "a", "value": 10**400, "unit": "", "labels": {"k": [[[[1]]]], "\ud800" * 90: 1}}]})  # fmt: skip
def test_metric_message_parser_raises_only_message_error(doc: Any) -> None:
    for parse in (metrics_message.from_dict, lambda d: metrics_message.from_json(_encode(d))):
        try:
            message = parse(doc)
        except metrics_message.MessageError as err:
            assert err.errors and all(isinstance(e, str) and len(e) < 1000 for e in err.errors)
        else:
            assert metrics_message.from_json(message.to_json()) == message


health_docs = st.one_of(
    values,
    st.fixed_dictionaries(
        {}, optional={"schema": st.one_of(values, st.just(health_message.SCHEMA_ID)), "component": values,
                      "thing": values, "ts": values, "intervalSeconds": values,
                      "status": st.one_of(values, st.sampled_from(health_message.STATUSES)),
                      "reasons": st.one_of(values, st.lists(text, max_size=3)),
                      "counters": st.one_of(values, st.dictionaries(text, values, max_size=3))},
    ),
)  # fmt: skip


@FUZZ
@given(health_docs)
@example({"schema": 10**5000, "counters": {"": 10**400}, "intervalSeconds": 10**400, "ts": 10**400})
def test_health_message_parser_raises_only_health_message_error(doc: Any) -> None:
    for parse in (health_message.from_dict, lambda d: health_message.from_json(_encode(d))):
        try:
            message = parse(doc)
        except health_message.HealthMessageError as err:
            assert err.errors and all(isinstance(e, str) and len(e) < 1000 for e in err.errors)
        else:
            assert health_message.from_json(message.to_json()) == message


@FUZZ
@given(
    st.text(alphabet=string.ascii_letters + ".", min_size=1, max_size=40),
    st.lists(st.text(max_size=400), max_size=30),
    st.dictionaries(st.text(max_size=20), st.one_of(st.integers(), st.floats(allow_nan=True)), max_size=120),
    st.floats(min_value=0.001, max_value=86400),
)
def test_what_health_build_makes_always_parses(component: str, reasons: list[str], counters: dict[str, float],
                                                interval: float) -> None:  # fmt: skip
    built = health_message.build(component=component, thing="gw", ts_ms=1, interval_seconds=interval,
                                 reasons=reasons, counters=counters)  # fmt: skip
    assert health_message.from_json(built.to_json()) == built
    assert built.status == ("degraded" if reasons else "healthy")


@FUZZ
@given(
    st.one_of(values, st.lists(st.one_of(text, st.dictionaries(text, text, max_size=3)), max_size=3)),
    values, values, values, st.one_of(st.none(), values), st.one_of(st.none(), values),
)
def test_silence_builder_raises_only_its_own_error(
    matchers: Any, ends_at: Any, author: Any, comment: Any, starts_at: Any, silence_id: Any
) -> None:
    try:
        doc = silence_message.create(matchers=matchers, ends_at_ms=ends_at, author=author, comment=comment,
                                     starts_at_ms=starts_at, silence_id=silence_id)  # fmt: skip
    except silence_message.SilenceMessageError as err:
        assert str(err)
    else:
        assert json.loads(json.dumps(doc, allow_nan=False))["schema"] == silence_message.SCHEMA_ID
    try:
        expired = silence_message.expire(silence_id)
    except silence_message.SilenceMessageError:
        pass
    else:
        assert json.loads(json.dumps(expired))["action"] == "expire"


@pytest.fixture(scope="module")
def last_good_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("last-good")


@FUZZ
@given(data=st.one_of(st.binary(max_size=200), values.map(lambda v: _encode(v).encode("utf-8", "surrogatepass"))))
def test_last_good_load_of_any_bytes_gives_a_mapping_or_none(last_good_dir: Path, data: bytes) -> None:
    path = last_good_dir / "last-good.json"
    path.write_bytes(data)
    loaded = LastGoodConfig(path).load()
    assert loaded is None or isinstance(loaded, dict)
    for moved in last_good_dir.glob("last-good.json.corrupt-*"):
        moved.unlink()


def _encode(doc: Any) -> str:
    """JSON text of `doc` as a sender might produce it (NaN allowed, lone surrogates escaped)."""
    try:
        return json.dumps(doc)
    except (ValueError, RecursionError):  # a huge int or deep nesting json cannot write: send a stand-in
        return "[" * 3000 + "]" * 3000
