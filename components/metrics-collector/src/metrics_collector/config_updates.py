"""Live configuration: validation answers and the hand-over of accepted configs to the loop.

IPC callbacks run on the client's thread pool, several at once; they only parse and park the new
config here. The sampling loop picks it up at the start of its next tick, so a config change never
races with a tick in progress. An accepted configuration is also handed to `on_accepted` (the
last good configuration file), so the next start can fall back to it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

from edgewatch_shared.config_values import ConfigValueError
from metrics_collector.config import CollectorConfig, parse_config

logger = logging.getLogger(__name__)


class ConfigInbox:
    def __init__(self, on_accepted: Callable[[Mapping[str, Any]], object] | None = None) -> None:
        self._lock = threading.Lock()
        self._pending: CollectorConfig | None = None
        self._on_accepted = on_accepted

    def offer(self, raw: Mapping[str, Any] | None) -> str | None:
        """Park `raw` if valid; returns the rejection reason (naming the key) otherwise."""
        try:
            config = parse_config(raw)
        except ConfigValueError as err:
            logger.error("configuration not applied (running on the previous one): %s", err)
            return str(err)
        with self._lock:
            self._pending = config
            # Under the lock: two updates racing must leave the later one on disk.
            if self._on_accepted is not None and raw is not None:
                self._on_accepted(raw)
        return None

    def take(self) -> CollectorConfig | None:
        with self._lock:
            config, self._pending = self._pending, None
        return config
