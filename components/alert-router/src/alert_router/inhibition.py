"""Inhibition: a firing source alert mutes target alerts that share the `equal` labels.

Example: `{"sourceMatchers": ["severity=critical"], "targetMatchers": ["severity=warning"],
"equal": ["alertname", "thing"]}` — a critical alert silences the warning of the same name.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from alert_router.matchers import Matcher, all_match, parse_matchers
from alert_router.model import Alert
from edgewatch_shared.config_values import ConfigValueError, as_str_list

INHIBIT_FIELDS = ("sourceMatchers", "targetMatchers", "equal")


@dataclass(frozen=True)
class InhibitRule:
    source: tuple[Matcher, ...]
    target: tuple[Matcher, ...]
    equal: tuple[str, ...] = ()


def parse_inhibit_rules(path: str, raw: Any) -> tuple[InhibitRule, ...]:
    if not isinstance(raw, list):
        raise ConfigValueError(path, "must be a list of inhibition rules")
    rules = []
    for i, item in enumerate(raw):
        where = f"{path}[{i}]"
        if not isinstance(item, Mapping):
            raise ConfigValueError(where, "must be an object")
        for key in item:
            if key not in INHIBIT_FIELDS:
                raise ConfigValueError(f"{where}.{key}", f"unknown field (known: {', '.join(INHIBIT_FIELDS)})")
        source = parse_matchers(f"{where}.sourceMatchers", item.get("sourceMatchers"))
        target = parse_matchers(f"{where}.targetMatchers", item.get("targetMatchers"))
        if not source or not target:
            raise ConfigValueError(where, "needs both sourceMatchers and targetMatchers")
        rules.append(InhibitRule(source, target, as_str_list(f"{where}.equal", item.get("equal", []))))
    return tuple(rules)


class Inhibitor:
    def __init__(self, rules: Iterable[InhibitRule]) -> None:
        self.rules = tuple(rules)

    def muted(self, alert: Alert, firing: Iterable[Alert]) -> bool:
        return any(self._inhibits(rule, alert, firing) for rule in self.rules if all_match(rule.target, alert.labels))

    @staticmethod
    def _inhibits(rule: InhibitRule, target: Alert, firing: Iterable[Alert]) -> bool:
        return any(
            source.fingerprint != target.fingerprint
            and all_match(rule.source, source.labels)
            and _equal(rule.equal, source.labels, target.labels)
            for source in firing
        )


def _equal(names: tuple[str, ...], a: Mapping[str, str], b: Mapping[str, str]) -> bool:
    return all(a.get(n, "") == b.get(n, "") for n in names)
