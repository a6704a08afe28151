"""The adapter that sends the status shadow (`status_shadow`): PublishToIoTCore on a short thread.

PublishToIoTCore (QoS 1) may wait for IPC, so it never runs on the router loop: one publish at a
time, on its own thread; while one is under way the loop's next offer is skipped (the document is
offered again at the next check). The outcome goes back to the schedule, which retries a failure
with backoff.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

from alert_router.status_shadow import ShadowSchedule, shadow_topic, shadow_update

logger = logging.getLogger(__name__)


class ShadowPublisher:
    def __init__(
        self, thing: str, publish_iot_core: Callable[[str, bytes], None], schedule: ShadowSchedule,
        clock: Callable[[], float],
    ) -> None:  # fmt: skip
        self.topic = shadow_topic(thing)
        self.schedule = schedule
        self.published = 0
        self.failures = 0
        self._publish = publish_iot_core
        self._clock = clock
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def offer(self, reported: Mapping[str, Any], now: float) -> bool:
        """Publish `reported` if the schedule says so; True when a publish was started."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return False
            if not self.schedule.due(reported, now):
                return False
            doc = dict(reported)
            self._thread = threading.Thread(target=self._send, args=(doc,), name="status-shadow", daemon=True)
            self._thread.start()
            return True

    def _send(self, reported: dict[str, Any]) -> None:
        payload = json.dumps(shadow_update(reported), separators=(",", ":"), allow_nan=False).encode()
        try:
            self._publish(self.topic, payload)
        except Exception as err:  # IoT Core unreachable, not authorised: retried with backoff
            with self._lock:
                self.failures += 1
                delay = self.schedule.failed(self._clock())
            logger.warning("status shadow update on %s failed (%s); retrying in %.0f s", self.topic,
                           type(err).__name__, delay)  # fmt: skip
            return
        with self._lock:
            self.published += 1
            self.schedule.published(reported, self._clock())
        logger.info("status shadow reported on %s: %d firing alert(s)", self.topic,
                    reported.get("firingAlerts", {}).get("total", 0))  # fmt: skip

    def wait(self, timeout: float) -> bool:
        """Wait for a publish under way (at shutdown, and in tests); True once none is."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return thread is None or not thread.is_alive()
