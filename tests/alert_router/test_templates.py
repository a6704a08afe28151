"""alert_router.templates: summary/description templates, directly (rendering and validation)."""

from __future__ import annotations

import pytest
from alert_router.templates import FIELDS, parse_template

from edgewatch_shared.config_values import ConfigValueError

VALUES = {"value": 93.456, "threshold": 90.0, "metric": "disk.percent", "thing": "gw-01", "rule": "DiskAlmostFull",
          "severity": "warning", "window": 0.0}  # fmt: skip
LABELS = {"mount": "/data", "device": "/dev/sda1"}


def render(text: str, values: dict[str, object] | None = None) -> str:
    return parse_template("summary", text).render(VALUES if values is None else values, LABELS)


def test_fields_labels_and_format_specs() -> None:
    assert render("Disk {labels.mount} at {value:.1f}% on {thing}") == "Disk /data at 93.5% on gw-01"
    assert render("{rule} {severity} {metric} > {threshold:g}") == "DiskAlmostFull warning disk.percent > 90"
    assert render("{value:.0%}", {"value": 0.5}) == "50%"


def test_a_missing_label_or_value_renders_empty() -> None:
    assert render("[{labels.nosuch}]") == "[]"
    assert render("[{value}]", {}) == "[]"


def test_a_spec_that_does_not_suit_the_value_falls_back_to_its_text() -> None:
    assert render("{thing:.1f}") == "gw-01"


def test_text_that_is_not_a_placeholder_is_kept() -> None:
    assert render("{} { value } {{thing}}") == "{} { value } {gw-01}"


def test_every_documented_field_is_accepted() -> None:
    for name in FIELDS:
        parse_template("t", f"{{{name}}}")


@pytest.mark.parametrize(("text", "reason"), [
    ("{nosuch}", "unknown placeholder {nosuch}"),
    ("{value.__class__}", "unknown placeholder {value.__class__}"),  # never an attribute of a Python object
    ("{value:.q}", "bad format '.q' in {value:.q}"),
])  # fmt: skip
def test_bad_templates_are_rejected_naming_the_path(text: str, reason: str) -> None:
    with pytest.raises(ConfigValueError) as err:
        parse_template("rules[2].summary", text)
    assert str(err.value).startswith("rules[2].summary: ") and reason in str(err.value)


def test_a_template_must_be_a_string() -> None:
    with pytest.raises(ConfigValueError, match=r"^rules\[0\]\.summary: must be a string"):
        parse_template("rules[0].summary", 5)
