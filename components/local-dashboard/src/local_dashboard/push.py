"""What each WebSocket client is sent, and when: coalesced deltas, bounded queue, resync. Pure.

Once per push interval `ClientFeed.plan` turns what changed since the client's last frame into at
most one frame. Frames wait in a queue bounded in bytes; when a client does not read and the queue
would exceed its bound, the queued frames are dropped and the client's next frame is a full
snapshot (resync), sent only once the queue is empty again. So a slow client costs at most
`limit_bytes` of memory plus one frame in flight.
"""

from __future__ import annotations

import json
from collections import deque
from typing import Any

from local_dashboard.config import RANGES
from local_dashboard.state import DashboardState


def encode(frame: dict[str, Any]) -> str:
    return json.dumps(frame, separators=(",", ":"), allow_nan=False)


class ClientFeed:
    def __init__(self, limit_bytes: int, range_name: str = "5m") -> None:
        self.limit_bytes = limit_bytes
        self.range_name = range_name if range_name in RANGES else "5m"
        self.need_snapshot = True
        self.seq = 0
        self.sent_versions: tuple[int, int, int] = (-1, -1, -1)
        self._queue: deque[str] = deque()
        self.queued_bytes = 0
        self.dropped_frames = 0
        self.resyncs = 0

    def set_range(self, range_name: str) -> bool:
        if range_name not in RANGES:
            return False
        self.range_name = range_name
        self.need_snapshot = True
        return True

    def plan(
        self, state: DashboardState, now_ms: int, *, sending: bool = False, shared: dict[Any, str | None] | None = None
    ) -> str | None:
        """The next frame for this client, or None when there is nothing new (or a resync must wait).

        `shared`: frames already made in this push cycle (same `now_ms`); clients at the same point of
        the journal with the same books to catch up on get the same text, encoded once."""
        if self.need_snapshot:
            if self._queue or sending:
                return None  # a snapshot after whatever is still queued would only overflow again
            return self._snapshot(state, now_ms)
        versions = state.versions()
        changed = (versions[0] != self.sent_versions[0], versions[1] != self.sent_versions[1],
                   versions[2] != self.sent_versions[2])  # fmt: skip
        memo_key = (self.seq, changed)  # a delta does not depend on the client's range
        if shared is not None and memo_key in shared:
            text = shared[memo_key]
        else:
            points = state.store.points_since(self.seq)
            if points is None:  # fell behind the journal: only a snapshot can catch up
                self.resyncs += 1
                self.need_snapshot = True
                return self.plan(state, now_ms, sending=sending)
            text = self._delta(state, now_ms, points, changed)
            if shared is not None:
                shared[memo_key] = text
        self.seq = state.store.seq
        self.sent_versions = versions
        return text

    @staticmethod
    def _delta(state: DashboardState, now_ms: int, points: list[Any], changed: tuple[bool, bool, bool]) -> str | None:
        frame: dict[str, Any] = {"type": "delta", "series": points}
        if changed[0]:
            frame["alerts"] = state.alert_list(now_ms)
        if changed[1]:
            frame["silences"] = state.silences.to_list(now_ms)
        if changed[2]:
            frame["health"] = state.health.to_list(now_ms / 1000)
        if not points and len(frame) == 2:
            return None
        frame["serverTime"] = now_ms
        return encode(frame)

    def _snapshot(self, state: DashboardState, now_ms: int) -> str:
        self.need_snapshot = False
        self.seq = state.store.seq
        self.sent_versions = state.versions()
        return encode(state.snapshot(self.range_name, now_ms))

    def enqueue(self, text: str) -> bool:
        """Queue a frame; on overflow drop everything queued (and this frame) and ask for a resync."""
        size = len(text)  # encode() writes ASCII only (ensure_ascii), so characters are bytes
        if self._queue and self.queued_bytes + size > self.limit_bytes:
            self.dropped_frames += len(self._queue) + 1
            self._queue.clear()
            self.queued_bytes = 0
            self.need_snapshot = True
            self.resyncs += 1
            return False
        # A lone frame larger than the bound (a big snapshot) is still sent: it is the only way to catch up.
        self._queue.append(text)
        self.queued_bytes += size
        return True

    def take(self) -> str | None:
        if not self._queue:
            return None
        text = self._queue.popleft()
        self.queued_bytes -= len(text)
        return text

    def __len__(self) -> int:
        return len(self._queue)
