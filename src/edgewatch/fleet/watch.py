"""The watch loop and its wiring: transport -> Inbox -> FleetTable -> JSON lines or the rich table."""

from __future__ import annotations

import argparse
import contextlib
import fnmatch
import json
import logging
import time
from collections.abc import Callable
from typing import IO, Any, Protocol

from edgewatch.fleet.inbox import Inbox
from edgewatch.fleet.model import ALERTS_FILTER, METRICS_FILTER, PRESENCE_FILTERS, Event, FleetTable

log = logging.getLogger(__name__)

TICK_S = 0.5


class Sink(Protocol):
    def events(self, events: list[Event]) -> None: ...
    def refresh(self, table: FleetTable, now: float) -> None: ...


STALE_EVENTS = ("device_stale", "device_seen")  # --stale: going stale and coming back (first: false)


class JsonLines:
    """One compact JSON object per line, flushed per batch of events so a pipe sees them at once.

    `group` keeps only events about matching things (events about the connection always pass);
    `stale_only` keeps only devices going stale and coming back.
    """

    def __init__(self, stream: IO[str], group: str | None = None, stale_only: bool = False) -> None:
        self._stream, self._group, self._stale_only = stream, group, stale_only

    def _wanted(self, event: Event) -> bool:
        thing = event.get("thing")
        if thing is None:
            return not self._stale_only or event["event"] in ("connected", "disconnected", "subscribed")
        if self._group is not None and not fnmatch.fnmatchcase(thing, self._group):
            return False
        return not self._stale_only or (event["event"] in STALE_EVENTS and event.get("first") is not True)

    def events(self, events: list[Event]) -> None:
        wanted = [e for e in events if self._wanted(e)]
        if wanted:
            self._stream.write("".join(json.dumps(e, separators=(",", ":")) + "\n" for e in wanted))
            self._stream.flush()

    def refresh(self, table: FleetTable, now: float) -> None:
        pass


class Watcher:
    """Drains the inbox into the table; the sink sees every event and a periodic refresh."""

    def __init__(self, table: FleetTable, inbox: Inbox, sink: Sink, clock: Callable[[], float] = time.time,
                 refresh_s: float = 1.0) -> None:
        self.table, self.inbox, self.sink, self.clock, self.refresh_s = table, inbox, sink, clock, refresh_s
        self.messages = 0
        self._next_tick = 0.0
        self._next_refresh = 0.0

    def step(self, timeout: float = TICK_S) -> None:
        item = self.inbox.get(timeout)
        if item is not None:
            topic, payload, received = item
            self.messages += 1
            self.sink.events(self.table.ingest(topic, payload, received))
        now = self.clock()
        if now >= self._next_tick:
            self._next_tick = now + TICK_S
            self.sink.events(self.table.tick(now))
        if now >= self._next_refresh:
            self._next_refresh = now + self.refresh_s
            self.sink.refresh(self.table, now)

    def emit(self, kind: str, **fields: Any) -> None:
        self.sink.events([{"event": kind, "ts": self.clock(), **fields}])


def resolve_endpoint(args: argparse.Namespace, default_port: int) -> Any:
    from edgewatch.fleet.transport import Endpoint

    if args.endpoint:
        return Endpoint.parse(args.endpoint, default_port)
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    from edgewatch.local.commands import CommandError

    try:
        session = boto3.Session(profile_name=args.profile, region_name=args.region)
        address = session.client("iot").describe_endpoint(endpointType="iot:Data-ATS")["endpointAddress"]
    except (BotoCoreError, ClientError) as err:
        raise CommandError(f"DescribeEndpoint iot:Data-ATS failed ({err}); pass --endpoint or fix the credentials "
                           "and region") from err
    log.info("IoT data endpoint from DescribeEndpoint: %s", address)
    return Endpoint(address, default_port)


def start_transport(args: argparse.Namespace, inbox: Inbox) -> Any:
    from edgewatch.fleet.transport import (
        FleetSubscriber,
        boto_credentials_provider,
        default_client_id,
        sigv4_signer,
        unsigned,
    )
    from edgewatch.local.commands import CommandError

    if (args.cert is None) != (args.key is None):
        raise CommandError("--cert and --key go together (mutual TLS); leave both out for WebSocket + SigV4")
    filters = [METRICS_FILTER, ALERTS_FILTER, *(PRESENCE_FILTERS if args.presence else ())]
    subscriber = FleetSubscriber(args.client_id or default_client_id(), filters,
                                 lambda topic, payload: inbox.put(topic, payload, time.time()))
    try:
        if args.cert is not None:
            subscriber.start_mtls(resolve_endpoint(args, 8883), args.cert, args.key, args.ca)
        else:
            endpoint = resolve_endpoint(args, 443)
            if args.no_sign:
                signer = unsigned
            else:
                import boto3

                session = boto3.Session(profile_name=args.profile, region_name=args.region)
                region = args.region or session.region_name
                if not region:
                    raise CommandError("no AWS region for SigV4: pass --region or set one in the profile")
                signer = sigv4_signer(region, boto_credentials_provider(session))
            subscriber.start_websocket(endpoint, signer, args.ca)
    except CommandError:
        raise
    except Exception as err:
        raise CommandError(f"fleet watch: cannot start the MQTT client: {err}") from err
    return subscriber


def watch_from_args(args: argparse.Namespace) -> int:
    import sys

    from edgewatch.local.commands import CommandError

    if args.max_devices < 1 or args.rows < 1:
        raise CommandError("--max-devices and --rows must be at least 1")
    table = FleetTable(args.max_devices, args.interval)
    inbox = Inbox()
    sink: Any
    if args.json:
        sink = JsonLines(sys.stdout, args.group, args.stale)
    else:
        from edgewatch.fleet.view import LiveTable

        sink = LiveTable(args.sort, args.group, args.stale, args.rows)
    watcher = Watcher(table, inbox, sink)
    subscriber = start_transport(args, inbox)
    deadline = None if args.duration is None else time.monotonic() + args.duration
    connections = disconnections = 0
    subscribed = False
    try:
        with sink if hasattr(sink, "__enter__") else contextlib.nullcontext():
            while deadline is None or time.monotonic() < deadline:
                watcher.step()
                # Counters, not the flag: a disconnect and reconnect between two steps is still reported.
                while disconnections < subscriber.disconnections:
                    disconnections += 1
                    watcher.emit("disconnected", clientId=subscriber.client_id, count=disconnections)
                while connections < subscriber.connections:
                    connections += 1
                    watcher.emit("connected", clientId=subscriber.client_id, count=connections)
                if subscriber.subscribed.is_set() and not subscribed:
                    subscribed = True
                    watcher.emit("subscribed", filters=list(subscriber.filters), error=subscriber.last_error)
    finally:
        subscriber.stop()
        inbox.close()
    return 0

