"""The hand-over of a live configuration from the IPC threads to a component's own loop.

IPC callbacks run on the client's thread pool, several at once; they only read, parse and park the
new configuration here. The loop takes it at its next step, so a configuration change never races
with work in progress, and an update that arrives before the loop exists simply waits for it.

    updates = ConfigHandover(parse_config, on_accepted=last_good.save)
    ipc.watch_configuration(on_changed=lambda: updates.offer_from(ipc.get_configuration), ...)
    ...
    new = updates.take()          # in the loop: the latest accepted configuration, or None

A rejected configuration is logged with its reason (which names the key) and leaves nothing
parked: the previous configuration stays in force. An accepted one is also handed to
`on_accepted` (the last good configuration file), so the next start can fall back to it.
`on_offered` runs after a configuration is parked, e.g. to wake a loop that waits for messages.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

from edgewatch_shared.config_values import ConfigValueError

logger = logging.getLogger(__name__)

ConfigT = TypeVar("ConfigT")
MAX_REASON_CHARS = 500  # a reason may quote a value: bounded in the log


class ConfigHandover(Generic[ConfigT]):
    def __init__(
        self, parse: Callable[[Mapping[str, Any] | None], ConfigT], *,
        on_accepted: Callable[[Mapping[str, Any]], object] | None = None,
        on_offered: Callable[[], None] | None = None,
    ) -> None:  # fmt: skip
        self._parse = parse
        self._on_accepted = on_accepted
        self._on_offered = on_offered
        self._lock = threading.Lock()
        self._pending: ConfigT | None = None

    def set_on_offered(self, callback: Callable[[], None] | None) -> None:
        self._on_offered = callback

    def offer(self, raw: Mapping[str, Any] | None) -> str | None:
        """Park `raw` if valid; returns the rejection reason (naming the key) otherwise."""
        try:
            config = self._parse(raw)
        except ConfigValueError as err:
            reason = _bounded(str(err))
            logger.error("configuration not applied, the previous one stays in force: %s", reason)
            return reason
        except Exception as err:  # a parser bug still rejects, loudly, and never stops the IPC thread
            logger.exception("configuration could not be validated; the previous one stays in force")
            return f"(configuration): could not be validated ({type(err).__name__}); rejected"
        with self._lock:
            self._pending = config
            # Under the lock: two updates racing must leave the later one on disk.
            if self._on_accepted is not None and raw is not None:
                self._on_accepted(raw)
        if self._on_offered is not None:
            self._on_offered()
        return None

    def offer_from(self, read: Callable[[], Mapping[str, Any] | None]) -> str | None:
        """Read the configuration (GetConfiguration) and offer it; a failed read is logged, not raised."""
        try:
            raw = read()
        except Exception as err:
            logger.warning("could not read the configuration: %s", type(err).__name__)
            return f"(configuration): could not be read ({type(err).__name__})"
        return self.offer(raw)

    def take(self) -> ConfigT | None:
        """The latest accepted configuration not taken yet, or None."""
        with self._lock:
            config, self._pending = self._pending, None
        return config


def _bounded(text: str) -> str:
    return text if len(text) <= MAX_REASON_CHARS else text[: MAX_REASON_CHARS - 3] + "..."
