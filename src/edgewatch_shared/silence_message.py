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

import math
from collections.abc import Mapping, Sequence
from typing import Any

SCHEMA_ID = "edgewatch.silence/1"
DEFAULT_TOPIC = "edgewatch/silences"
FIELDS = ("schema", "action", "id", "matchers", "startsAt", "endsAt", "author", "comment")
ACTIONS = ("create", "expire")
MATCHER_OPS = ("=", "!=", "=~", "!~")
MAX_EPOCH_MS = 2**53  # beyond this, JSON consumers lose integer precision


class SilenceMessageError(ValueError):
    """`create`/`expire` got arguments no valid document can be built from; the message names the field."""


def matcher(name: str, value: str, op: str = "=") -> dict[str, str]:
    """One matcher in object form (needs no quoting, whatever the value holds)."""
    return {"name": name, "op": op, "value": value}


def create(
    *, matchers: Sequence[Mapping[str, str] | str], ends_at_ms: int, author: str, comment: str,
    starts_at_ms: int | None = None, silence_id: str | None = None,
) -> dict[str, Any]:
    """A create document; the router checks it in full (matchers, times, non-empty author/comment).

    Raises SilenceMessageError for arguments of the wrong type (the shape is checked here, the meaning
    by the router)."""
    if isinstance(matchers, str | bytes | Mapping) or not isinstance(matchers, Sequence):
        raise SilenceMessageError("matchers: must be a list of matcher objects or strings")
    items: list[dict[str, str] | str] = []
    for i, m in enumerate(matchers):
        if isinstance(m, Mapping) and all(isinstance(k, str) and isinstance(v, str) for k, v in m.items()):
            items.append(dict(m))
        elif isinstance(m, str):
            items.append(m)
        else:
            raise SilenceMessageError(f"matchers[{i}]: must be an object of strings or a string")
    for key, value in (("author", author), ("comment", comment)):
        if not isinstance(value, str):
            raise SilenceMessageError(f"{key}: must be a string")
    doc: dict[str, Any] = {
        "schema": SCHEMA_ID, "action": "create", "matchers": items,
        "endsAt": _epoch_ms("endsAt", ends_at_ms), "author": author, "comment": comment,
    }  # fmt: skip
    if starts_at_ms is not None:
        doc["startsAt"] = _epoch_ms("startsAt", starts_at_ms)
    if silence_id is not None:
        doc["id"] = _silence_id(silence_id)
    return doc


def expire(silence_id: str) -> dict[str, Any]:
    return {"schema": SCHEMA_ID, "action": "expire", "id": _silence_id(silence_id)}


def _epoch_ms(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise SilenceMessageError(f"{key}: must be epoch milliseconds (a finite number)")
    if not 0 <= value < MAX_EPOCH_MS:
        raise SilenceMessageError(f"{key}: must be between 0 and 2**53 epoch milliseconds")
    return int(value)


def _silence_id(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise SilenceMessageError("id: must be a non-empty string")
    return value
