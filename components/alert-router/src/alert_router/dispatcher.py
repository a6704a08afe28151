"""Grouping and deduplication: alerts into aggregation groups per route, flushed on Alertmanager's timers.

A group is first flushed `groupWait` after its first alert, then every `groupInterval`. At a flush,
`needs_update(entry, firing, resolved, ...)` compares what would be sent with what was last sent
(the notification log entry) and only then a notification is produced; unchanged news is repeated
after `repeatInterval`. Pure: time is passed in.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from alert_router import notification
from alert_router.inhibition import Inhibitor
from alert_router.model import Alert, AlertState
from alert_router.notification import Notification
from alert_router.routing import Route

logger = logging.getLogger(__name__)

MAX_ALERTS_PER_GROUP = 1000


@dataclass(frozen=True)
class NotifyEntry:
    """What a receiver was last told about a group (Alertmanager's nflog entry)."""

    firing: frozenset[str]
    resolved: frozenset[str]
    timestamp: float


def needs_update(
    entry: NotifyEntry | None, firing: frozenset[str], resolved: frozenset[str], now: float,
    repeat_interval: float, send_resolved: bool,
) -> bool:  # fmt: skip
    if entry is None:
        return bool(firing)  # nothing sent yet: only news of firing alerts is worth a message
    if not firing <= entry.firing:
        return True  # something new is firing
    if not firing:
        # Everything resolved: tell the receiver only if it had heard of firing alerts.
        return bool(entry.firing)
    if send_resolved and not resolved <= entry.resolved:
        return True
    return entry.timestamp + repeat_interval <= now


@dataclass
class _Group:
    route: Route
    key: str
    labels: dict[str, str]
    next_flush: float
    alerts: dict[str, Alert] = field(default_factory=dict)
    entry: NotifyEntry | None = None


@dataclass
class DispatchStats:
    notifications: int = 0
    muted_silenced: int = 0
    muted_inhibited: int = 0
    alerts_dropped: int = 0


class Dispatcher:
    def __init__(
        self, route: Route, inhibitor: Inhibitor, silenced: Callable[[Mapping[str, str], float], list[str]],
        thing: str,
    ) -> None:  # fmt: skip
        self.route = route
        self.inhibitor = inhibitor
        self._silenced = silenced
        self._thing = thing
        self._groups: dict[str, _Group] = {}
        self.stats = DispatchStats()

    def set_route(self, route: Route, inhibitor: Inhibitor, now: float) -> None:
        """Regroup current alerts under a new tree; groups that keep their key keep their log entry."""
        old = self._groups
        self.route, self.inhibitor, self._groups = route, inhibitor, {}
        for group in old.values():
            for alert in group.alerts.values():
                self.add(alert, now)
        for key, group in self._groups.items():
            if key in old:
                group.entry, group.next_flush = old[key].entry, old[key].next_flush

    def add(self, alert: Alert, now: float) -> None:
        for route in self.route.match(alert.labels):
            labels = route.group_labels(alert.labels)
            key = f"{route.id}:{route.receiver}:{json.dumps(sorted(labels.items()), separators=(',', ':'))}"
            group = self._groups.get(key)
            if group is None:
                group = self._groups[key] = _Group(route, key, labels, next_flush=now + route.group_wait)
            if len(group.alerts) >= MAX_ALERTS_PER_GROUP and alert.fingerprint not in group.alerts:
                self.stats.alerts_dropped += 1
                continue
            group.alerts[alert.fingerprint] = alert  # a re-fired alert replaces its resolved predecessor

    def next_flush(self) -> float | None:
        return min((g.next_flush for g in self._groups.values()), default=None)

    def flush(self, now: float, firing: Iterable[Alert]) -> list[Notification]:
        """Flush every group that is due; `firing` is every firing alert (the sources of inhibition)."""
        due = [g for g in self._groups.values() if g.next_flush <= now]
        if not due:
            return []
        sources = list(firing)
        out = []
        for group in due:
            sent = self._flush_group(group, now, sources)
            if sent is not None:
                out.append(sent)
            interval = group.route.group_interval
            group.next_flush = group.next_flush + interval if group.next_flush + interval > now else now + interval
            if not group.alerts:
                del self._groups[group.key]
        self.stats.notifications += len(out)
        return out

    def _flush_group(self, group: _Group, now: float, sources: list[Alert]) -> Notification | None:
        route = group.route
        firing, resolved, muted = [], [], set()
        for alert in group.alerts.values():
            if alert.state is AlertState.RESOLVED:
                resolved.append(alert)
            elif alert.state is AlertState.FIRING:
                if self._muted(alert, now, sources):
                    muted.add(alert.fingerprint)
                else:
                    firing.append(alert)
        firing_ids = frozenset(a.fingerprint for a in firing)
        resolved_ids = frozenset(a.fingerprint for a in resolved)
        # Resolved alerts are reported (at most) once; then they leave the group.
        for alert in resolved:
            del group.alerts[alert.fingerprint]
        if not firing_ids and not resolved_ids:
            return None  # everything muted (Alertmanager's mute stage ends the flush): the log stays as it was
        if not needs_update(group.entry, firing_ids, resolved_ids, now, route.repeat_interval, route.send_resolved):
            return None
        repeat = group.entry is not None and firing_ids == group.entry.firing
        # An announced alert that is only muted now is still known to the receiver: when the mute lifts
        # (an inhibition that toggles) it is not news again.
        still_known = frozenset(muted & group.entry.firing) if group.entry is not None else frozenset()
        group.entry = NotifyEntry(firing_ids | still_known, resolved_ids, now)
        alerts = firing + (resolved if route.send_resolved else [])
        if not alerts:
            return None  # all resolved but the route does not send resolved: the log is updated, no message
        return notification.build(
            route.receiver, group.key, group.labels, self._thing, [a.snapshot() for a in alerts], now, repeat
        )

    def _muted(self, alert: Alert, now: float, sources: list[Alert]) -> bool:
        if self._silenced(alert.labels, now):
            self.stats.muted_silenced += 1
            return True
        if self.inhibitor.rules and self.inhibitor.muted(alert, sources):
            self.stats.muted_inhibited += 1
            return True
        return False

    def groups(self) -> list[tuple[str, list[Alert]]]:
        return [(g.key, list(g.alerts.values())) for g in self._groups.values()]

    # -- what survives a restart (the router persists it; see evaluator.export_firing)
    def export_log(self) -> list[dict[str, object]]:
        """What each group's receiver was last told about firing alerts (the nflog entries)."""
        return [
            {"key": g.key, "firing": sorted(g.entry.firing), "timestamp": g.entry.timestamp}
            for g in sorted(self._groups.values(), key=lambda g: g.key) if g.entry is not None and g.entry.firing
        ]  # fmt: skip

    def restore_log(self, entries: Iterable[Mapping[str, object]]) -> int:
        """Put back the entries of groups that exist again (same key); returns how many were restored."""
        restored = 0
        for entry in entries:
            group = self._groups.get(str(entry.get("key")))
            firing, timestamp = entry.get("firing"), entry.get("timestamp")
            if group is None or not isinstance(firing, list) or not isinstance(timestamp, int | float):
                continue
            group.entry = NotifyEntry(frozenset(str(f) for f in firing), frozenset(), float(timestamp))
            restored += 1
        return restored
