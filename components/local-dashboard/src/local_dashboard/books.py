"""What the dashboard knows besides metrics: alerts (from the router's notifications), silences (from
`edgewatch/silences`, whoever published them) and component health. Pure: time is passed in.

Each book has a `version` that grows on every change, so the push logic sends a list only when it changed.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

from edgewatch_shared import health_message, silence_message

ALERTS_SCHEMA = "edgewatch.alerts/1"
MAX_ALERTS = 500
MAX_RESOLVED = 50
RESOLVED_KEEP_MS = 3600 * 1000
MAX_SILENCES = 1000
EXPIRED_KEEP_MS = 3600 * 1000
MAX_COMPONENTS = 50
MAX_MATCHERS = 20
MAX_TEXT = 1000
MAX_REGEX = 256  # matcher regexes are bounded and run in linear time (RE2)


class InputError(ValueError):
    """A document or request is unusable; the message says what and where."""


def _text(value: Any, limit: int = MAX_TEXT) -> str:
    return value[:limit] if isinstance(value, str) else ""


def _ms(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return int(value)


def _labels(value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        return {}
    return {str(k)[:200]: _text(v, 500) for k, v in list(value.items())[:64] if isinstance(v, str)}


# -- matchers
@lru_cache(maxsize=256)
def _regex(pattern: str) -> Any:
    # RE2 (linear time) is imported on first use: most gateways never hold a regex silence (~3 MiB saved).
    import re2

    return re2.compile(pattern)


@dataclass(frozen=True)
class Matcher:
    name: str
    op: str
    value: str

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "op": self.op, "value": self.value}

    def matches(self, labels: Mapping[str, str]) -> bool:
        actual = labels.get(self.name, "")
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        found = _regex(self.value).fullmatch(actual) is not None
        return found if self.op == "=~" else not found


def parse_matcher(path: str, raw: Any) -> Matcher:
    if isinstance(raw, str):
        for op in ("=~", "!~", "!=", "="):
            name, sep, value = raw.partition(op)
            if sep and name.strip():
                value = value.strip()
                if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
                    value = value[1:-1]
                return _checked(path, name.strip(), op, value)
        raise InputError(f'{path}: {raw[:100]!r} is not a matcher (use e.g. alertname="HighCpu")')
    if not isinstance(raw, Mapping):
        raise InputError(f"{path}: must be an object {{name, op, value}}")
    name, op, value = raw.get("name"), raw.get("op", "="), raw.get("value")
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        raise InputError(f"{path}.name: must be a non-empty string of at most 200 characters")
    if not isinstance(value, str) or len(value) > MAX_TEXT:
        raise InputError(f"{path}.value: must be a string of at most {MAX_TEXT} characters")
    if op not in silence_message.MATCHER_OPS:
        raise InputError(f"{path}.op: must be one of {', '.join(silence_message.MATCHER_OPS)}")
    return _checked(path, name.strip(), str(op), value)


def _checked(path: str, name: str, op: str, value: str) -> Matcher:
    if op in ("=~", "!~"):
        if len(value) > MAX_REGEX:
            raise InputError(f"{path}.value: a regex must be at most {MAX_REGEX} characters")
        try:
            _regex(value)
        except Exception:
            raise InputError(f"{path}.value: {value[:100]!r} is not a valid regular expression") from None
    return Matcher(name, op, value)


def parse_matchers(path: str, raw: Any) -> tuple[Matcher, ...]:
    if not isinstance(raw, list) or not raw:
        raise InputError(f"{path}: must be a non-empty list of matchers (a silence of everything is refused)")
    if len(raw) > MAX_MATCHERS:
        raise InputError(f"{path}: at most {MAX_MATCHERS} matchers")
    return tuple(parse_matcher(f"{path}[{i}]", m) for i, m in enumerate(raw))


# -- silences
@dataclass
class Silence:
    id: str
    matchers: tuple[Matcher, ...]
    starts_at: int
    ends_at: int
    author: str
    comment: str

    def state(self, now_ms: int) -> str:
        if now_ms >= self.ends_at:
            return "expired"
        return "pending" if now_ms < self.starts_at else "active"

    def mutes(self, labels: Mapping[str, str], now_ms: int) -> bool:
        return self.state(now_ms) == "active" and all(m.matches(labels) for m in self.matchers)

    def to_document(self) -> dict[str, Any]:
        """The edgewatch.silence/1 create document that recreates it."""
        return silence_message.create(matchers=[m.to_dict() for m in self.matchers], starts_at_ms=self.starts_at,
                                      ends_at_ms=self.ends_at, author=self.author, comment=self.comment,
                                      silence_id=self.id)  # fmt: skip

    def to_dict(self, now_ms: int) -> dict[str, Any]:
        return {"id": self.id, "matchers": [m.to_dict() for m in self.matchers], "startsAt": self.starts_at,
                "endsAt": self.ends_at, "author": self.author, "comment": self.comment,
                "state": self.state(now_ms)}  # fmt: skip


def _time_ms(path: str, value: Any) -> int:
    ms = _ms(value)
    if ms is not None:
        return ms
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is not None:
            return int(parsed.timestamp() * 1000)
    raise InputError(f"{path}: must be epoch milliseconds or ISO 8601 with a zone")


class SilenceBook:
    def __init__(self) -> None:
        self._silences: OrderedDict[str, Silence] = OrderedDict()
        self.version = 0
        self._last_states: tuple[str, ...] = ()

    def apply(self, doc: Any, now_ms: int) -> Silence | None:
        """A create or expire document (ours or anyone's); raises InputError naming the problem."""
        if not isinstance(doc, Mapping) or doc.get("schema") != silence_message.SCHEMA_ID:
            raise InputError(f"silence message: 'schema' must be {silence_message.SCHEMA_ID!r}")
        silence_id = doc.get("id")
        if doc.get("action", "create") == "expire":
            if not isinstance(silence_id, str) or silence_id not in self._silences:
                return None  # one we never saw: nothing to show
            silence = self._silences[silence_id]
            silence.ends_at = min(silence.ends_at, now_ms)
            self.version += 1
            return silence
        if doc.get("action", "create") != "create":
            raise InputError("silence message: 'action' must be create or expire")
        if not isinstance(silence_id, str) or not silence_id or len(silence_id) > 200:
            # The router derives an id we cannot reproduce here; such a silence cannot be expired from the page.
            silence_id = "ext-" + str(abs(hash(repr(sorted(doc.items(), key=str)))))[:16]
        silence = Silence(
            id=silence_id, matchers=parse_matchers("matchers", doc.get("matchers")),
            starts_at=_time_ms("startsAt", doc["startsAt"]) if "startsAt" in doc else now_ms,
            ends_at=_time_ms("endsAt", doc.get("endsAt")), author=_text(doc.get("author"), 200),
            comment=_text(doc.get("comment")),
        )  # fmt: skip
        self._silences[silence.id] = silence
        self._silences.move_to_end(silence.id)
        self.version += 1
        self._trim(now_ms)
        return silence

    def get(self, silence_id: str) -> Silence | None:
        return self._silences.get(silence_id)

    def _trim(self, now_ms: int) -> None:
        for sid in [s.id for s in self._silences.values() if now_ms - s.ends_at > EXPIRED_KEEP_MS]:
            del self._silences[sid]
        while len(self._silences) > MAX_SILENCES:
            self._silences.popitem(last=False)

    def tick(self, now_ms: int) -> None:
        """States change with time alone (pending -> active -> expired): bump the version when they do."""
        self._trim(now_ms)
        states = tuple(f"{s.id}:{s.state(now_ms)}" for s in self._silences.values())
        if states != self._last_states:
            self._last_states = states
            self.version += 1

    def mutes(self, labels: Mapping[str, str], now_ms: int) -> bool:
        return any(s.mutes(labels, now_ms) for s in self._silences.values())

    def to_list(self, now_ms: int) -> list[dict[str, Any]]:
        return [s.to_dict(now_ms) for s in reversed(self._silences.values())]

    def to_documents(self) -> list[dict[str, Any]]:
        return [s.to_document() for s in self._silences.values()]


def silence_request(body: Any, now_ms: int, silence_id: str) -> dict[str, Any]:
    """The edgewatch.silence/1 create document for a POST /api/v1/silences body; raises InputError."""
    if not isinstance(body, Mapping):
        raise InputError("body: must be a JSON object")
    unknown = sorted(set(body) - {"matchers", "durationSeconds", "author", "comment", "startsAt"})
    if unknown:
        raise InputError(f"{unknown[0]}: unknown field (known: matchers, durationSeconds, author, comment)")
    matchers = parse_matchers("matchers", body.get("matchers"))
    duration = body.get("durationSeconds")
    if isinstance(duration, bool) or not isinstance(duration, int | float) or not 60 <= duration <= 30 * 86400:
        raise InputError("durationSeconds: must be a number of seconds between 60 and 2592000 (30 days)")
    for key in ("author", "comment"):
        value = body.get(key)
        if not isinstance(value, str) or not value.strip() or len(value) > (200 if key == "author" else MAX_TEXT):
            raise InputError(f"{key}: must be a non-empty string")
    return silence_message.create(
        matchers=[m.to_dict() for m in matchers], starts_at_ms=now_ms, ends_at_ms=now_ms + int(duration * 1000),
        author=body["author"].strip(), comment=body["comment"].strip(), silence_id=silence_id,
    )  # fmt: skip


# -- alerts
@dataclass
class AlertView:
    id: str
    labels: dict[str, str]
    state: str
    value: float | None
    summary: str
    starts_at: int
    ends_at: int | None
    seen_ms: int

    def to_dict(self, silenced: bool) -> dict[str, Any]:
        return {"id": self.id, "alertname": self.labels.get("alertname", ""), "state": self.state,
                "severity": self.labels.get("severity", ""), "labels": dict(self.labels), "value": self.value,
                "summary": self.summary, "startsAt": self.starts_at, "endsAt": self.ends_at,
                "silenced": silenced}  # fmt: skip


class AlertBook:
    def __init__(self) -> None:
        self._alerts: OrderedDict[str, AlertView] = OrderedDict()
        self.version = 0

    def apply(self, doc: Any, now_ms: int) -> int:
        """An edgewatch.alerts/1 notification; returns how many alerts it updated. Raises InputError."""
        if not isinstance(doc, Mapping) or doc.get("schema") != ALERTS_SCHEMA:
            raise InputError(f"alerts message: 'schema' must be {ALERTS_SCHEMA!r}")
        alerts = doc.get("alerts")
        if not isinstance(alerts, list):
            raise InputError("alerts message: 'alerts' must be a list")
        updated = 0
        for i, raw in enumerate(alerts[:MAX_ALERTS]):
            if not isinstance(raw, Mapping) or not isinstance(raw.get("fingerprint"), str):
                raise InputError(f"alerts message: alerts[{i}] needs a 'fingerprint'")
            state = raw.get("status")
            if state not in ("firing", "pending", "resolved"):
                raise InputError(f"alerts message: alerts[{i}].status must be firing, pending or resolved")
            value = raw.get("value")
            annotations = raw.get("annotations") if isinstance(raw.get("annotations"), Mapping) else {}
            view = AlertView(
                id=raw["fingerprint"][:100], labels=_labels(raw.get("labels")), state=state,
                value=float(value) if _ms(value) is not None else None, summary=_text(annotations.get("summary")),
                starts_at=_ms(raw.get("startsAt")) or now_ms, ends_at=_ms(raw.get("endsAt")), seen_ms=now_ms,
            )  # fmt: skip
            self._alerts[view.id] = view
            self._alerts.move_to_end(view.id)
            updated += 1
        if updated:
            self.version += 1
            self._trim(now_ms)
        return updated

    def _trim(self, now_ms: int) -> None:
        resolved = [a for a in self._alerts.values() if a.state == "resolved"]
        stale = {a.id for a in resolved if now_ms - (a.ends_at or a.seen_ms) > RESOLVED_KEEP_MS}
        stale.update(a.id for a in resolved[: max(0, len(resolved) - MAX_RESOLVED)])
        for alert_id in stale:
            del self._alerts[alert_id]
        while len(self._alerts) > MAX_ALERTS:
            self._alerts.popitem(last=False)

    def to_list(self, silences: SilenceBook, now_ms: int) -> list[dict[str, Any]]:
        order = {"firing": 0, "pending": 1, "resolved": 2}
        views = sorted(self._alerts.values(), key=lambda a: (order[a.state], -a.starts_at))
        return [a.to_dict(a.state != "resolved" and silences.mutes(a.labels, now_ms)) for a in views]


# -- health
@dataclass
class _Health:
    message: health_message.HealthMessage
    received_s: float


@dataclass
class HealthBook:
    _components: dict[str, _Health] = field(default_factory=dict)
    version: int = 0
    _last: tuple[str, ...] = ()

    def apply(self, doc: Any, now_s: float) -> None:
        try:
            message = health_message.from_dict(doc)
        except health_message.HealthMessageError as err:
            raise InputError(f"health message: {err}"[:500]) from None
        if message.component not in self._components and len(self._components) >= MAX_COMPONENTS:
            raise InputError(f"health message: more than {MAX_COMPONENTS} components")
        self._components[message.component] = _Health(message, now_s)
        self.version += 1

    def tick(self, now_s: float) -> None:
        statuses = tuple(f"{n}:{self._status(h, now_s)}" for n, h in self._components.items())
        if statuses != self._last:
            self._last = statuses
            self.version += 1

    @staticmethod
    def _status(entry: _Health, now_s: float) -> str:
        if health_message.is_silent(entry.message, entry.received_s, now_s):
            return "silent"
        return entry.message.status

    def to_list(self, now_s: float) -> list[dict[str, Any]]:
        return [{"component": name, "status": self._status(h, now_s), "reasons": list(h.message.reasons),
                 "ts": h.message.ts, "counters": dict(h.message.counters)}
                for name, h in sorted(self._components.items())]  # fmt: skip
