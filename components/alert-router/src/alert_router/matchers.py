"""Label matchers (`=`, `!=`, `=~`, `!~`), the selector vocabulary of rules, routes, inhibitions and silences.

Accepted spellings: a string `name=value`, `name!="value"`, `name=~"regex"`, or an object
`{"name": ..., "op": ..., "value": ...}`. Regexes are anchored, as in Prometheus.

Every regex is compiled with RE2 (google-re2), as Alertmanager does with Go's regexp: matching is
linear in the input, so no pattern (a silence like `(.?){20}(.?){20}x`) can hang the router. RE2 has
no backreferences or lookaround; such a pattern is rejected with the engine's reason.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from edgewatch_shared.config_values import ConfigValueError

try:
    import re2
except ImportError:  # no wheel for this platform (32-bit ARM): regexes are refused, never run on backtracking `re`
    re2 = None

OPS = ("=", "!=", "=~", "!~")
MAX_REGEX_CHARS = 1024  # a matcher value (regex or literal) longer than this is refused
MAX_NAME_CHARS = 256
# Applied only to strings already bounded by MAX_MATCHER_CHARS (this one is Python's re, on our own pattern).
_STRING_FORM = re.compile(r'^\s*([A-Za-z_][A-Za-z0-9_.]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$', re.DOTALL)
MAX_MATCHER_CHARS = MAX_NAME_CHARS + MAX_REGEX_CHARS + 16
RE2_MAX_MEM = 8 << 20  # per compiled program; a pattern needing more is "pattern too large"


def _re2_options() -> Any:
    if re2 is None:
        return None
    options = re2.Options()
    options.log_errors = False  # errors become ConfigValueErrors; RE2 must not write to stderr
    options.max_mem = RE2_MAX_MEM
    return options


_OPTIONS = _re2_options()


def compile_regex(path: str, value: str) -> Any:
    """An RE2 program for `value`, or ConfigValueError naming `path` (length, syntax, encoding)."""
    if len(value) > MAX_REGEX_CHARS:
        raise ConfigValueError(path, f"regex is {len(value)} characters long; at most {MAX_REGEX_CHARS} are allowed")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ConfigValueError(path, "regex is not valid UTF-8 text") from None
    if re2 is None:
        raise ConfigValueError(path, "regex matchers (=~, !~) need the google-re2 package, which is not installed on "
                               "this platform; use = or != matchers")  # fmt: skip
    try:
        return re2.compile(value, options=_OPTIONS)
    except re2.error as err:
        detail = err.args[0].decode("utf-8", "replace") if err.args and isinstance(err.args[0], bytes) else str(err)
        raise ConfigValueError(path, f"{value[:80]!r} is not a valid RE2 regular expression: {detail[:200]}") from None


@dataclass(frozen=True)
class Matcher:
    name: str
    op: str
    value: str
    _regex: Any = field(default=None, compare=False, repr=False)  # an RE2 program for =~ and !~

    def matches(self, labels: Mapping[str, str]) -> bool:
        actual = labels.get(self.name, "")  # a missing label matches the empty string, as in Prometheus
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        assert self._regex is not None
        try:
            found = self._regex.fullmatch(actual) is not None  # anchored, as in Prometheus
        except UnicodeEncodeError:  # a lone surrogate from a JSON escape: not text RE2 can match
            found = False
        return found if self.op == "=~" else not found

    def __str__(self) -> str:
        return f'{self.name}{self.op}"{self.value}"'

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "op": self.op, "value": self.value}


def make_matcher(path: str, name: str, op: str, value: str) -> Matcher:
    if op not in OPS:
        raise ConfigValueError(path, f"operator must be one of {', '.join(OPS)}, got {op[:20]!r}")
    if len(name) > MAX_NAME_CHARS:
        raise ConfigValueError(path, f"label name is longer than {MAX_NAME_CHARS} characters")
    if op in ("=~", "!~"):
        return Matcher(name, op, value, compile_regex(path, value))
    if len(value) > MAX_REGEX_CHARS:
        raise ConfigValueError(path, f"value is {len(value)} characters long; at most {MAX_REGEX_CHARS} are allowed")
    return Matcher(name, op, value)


def parse_matcher(path: str, raw: Any) -> Matcher:
    if isinstance(raw, str):
        if len(raw) > MAX_MATCHER_CHARS:
            raise ConfigValueError(path, f"matcher is {len(raw)} characters long; at most {MAX_MATCHER_CHARS} allowed")
        found = _STRING_FORM.match(raw)
        if not found:
            raise ConfigValueError(path, f'{raw[:80]!r} is not a matcher (use e.g. mount="/" or severity=~"warn|crit")')
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
        if not isinstance(op, str):
            raise ConfigValueError(f"{path}.op", f"must be one of {', '.join(OPS)}, got {type(op).__name__}")
        if not isinstance(value, str):
            raise ConfigValueError(f"{path}.value", f"must be a string, got {type(value).__name__}")
        return make_matcher(path, name, op, value)
    raise ConfigValueError(path, f"must be a matcher string or object, got {type(raw).__name__}")


def parse_matchers(path: str, raw: Any) -> tuple[Matcher, ...]:
    """A list of matchers, or an object `{label: value}` as shorthand for equality matchers."""
    if raw is None:
        return ()
    if isinstance(raw, Mapping) and not {"name", "op", "value"} >= set(raw):
        return tuple(make_matcher(f"{path}.{k}", k, "=", _string(f"{path}.{k}", v)) for k, v in raw.items())
    if not isinstance(raw, list | tuple):
        raise ConfigValueError(path, f"must be a list of matchers, got {type(raw).__name__}")
    return tuple(parse_matcher(f"{path}[{i}]", item) for i, item in enumerate(raw))


def all_match(matchers: tuple[Matcher, ...], labels: Mapping[str, str]) -> bool:
    return all(m.matches(labels) for m in matchers)


def _string(path: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ConfigValueError(path, f"must be a string, got {type(value).__name__}")
    return value
