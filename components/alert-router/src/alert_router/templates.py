"""Summary/description templates: `{value:.1f}`, `{threshold}`, `{labels.mount}`, `{thing}`, `{rule}`...

Deliberately not `str.format`: an operator-written template must not reach attributes of Python
objects. Unknown placeholders are rejected when the configuration is validated.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from edgewatch_shared.config_values import ConfigValueError

FIELDS = ("value", "threshold", "metric", "thing", "rule", "severity", "window")
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_.]*)(?::([^{}]*))?\}")


@dataclass(frozen=True)
class Template:
    text: str

    def render(self, values: Mapping[str, object], labels: Mapping[str, str]) -> str:
        def substitute(found: re.Match[str]) -> str:
            name, spec = found.group(1), found.group(2) or ""
            if name.startswith("labels."):
                return labels.get(name[len("labels."):], "")
            value = values.get(name)
            if value is None:
                return ""
            try:
                return format(value, spec)
            except (ValueError, TypeError):
                return str(value)

        return _PLACEHOLDER.sub(substitute, self.text)


def parse_template(path: str, raw: object) -> Template:
    if not isinstance(raw, str):
        raise ConfigValueError(path, f"must be a string, got {raw!r}")
    for found in _PLACEHOLDER.finditer(raw):
        name = found.group(1)
        if not (name in FIELDS or name.startswith("labels.")):
            raise ConfigValueError(
                path, f"unknown placeholder {{{name}}} (known: {', '.join(FIELDS)}, labels.<name>)"
            )
        spec = found.group(2)
        if spec:
            try:
                format(1.5, spec)
            except ValueError:
                raise ConfigValueError(path, f"bad format {spec!r} in {{{name}:{spec}}}") from None
    return Template(raw)
