from __future__ import annotations

import pytest

from edgewatch_shared.config_values import ConfigValueError, as_bool, as_int, as_str_list
from edgewatch_shared.durations import parse_seconds


@pytest.mark.parametrize(("raw", "seconds"), [(5, 5.0), (2.5, 2.5), ("5", 5.0), ("2.5", 2.5), (" 7 ", 7.0)])
def test_durations_from_numbers_floats_and_numeric_strings(raw: object, seconds: float) -> None:
    assert parse_seconds("groupWaitSeconds", raw) == seconds


@pytest.mark.parametrize(
    ("raw", "kwargs", "fragment"),
    [
        (-1, {}, "must not be negative"),
        ("-0.5", {}, "must not be negative"),
        (0, {}, "greater than 0"),
        ("soon", {}, "must be a number"),
        (None, {}, "must be a number"),
        (True, {}, "boolean"),
        ("nan", {}, "finite"),
        (0.01, {"minimum": 0.1}, "at least 0.1"),
        (7200, {"maximum": 3600}, "at most 3600"),
    ],
)
def test_bad_durations_name_the_key(raw: object, kwargs: dict[str, float], fragment: str) -> None:
    with pytest.raises(ConfigValueError) as caught:
        parse_seconds("groupWaitSeconds", raw, **kwargs)
    assert caught.value.key == "groupWaitSeconds"
    assert str(caught.value).startswith("groupWaitSeconds: ")
    assert fragment in caught.value.reason


def test_zero_allowed_when_asked() -> None:
    assert parse_seconds("repeatIntervalSeconds", "0", allow_zero=True) == 0.0


def test_other_value_readers() -> None:
    assert as_int("n", "5") == 5 and as_int("n", 5.0) == 5
    assert as_bool("b", "true") is True and as_bool("b", False) is False
    assert as_str_list("l", ["a", "b"]) == ("a", "b")
    with pytest.raises(ConfigValueError, match="b: must be true or false"):
        as_bool("b", "yes")


@pytest.mark.parametrize(
    ("raw", "seconds"), [("30s", 30.0), ("5m", 300.0), ("1h30m", 5400.0), ("500ms", 0.5), (90, 90.0), ("2.5", 2.5)]
)
def test_duration_strings(raw: object, seconds: float) -> None:
    from edgewatch_shared.durations import parse_duration

    assert parse_duration("rules[0].for", raw) == seconds


@pytest.mark.parametrize("raw", ["5 minutes", "5x", "-5s", None, [1]])
def test_bad_duration_strings_quote_the_value(raw: object) -> None:
    from edgewatch_shared.durations import parse_duration

    with pytest.raises(ConfigValueError) as caught:
        parse_duration("rules[3].for", raw)
    assert str(caught.value).startswith("rules[3].for: ")
    assert "not a duration" in str(caught.value)
    if raw == "5 minutes":
        assert str(caught.value).startswith('rules[3].for: "5 minutes" is not a duration')


def test_readers_answer_for_absurd_values_with_the_key() -> None:
    from edgewatch_shared.config_values import as_number, as_str_list, describe

    with pytest.raises(ConfigValueError, match=r"^n: must be a finite number, got an integer of about 400 digits$"):
        as_number("n", 10**400)
    with pytest.raises(ConfigValueError, match=r"^n: must be a number, got '9999"):
        as_number("n", "9" * 400)
    with pytest.raises(ConfigValueError, match=r"^l\[0\]: must be a string, got a list of 1 item"):
        as_str_list("l", [[1]])
    assert as_int("n", 2**60 + 1) == 2**60 + 1  # exact, not rounded through a float
    assert describe(10**5000) == "an integer of about 5000 digits"
    assert describe("\ud800") == "'\\ud800'"
    assert describe("x" * 1000).endswith("...' (1000 characters)")


def test_document_bounds_name_the_path() -> None:
    from edgewatch_shared.config_values import check_document, json_shape_error

    deep: object = 1
    for _ in range(5000):
        deep = [deep]
    error = json_shape_error({"rules": [{"labels": deep}]})
    assert error is not None and error.key.startswith("rules[0].labels[0][0]") and "deeper than 32" in error.reason
    error = json_shape_error({"a": list(range(200_000))})
    assert error is not None and "more than 100000 values" in error.reason
    assert json_shape_error({"a": [1, {"b": "c"}]}) is None
    with pytest.raises(ConfigValueError, match=r"^configuration: must be an object, got 'x'$"):
        check_document("x")
    assert check_document(None) == {}
