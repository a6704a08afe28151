"""Login: the password, sessions and the per-client limit on failed logins. Pure except `load_password_file`.

Sessions are random 256-bit tokens kept in memory with an expiry (a restart logs everyone out, which
is acceptable for a gateway page). Failed logins are counted per client address: after
`free_failures` the client must wait an exponentially growing delay before trying again (429).
"""

from __future__ import annotations

import hmac
import logging
import os
import secrets
import stat
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

PASSWORD_FILE = "dashboard-password"
MAX_SESSIONS = 1000
MAX_TRACKED_CLIENTS = 10_000
MAX_PASSWORD_BYTES = 1024


def password_matches(expected: str, given: str) -> bool:
    # Constant time, so the comparison does not tell how many leading characters were right.
    return hmac.compare_digest(expected.encode(), given.encode()[:MAX_PASSWORD_BYTES])


class Sessions:
    def __init__(self, ttl_s: float, clock: Callable[[], float], max_sessions: int = MAX_SESSIONS) -> None:
        self.ttl_s = ttl_s
        self._clock = clock
        self._max = max_sessions
        self._expiry: OrderedDict[str, float] = OrderedDict()

    def create(self) -> str:
        self._expire()
        token = secrets.token_urlsafe(32)
        self._expiry[token] = self._clock() + self.ttl_s
        while len(self._expiry) > self._max:
            self._expiry.popitem(last=False)  # the oldest login goes first
        return token

    def valid(self, token: str | None) -> bool:
        if not token or len(token) > 100:
            return False
        expiry = self._expiry.get(token)
        if expiry is None:
            return False
        if self._clock() >= expiry:
            del self._expiry[token]
            return False
        return True

    def drop(self, token: str | None) -> None:
        if token:
            self._expiry.pop(token, None)

    def drop_all(self) -> None:
        """After a password change every session ends."""
        self._expiry.clear()

    def _expire(self) -> None:
        now = self._clock()
        for token in [t for t, e in self._expiry.items() if e <= now]:
            del self._expiry[token]

    def __len__(self) -> int:
        return len(self._expiry)


@dataclass
class _Failures:
    count: int
    blocked_until: float
    last: float


class LoginLimiter:
    """Per-client failed-login counter with exponential lockout: 1 s, 2 s, 4 s, ... up to `max_delay_s`."""

    def __init__(self, clock: Callable[[], float], free_failures: int = 5, max_delay_s: float = 300.0,
                 forget_after_s: float = 3600.0) -> None:  # fmt: skip
        self._clock = clock
        self.free_failures = free_failures
        self.max_delay_s = max_delay_s
        self.forget_after_s = forget_after_s
        self._clients: OrderedDict[str, _Failures] = OrderedDict()

    def retry_after(self, client: str) -> float:
        """Seconds the client must still wait before a login attempt is considered (0: go ahead)."""
        entry = self._clients.get(client)
        if entry is None:
            return 0.0
        now = self._clock()
        if now - entry.last > self.forget_after_s:
            del self._clients[client]
            return 0.0
        return max(0.0, entry.blocked_until - now)

    def failed(self, client: str) -> float:
        """Record a failure; returns the delay now imposed (0 while within the free failures)."""
        now = self._clock()
        entry = self._clients.pop(client, None) or _Failures(0, 0.0, now)
        entry.count += 1
        entry.last = now
        over = entry.count - self.free_failures
        delay = 0.0 if over < 0 else min(self.max_delay_s, 2.0**over)
        entry.blocked_until = now + delay
        self._clients[client] = entry
        while len(self._clients) > MAX_TRACKED_CLIENTS:
            self._clients.popitem(last=False)
        return delay

    def succeeded(self, client: str) -> None:
        self._clients.pop(client, None)


def load_password_file(work_path: Path) -> tuple[str, Path, bool]:
    """The generated password in `<work>/dashboard-password`, created (0600) at first start.

    Returns (password, path, created). The password itself is never logged.
    """
    path = work_path / PASSWORD_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        info = path.stat()
        if info.st_mode & 0o077:
            logger.warning("%s had mode %04o; set to 0600", path, stat.S_IMODE(info.st_mode))
            path.chmod(0o600)
        password = path.read_text(encoding="utf-8").strip()
        if password:
            return password, path, False
        # An empty file (e.g. a crash between create and write): make a new password.
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC, 0o600)
    password = secrets.token_urlsafe(18)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(password + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    return password, path, True
