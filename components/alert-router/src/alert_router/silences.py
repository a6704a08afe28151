"""Silences, created and expired through a local topic (default `edgewatch/silences`).

Message (`edgewatch.silence/1`):
    {"schema": "edgewatch.silence/1", "action": "create", "id": "optional-stable-id",
     "matchers": ["alertname=HighCpu", "thing=gw-01"], "endsAt": 1763803600000 | "2025-11-22T10:00:00Z",
     "startsAt": optional, "author": "ana", "comment": "maintenance window"}
    {"schema": "edgewatch.silence/1", "action": "expire", "id": "..."}
A create with an existing id replaces it (re-publishing is harmless). Times are epoch ms or ISO 8601.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from alert_router.matchers import Matcher, all_match, parse_matchers

SCHEMA_ID = "edgewatch.silence/1"
SILENCE_FIELDS = ("schema", "action", "id", "matchers", "startsAt", "endsAt", "author", "comment")


class SilenceError(ValueError):
    pass


@dataclass(frozen=True)
class Silence:
    id: str
    matchers: tuple[Matcher, ...]
    starts_at: float
    ends_at: float
    author: str
    comment: str

    def active(self, now: float) -> bool:
        return self.starts_at <= now < self.ends_at

    def mutes(self, labels: Mapping[str, str], now: float) -> bool:
        return self.active(now) and all_match(self.matchers, labels)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA_ID, "action": "create", "id": self.id, "matchers": [str(m) for m in self.matchers],
            "startsAt": int(self.starts_at * 1000), "endsAt": int(self.ends_at * 1000), "author": self.author,
            "comment": self.comment,
        }  # fmt: skip


@dataclass(frozen=True)
class Expire:
    id: str


def parse_silence_message(doc: Any, now: float) -> Silence | Expire:
    """A create or expire command; raises SilenceError with every field problem named."""
    if not isinstance(doc, Mapping):
        raise SilenceError(f"silence message must be a JSON object, got {type(doc).__name__}")
    if doc.get("schema") != SCHEMA_ID:
        raise SilenceError(f"'schema' must be {SCHEMA_ID!r}, got {doc.get('schema')!r}")
    unknown = sorted(set(doc) - set(SILENCE_FIELDS))
    if unknown:
        raise SilenceError(f"unknown field(s) {', '.join(unknown)} (known: {', '.join(SILENCE_FIELDS)})")
    action = doc.get("action", "create")
    if action == "expire":
        if not isinstance(doc.get("id"), str) or not doc["id"]:
            raise SilenceError("'id' is required to expire a silence")
        return Expire(doc["id"])
    if action != "create":
        raise SilenceError(f"'action' must be create or expire, got {action!r}")
    try:
        matchers = parse_matchers("matchers", doc.get("matchers"))
    except ValueError as err:
        raise SilenceError(str(err)) from None
    if not matchers:
        raise SilenceError("'matchers' must not be empty (a silence of everything is refused)")
    for key in ("author", "comment"):
        if not isinstance(doc.get(key), str) or not doc[key].strip():
            raise SilenceError(f"'{key}' is required")
    if "endsAt" not in doc:
        raise SilenceError("'endsAt' is required")
    starts = _time("startsAt", doc["startsAt"]) if doc.get("startsAt") is not None else now
    ends = _time("endsAt", doc["endsAt"])
    if ends <= starts:
        raise SilenceError("'endsAt' must be after 'startsAt'")
    silence_id = doc.get("id")
    if silence_id is None:
        # No id given: derive one from the content, so a re-published message is the same silence.
        content = json.dumps([sorted(str(m) for m in matchers), starts, ends, doc["author"]])
        silence_id = hashlib.sha256(content.encode()).hexdigest()[:16]
    elif not isinstance(silence_id, str) or not silence_id:
        raise SilenceError("'id' must be a non-empty string")
    return Silence(silence_id, matchers, starts, ends, doc["author"], doc["comment"])


def _time(key: str, value: Any) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value) / 1000.0
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise SilenceError(f"'{key}' must be epoch milliseconds or ISO 8601, got {value!r}") from None
        if parsed.tzinfo is None:
            raise SilenceError(f"'{key}' needs a time zone (e.g. 'Z'), got {value!r}")
        return parsed.timestamp()
    raise SilenceError(f"'{key}' must be epoch milliseconds or ISO 8601, got {value!r}")


class SilenceBook:
    """The silences in force; every change goes through `save`/`delete` (the persistence seam)."""

    def __init__(
        self,
        silences: Iterable[Silence] = (),
        *,
        save: Callable[[Silence], None] = lambda s: None,
        delete: Callable[[str], None] = lambda i: None,
    ) -> None:
        self._silences = {s.id: s for s in silences}
        self._save = save
        self._delete = delete

    def apply(self, command: Silence | Expire, now: float) -> None:
        if isinstance(command, Expire):
            if self._silences.pop(command.id, None) is not None:
                self._delete(command.id)
            return
        if command.ends_at <= now:
            return  # already over: nothing to keep
        self._silences[command.id] = command
        self._save(command)

    def prune(self, now: float) -> list[str]:
        expired = [sid for sid, s in self._silences.items() if s.ends_at <= now]
        for sid in expired:
            del self._silences[sid]
            self._delete(sid)
        return expired

    def silenced_by(self, labels: Mapping[str, str], now: float) -> list[str]:
        return [s.id for s in self._silences.values() if s.mutes(labels, now)]

    def all(self) -> list[Silence]:
        return list(self._silences.values())
