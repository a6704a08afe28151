"""The `edgewatch.silence/1` command document, published on the local topic `edgewatch/silences`
(configurable) to create or expire a silence in the AlertRouter.

    {"schema": "edgewatch.silence/1", "action": "create", "id": "optional-stable-id",
     "matchers": [{"name": "alertname", "op": "=", "value": "HighCpu"}, "thing=gw-01"],
     "endsAt": 1763803600000 | "2025-11-22T10:00:00Z", "startsAt": optional,
     "author": "ana", "comment": "maintenance window"}
    {"schema": "edgewatch.silence/1", "action": "expire", "id": "..."}

Defined once here: producers (the LocalDashboard, operators) build documents with `create` and
`expire`; the AlertRouter parses them (its matcher grammar: `=`, `!=`, `=~`, `!~`, as a string
`name="value"` or an object `{"name", "op", "value"}`). A create with an existing id replaces it.
Times are epoch milliseconds or ISO 8601 with a zone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

SCHEMA_ID = "edgewatch.silence/1"
DEFAULT_TOPIC = "edgewatch/silences"
FIELDS = ("schema", "action", "id", "matchers", "startsAt", "endsAt", "author", "comment")
ACTIONS = ("create", "expire")
MATCHER_OPS = ("=", "!=", "=~", "!~")


def matcher(name: str, value: str, op: str = "=") -> dict[str, str]:
    """One matcher in object form (needs no quoting, whatever the value holds)."""
    return {"name": name, "op": op, "value": value}


def create(
    *, matchers: Sequence[Mapping[str, str] | str], ends_at_ms: int, author: str, comment: str,
    starts_at_ms: int | None = None, silence_id: str | None = None,
) -> dict[str, Any]:
    """A create document; the router checks it in full (matchers, times, non-empty author/comment)."""
    doc: dict[str, Any] = {
        "schema": SCHEMA_ID, "action": "create",
        "matchers": [dict(m) if isinstance(m, Mapping) else m for m in matchers],
        "endsAt": int(ends_at_ms), "author": author, "comment": comment,
    }  # fmt: skip
    if starts_at_ms is not None:
        doc["startsAt"] = int(starts_at_ms)
    if silence_id is not None:
        doc["id"] = silence_id
    return doc


def expire(silence_id: str) -> dict[str, Any]:
    return {"schema": SCHEMA_ID, "action": "expire", "id": silence_id}
