"""Split a batch into JSON payloads that each stay under the IoT Core size limit.

Each payload is the batch header plus a slice of its items, with `part`/`parts` so the cloud side
can tell a split batch from two batches. Items are packed greedily in order; sizes are measured on
the exact encoding that is sent.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from metrics_collector.batching import Batch

logger = logging.getLogger(__name__)

# Room for the largest "part"/"parts" numbers, measured with placeholders of that width.
_PART_PLACEHOLDER = 99_999


def _encode(doc: Any) -> bytes:
    return json.dumps(doc, separators=(",", ":"), allow_nan=False).encode()


def split_batch(batch: Batch, max_bytes: int) -> list[bytes]:
    base = len(
        _encode({**batch.header, "part": _PART_PLACEHOLDER, "parts": _PART_PLACEHOLDER, batch.items_key: []})
    )
    groups: list[list[dict[str, Any]]] = []
    current: list[dict[str, Any]] = []
    size = base
    for item in batch.items:
        item_size = len(_encode(item)) + 1  # +1 for the separating comma
        if base + item_size > max_bytes:
            logger.error("dropping one %s entry of %d bytes: larger than a payload", batch.items_key, item_size)
            continue
        if current and size + item_size > max_bytes:
            groups.append(current)
            current, size = [], base
        current.append(item)
        size += item_size
    if current or not groups:
        groups.append(current)
    return [
        _encode({**batch.header, "part": i, "parts": len(groups), batch.items_key: items})
        for i, items in enumerate(groups, start=1)
    ]
