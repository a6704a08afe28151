"""alert_router.matchers: the label-matcher vocabulary, directly (spellings, semantics, errors).

RE2 behaviour under hostile patterns is in tests/faults/test_router_regex.py.
"""

from __future__ import annotations

import pytest
from alert_router.matchers import MAX_REGEX_CHARS, all_match, make_matcher, parse_matcher, parse_matchers

from edgewatch_shared.config_values import ConfigValueError


@pytest.mark.parametrize(("raw", "expected"), [
    ('mount="/"', ("mount", "=", "/")),
    ("severity=critical", ("severity", "=", "critical")),
    ("  cpu != 'total' ", ("cpu", "!=", "total")),
    ('alertname=~"Disk.*"', ("alertname", "=~", "Disk.*")),
    ('mode!~"idle|steal"', ("mode", "!~", "idle|steal")),
    ('kind=""', ("kind", "=", "")),
    ({"name": "mount", "op": "=~", "value": "/data.*"}, ("mount", "=~", "/data.*")),
    ({"name": "mount", "value": "/"}, ("mount", "=", "/")),
])  # fmt: skip
def test_every_spelling_parses(raw: object, expected: tuple[str, str, str]) -> None:
    m = parse_matcher("m", raw)
    assert (m.name, m.op, m.value) == expected
    assert m.to_dict() == dict(zip(("name", "op", "value"), expected, strict=True))


def test_semantics_of_the_four_operators() -> None:
    labels = {"mount": "/data", "cpu": "total"}
    assert make_matcher("m", "mount", "=", "/data").matches(labels)
    assert not make_matcher("m", "mount", "!=", "/data").matches(labels)
    assert make_matcher("m", "mount", "=~", "/d.*").matches(labels)
    assert not make_matcher("m", "mount", "=~", "/d").matches(labels)  # anchored: the whole value
    assert make_matcher("m", "mount", "!~", "/boot.*").matches(labels)


def test_a_missing_label_is_the_empty_string() -> None:
    assert make_matcher("m", "mode", "=", "").matches({})
    assert make_matcher("m", "mode", "!=", "iowait").matches({})
    assert not make_matcher("m", "mode", "=~", ".+").matches({})


def test_all_match_needs_every_matcher_and_none_is_everything() -> None:
    both = parse_matchers("m", ['cpu="total"', 'mode="iowait"'])
    assert all_match(both, {"cpu": "total", "mode": "iowait"})
    assert not all_match(both, {"cpu": "0", "mode": "iowait"})
    assert all_match((), {"anything": "x"})


def test_object_shorthand_and_none() -> None:
    shorthand = parse_matchers("m", {"cpu": "total", "mode": "iowait"})
    assert [str(m) for m in shorthand] == ['cpu="total"', 'mode="iowait"']
    assert parse_matchers("m", None) == ()


@pytest.mark.parametrize(("raw", "path", "reason"), [
    ("mount", "route.matchers[0]", "is not a matcher"),
    ({"name": "", "value": "x"}, "route.matchers[0].name", "must be a non-empty string"),
    ({"name": "a", "op": "==", "value": "x"}, "route.matchers[0]", "operator must be one of"),
    ({"name": "a", "value": 1}, "route.matchers[0].value", "must be a string"),
    ({"name": "a", "value": "x", "regex": True}, "route.matchers[0].regex", "unknown field"),
    (42, "route.matchers[0]", "must be a matcher string or object"),
    ('a=~"("', "route.matchers[0]", "is not a valid RE2 regular expression"),
    ("a=" + "x" * (MAX_REGEX_CHARS + 1), "route.matchers[0]", "characters long"),
])  # fmt: skip
def test_bad_matchers_are_rejected_naming_the_path(raw: object, path: str, reason: str) -> None:
    with pytest.raises(ConfigValueError) as err:
        parse_matchers("route.matchers", [raw])
    assert err.value.key == path and reason in err.value.reason


def test_a_matcher_list_must_be_a_list() -> None:
    with pytest.raises(ConfigValueError, match=r"^rules\[0\]\.matchers: must be a list of matchers"):
        parse_matchers("rules[0].matchers", 'cpu="total"')
    with pytest.raises(ConfigValueError, match=r"^m\.cpu: must be a string"):
        parse_matchers("m", {"cpu": 1})
