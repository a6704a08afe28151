"""The configuration at start: the stored one when it is usable, else the last good one, else defaults.

A stored configuration the router cannot use is treated like a rejected update: the reason is
logged, the router runs on the last configuration that was good (kept in `{work:path}` by
`LastGoodConfig`, mode 0600 as it may hold a webhook URL) or on its defaults, and says which in its
log and health, instead of failing until it is BROKEN.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alert_router.config import RouterConfig, parse_config, validity_reason
from edgewatch_shared.private_files import read_json, write_json_atomic

logger = logging.getLogger(__name__)

LAST_GOOD_FILE = "alert-router-last-good-config.json"


class LastGoodConfig:
    def __init__(self, path: Path) -> None:
        self.path = path

    def save(self, raw: Mapping[str, Any] | None) -> None:
        try:
            write_json_atomic(self.path, {"configuration": dict(raw or {})})
        except (OSError, ValueError) as err:  # a full disk costs the fallback, not alerting
            logger.warning("could not save the last good configuration (%s)", type(err).__name__)

    def load(self) -> Mapping[str, Any] | None:
        doc = read_json(self.path, "last good configuration")
        if not isinstance(doc, Mapping) or not isinstance(doc.get("configuration"), Mapping):
            return None
        return doc["configuration"]


@dataclass(frozen=True)
class StartupConfig:
    config: RouterConfig
    source: str  # "stored", "last good" or "default"
    reason: str | None = None  # why the stored configuration was not used

    @property
    def fallback_reason(self) -> str | None:
        if self.source == "stored":
            return None
        return f"running on the {self.source} configuration: the stored one is unusable ({self.reason})"


def startup_config(read: Callable[[], Any], last_good: LastGoodConfig) -> StartupConfig:
    try:
        raw = read()
    except Exception as err:
        reason = f"could not be read: {type(err).__name__}"
    else:
        reason = validity_reason(raw)
        if reason is None:
            last_good.save(raw)
            return StartupConfig(parse_config(raw), "stored")
    previous = last_good.load()
    if previous is not None and validity_reason(previous) is None:
        result = StartupConfig(parse_config(previous), "last good", reason)
    else:
        result = StartupConfig(parse_config(None), "default", reason)
    logger.error("stored configuration not used (%s); running on the %s configuration", reason, result.source)
    return result
