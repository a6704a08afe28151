"""Live configuration of the collector: the shared hand-over (`edgewatch_shared.config_handover`)
with the collector's parser. The sampling loop takes an accepted configuration at the start of its
next tick."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from edgewatch_shared.config_handover import ConfigHandover
from metrics_collector.config import CollectorConfig, parse_config


class ConfigInbox(ConfigHandover[CollectorConfig]):
    def __init__(self, on_accepted: Callable[[Mapping[str, Any]], object] | None = None) -> None:
        super().__init__(parse_config, on_accepted=on_accepted)
