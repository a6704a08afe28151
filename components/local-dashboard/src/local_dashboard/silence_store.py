"""The silences the dashboard knows, kept in `{work:path}/dashboard-silences.json` across restarts.

Written atomically (temp file, fsync, rename; mode 0600) when the list changed; opened defensively: a
file that is not a JSON list of silence documents is moved aside as `*.corrupt-<timestamp>` (kept,
never deleted) and the dashboard starts with none. The AlertRouter keeps its own silences; this file
only lets the page show them (and mark alerts silenced) after a restart.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from edgewatch_shared.private_files import move_aside, write_json_atomic

logger = logging.getLogger(__name__)

FILE_NAME = "dashboard-silences.json"
MAX_FILE_BYTES = 4 * 1024 * 1024


def load(path: Path, now_s: float) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise ValueError(f"larger than {MAX_FILE_BYTES} bytes")
        docs = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(docs, list) or not all(isinstance(d, dict) for d in docs):
            raise ValueError("not a JSON list of objects")
    except (OSError, ValueError, RecursionError) as err:
        moved = move_aside(path, now_s)
        logger.error("silence file %s is unusable (%s); moved aside to %s, starting with no silences",
                     path, str(err)[:200], moved)  # fmt: skip
        return []
    return docs


def save(path: Path, docs: list[dict[str, Any]]) -> None:
    write_json_atomic(path, docs)
