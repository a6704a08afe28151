"""One Greengrass IPC connection that notices disconnects and reconnects with backoff.

GreengrassCoreIPCClientV2 has no auto-reconnect and its constructor takes no lifecycle handler, so
the connection is built with `awsiot.greengrasscoreipc.connect(lifecycle_handler=...)` and wrapped.
`ensure_connected()` never sleeps: callers run it from their own loop, and it only attempts a
connection once the backoff delay has passed.

A refused SVCUID (AccessDeniedError) is different from a nucleus that is down: it means the nucleus
restarted and started a new copy of this component with a new token, so this process is an orphan.
After `max_access_denied` refusals in a row the connection gives up for good (`gave_up`) and calls
`on_give_up(reason)`; the component then exits non-zero instead of living on beside its successor.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from awsiot import eventstreamrpc, greengrasscoreipc
from awsiot.greengrasscoreipc.clientv2 import GreengrassCoreIPCClientV2

from edgewatch_shared.backoff import Backoff

logger = logging.getLogger(__name__)

# Refusals in a row before giving up; one refusal can be a nucleus still loading its tokens.
MAX_ACCESS_DENIED = 3
# Exit status of a component whose SVCUID the nucleus no longer accepts.
EXIT_ACCESS_DENIED = 3


class _DisconnectWatcher(eventstreamrpc.LifecycleHandler):
    def __init__(self, on_disconnect: Callable[[Exception | None], None]) -> None:
        self._on_disconnect = on_disconnect

    def on_connect(self) -> None:
        logger.info("IPC connected")

    def on_disconnect(self, reason: Exception | None) -> None:
        self._on_disconnect(reason)

    def on_error(self, error: Exception) -> bool:
        logger.warning("IPC connection error: %s", error)
        return True  # close the connection; ensure_connected() builds a fresh one


def connect_client_v2(lifecycle_handler: eventstreamrpc.LifecycleHandler) -> GreengrassCoreIPCClientV2:
    """Connect with the socket path and SVCUID the nucleus put in the environment."""
    return GreengrassCoreIPCClientV2(client=greengrasscoreipc.connect(lifecycle_handler=lifecycle_handler))


ClientFactory = Callable[[eventstreamrpc.LifecycleHandler], GreengrassCoreIPCClientV2]


class IpcClientConnection:
    """A component's side of Greengrass IPC (the runtime's server side is `edgewatch.local.ipc_server`).

    Holds the current client (or None while disconnected) and rebuilds it with backoff.

    `on_connected(client)` runs after every successful (re)connect, which is where a component
    re-opens its subscriptions: streams do not survive a lost connection.
    """

    def __init__(
        self,
        *,
        on_connected: Callable[[GreengrassCoreIPCClientV2], None] | None = None,
        client_factory: ClientFactory = connect_client_v2,
        clock: Callable[[], float] = time.monotonic,
        backoff: Backoff | None = None,
        on_give_up: Callable[[str], None] | None = None,
        max_access_denied: int = MAX_ACCESS_DENIED,
    ) -> None:
        self._on_connected = on_connected
        self._on_give_up = on_give_up
        self._max_access_denied = max_access_denied
        self._denials = 0
        self.gave_up = False
        self._client_factory = client_factory
        self._clock = clock
        self._backoff = backoff or Backoff()
        self._lock = threading.Lock()
        self._client: GreengrassCoreIPCClientV2 | None = None
        self._next_attempt = 0.0
        self.connects = 0
        self.disconnects = 0

    def set_on_give_up(self, callback: Callable[[str], None]) -> None:
        self._on_give_up = callback

    @property
    def client(self) -> GreengrassCoreIPCClientV2 | None:
        with self._lock:
            return self._client

    def ensure_connected(self) -> GreengrassCoreIPCClientV2 | None:
        """The live client, connecting first if allowed by the backoff; None while unavailable."""
        give_up_reason = ""
        with self._lock:
            if self._client is not None:
                return self._client
            now = self._clock()
            if self.gave_up or now < self._next_attempt:
                return None
            try:
                client = self._client_factory(_DisconnectWatcher(self._handle_disconnect))
            except Exception as err:  # any failure to connect is retried; the reason is logged
                self._denials = self._denials + 1 if isinstance(err, eventstreamrpc.AccessDeniedError) else 0
                if self._denials >= self._max_access_denied:
                    self.gave_up = True
                    give_up_reason = f"the nucleus refused this component's SVCUID {self._denials} times in a row"
                else:
                    delay = self._backoff.next_delay()
                    self._next_attempt = now + delay
                    logger.warning("IPC connect failed (%s); retrying in %.1f s", err, delay)
                    return None
            else:
                self._client = client
                self._denials = 0
                self.connects += 1
        if give_up_reason:
            logger.critical("IPC: giving up: %s (a newer copy of this component runs now)", give_up_reason)
            if self._on_give_up is not None:
                self._on_give_up(give_up_reason)
            return None
        if self._on_connected is not None:
            try:
                self._on_connected(client)
            except Exception:
                logger.exception("IPC setup after connect failed; reconnecting")
                self.mark_broken(client)
                return None
        with self._lock:
            self._backoff.reset()
        return client

    def mark_broken(self, client: GreengrassCoreIPCClientV2 | None = None) -> None:
        """Drop the client (e.g. after a call failed with a connection error) so it is rebuilt."""
        with self._lock:
            if self._client is None or (client is not None and client is not self._client):
                return
            broken, self._client = self._client, None
            self._next_attempt = self._clock() + self._backoff.next_delay()
        _close_quietly(broken)

    def _handle_disconnect(self, reason: Exception | None) -> None:
        logger.warning("IPC disconnected: %s", reason)
        with self._lock:
            self.disconnects += 1
            broken, self._client = self._client, None
            self._next_attempt = self._clock() + self._backoff.next_delay()
        if broken is not None:
            # Closing from the event-loop thread would wait on itself; do it on a short thread.
            threading.Thread(target=_close_quietly, args=(broken,), daemon=True).start()

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            _close_quietly(client)


def _close_quietly(client: GreengrassCoreIPCClientV2) -> None:
    try:
        client.close(executor_wait=False)
    except Exception as err:  # already closed or half-dead: nothing left to release
        logger.debug("closing IPC client: %s", err)
