"""The router's last good configuration file; the start-up choice itself is
`edgewatch_shared.config_lifecycle.choose_config`, as for every component.

Versions before 0.1.1 wrapped the saved configuration as `{"configuration": {...}}`; such a file is
unwrapped once, before it is read, so an upgrade keeps its fallback.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path

from edgewatch_shared.config_lifecycle import MAX_LAST_GOOD_BYTES, LastGoodConfig
from edgewatch_shared.private_files import write_json_atomic

logger = logging.getLogger(__name__)

LAST_GOOD_FILE = "alert-router-last-good-config.json"


def open_last_good(path: Path) -> LastGoodConfig:
    try:
        if path.is_file() and path.stat().st_size <= MAX_LAST_GOOD_BYTES:
            doc = json.loads(path.read_bytes())
            if isinstance(doc, Mapping) and set(doc) == {"configuration"} and isinstance(doc["configuration"], Mapping):
                write_json_atomic(path, dict(doc["configuration"]))
                logger.info("last good configuration %s unwrapped from the old format", path)
    except (OSError, ValueError, RecursionError):
        pass  # LastGoodConfig.load reports (and moves aside) what it cannot read
    return LastGoodConfig(path)
