"""Label matchers (`=`, `!=`, `=~`, `!~`), the selector vocabulary of rules, routes, inhibitions and silences.

Accepted spellings: a string `name=value`, `name!="value"`, `name=~"regex"`, or an object
`{"name": ..., "op": ..., "value": ...}`. Regexes are anchored, as in Prometheus.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from edgewatch_shared.config_values import ConfigValueError

OPS = ("=", "!=", "=~", "!~")
_STRING_FORM = re.compile(r'^\s*([A-Za-z_][A-Za-z0-9_.]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$')


@dataclass(frozen=True)
class Matcher:
    name: str
    op: str
    value: str
    _regex: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    def matches(self, labels: Mapping[str, str]) -> bool:
        actual = labels.get(self.name, "")  # a missing label matches the empty string, as in Prometheus
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        assert self._regex is not None
        found = self._regex.fullmatch(actual) is not None
        return found if self.op == "=~" else not found

    def __str__(self) -> str:
        return f'{self.name}{self.op}"{self.value}"'

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "op": self.op, "value": self.value}


def make_matcher(path: str, name: str, op: str, value: str) -> Matcher:
    if op not in OPS:
        raise ConfigValueError(path, f"operator must be one of {', '.join(OPS)}, got {op!r}")
    regex = None
    if op in ("=~", "!~"):
        try:
            regex = re.compile(value)
        except re.error as err:
            raise ConfigValueError(path, f"{value!r} is not a valid regular expression: {err}") from None
    return Matcher(name, op, value, regex)


def parse_matcher(path: str, raw: Any) -> Matcher:
    if isinstance(raw, str):
        found = _STRING_FORM.match(raw)
        if not found:
            raise ConfigValueError(path, f'{raw!r} is not a matcher (use e.g. mount="/" or severity=~"warn|crit")')
        name, op, value = found.groups()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        return make_matcher(path, name, op, value)
    if isinstance(raw, Mapping):
        unknown = sorted(set(raw) - {"name", "op", "value"})
        if unknown:
            raise ConfigValueError(f"{path}.{unknown[0]}", "unknown field (known: name, op, value)")
        name, op, value = raw.get("name"), raw.get("op", "="), raw.get("value")
        if not isinstance(name, str) or not name:
            raise ConfigValueError(f"{path}.name", "must be a non-empty string")
        if not isinstance(value, str):
            raise ConfigValueError(f"{path}.value", f"must be a string, got {value!r}")
        return make_matcher(path, name, str(op), value)
    raise ConfigValueError(path, f"must be a matcher string or object, got {raw!r}")


def parse_matchers(path: str, raw: Any) -> tuple[Matcher, ...]:
    """A list of matchers, or an object `{label: value}` as shorthand for equality matchers."""
    if raw is None:
        return ()
    if isinstance(raw, Mapping) and not {"name", "op", "value"} >= set(raw):
        return tuple(make_matcher(f"{path}.{k}", k, "=", _string(f"{path}.{k}", v)) for k, v in raw.items())
    if not isinstance(raw, list | tuple):
        raise ConfigValueError(path, f"must be a list of matchers, got {raw!r}")
    return tuple(parse_matcher(f"{path}[{i}]", item) for i, item in enumerate(raw))


def all_match(matchers: tuple[Matcher, ...], labels: Mapping[str, str]) -> bool:
    return all(m.matches(labels) for m in matchers)


def _string(path: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ConfigValueError(path, f"must be a string, got {value!r}")
    return value
