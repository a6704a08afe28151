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
from edgewatch_shared.silence_message import FIELDS as SILENCE_FIELDS
from edgewatch_shared.silence_message import SCHEMA_ID

__all__ = ["SCHEMA_ID", "SILENCE_FIELDS", "Expire", "Silence", "SilenceBook", "SilenceError", "parse_silence_message"]


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


MAX_ID_CHARS = 256
MAX_AUTHOR_CHARS = 256
MAX_COMMENT_CHARS = 4096
MAX_MATCHERS = 64
MAX_EPOCH_MS = 2**53  # beyond any real date; also keeps float conversion exact and finite


def parse_silence_message(doc: Any, now: float) -> Silence | Expire:
    """A create or expire command; raises SilenceError (and only that) naming the field and problem."""
    if not isinstance(doc, Mapping):
        raise SilenceError(f"silence message must be a JSON object, got {type(doc).__name__}")
    if doc.get("schema") != SCHEMA_ID:
        raise SilenceError(f"'schema' must be {SCHEMA_ID!r}, got {_brief(doc.get('schema'))}")
    unknown = sorted(str(k)[:40] for k in set(doc) - set(SILENCE_FIELDS))
    if unknown:
        raise SilenceError(f"unknown field(s) {', '.join(unknown[:5])} (known: {', '.join(SILENCE_FIELDS)})")
    action = doc.get("action", "create")
    if action == "expire":
        return Expire(_id(doc.get("id"), required=True) or "")
    if action != "create":
        raise SilenceError(f"'action' must be create or expire, got {_brief(action)}")
    raw_matchers = doc.get("matchers")
    if isinstance(raw_matchers, list | Mapping) and len(raw_matchers) > MAX_MATCHERS:
        raise SilenceError(f"'matchers' has {len(raw_matchers)} entries; at most {MAX_MATCHERS} are allowed")
    try:
        matchers = parse_matchers("matchers", raw_matchers)
    except ValueError as err:
        raise SilenceError(str(err)) from None
    if not matchers:
        raise SilenceError("'matchers' must not be empty (a silence of everything is refused)")
    for key, limit in (("author", MAX_AUTHOR_CHARS), ("comment", MAX_COMMENT_CHARS)):
        value = doc.get(key)
        if not isinstance(value, str) or not value.strip():
            raise SilenceError(f"'{key}' is required (a non-empty string)")
        if len(value) > limit:
            raise SilenceError(f"'{key}' is longer than {limit} characters")
    if "endsAt" not in doc:
        raise SilenceError("'endsAt' is required")
    starts = _time("startsAt", doc["startsAt"]) if doc.get("startsAt") is not None else now
    ends = _time("endsAt", doc["endsAt"])
    if ends <= starts:
        raise SilenceError("'endsAt' must be after 'startsAt'")
    silence_id = _id(doc.get("id"), required=False)
    if silence_id is None:
        # No id given: derive one from the content, so a re-published message is the same silence.
        content = json.dumps([sorted(str(m) for m in matchers), starts, ends, doc["author"]])
        silence_id = hashlib.sha256(content.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return Silence(silence_id, matchers, starts, ends, doc["author"], doc["comment"])


def _id(value: Any, *, required: bool) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise SilenceError("'id' must be a non-empty string" + (" (required to expire a silence)" if required else ""))
    if len(value) > MAX_ID_CHARS:
        raise SilenceError(f"'id' is longer than {MAX_ID_CHARS} characters")
    return value


def _time(key: str, value: Any) -> float:
    problem = f"'{key}' must be epoch milliseconds or ISO 8601 with a time zone, got {_brief(value)}"
    if isinstance(value, int | float) and not isinstance(value, bool):
        # Compared before any float conversion: a 400-digit integer must not raise OverflowError.
        if not (0 <= value <= MAX_EPOCH_MS):  # also false for NaN, which json.loads accepts
            raise SilenceError(problem)
        return float(value) / 1000.0
    if isinstance(value, str) and len(value) <= 64:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise SilenceError(problem) from None
        if parsed.tzinfo is None:
            raise SilenceError(f"'{key}' needs a time zone (e.g. 'Z'), got {_brief(value)}")
        try:
            return parsed.timestamp()
        except (OverflowError, OSError, ValueError):
            raise SilenceError(problem) from None
    raise SilenceError(problem)


def _brief(value: Any) -> str:
    """A short, safe description of a bad value (never a full repr: it may be huge or deeply nested)."""
    if isinstance(value, str):
        return repr(value[:60]) + ("..." if len(value) > 60 else "")
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, int) and abs(value) > 10**18:
        return "a very large integer"
    if isinstance(value, int | float):
        return repr(value)
    return type(value).__name__


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
