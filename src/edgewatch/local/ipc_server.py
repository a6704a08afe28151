"""Greengrass IPC server (event stream RPC over a Unix socket) with nucleus semantics.

One asyncio protocol instance per client connection. Requests are handled synchronously on the
event loop (operations that wait, like a bridged QoS 1 publish, return an awaitable). Each
connection's outbound queue is bounded in bytes: stream events beyond the bound are dropped and
counted, so a stuck subscriber cannot grow the server's memory; responses are never dropped.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import inspect
import json
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from edgewatch.local.access_control import AccessControl, UnauthorizedError
from edgewatch.local.eventstream import MAX_FRAME_LEN, Decoder, FrameError, Message
from edgewatch.local.ipc_errors import (
    InvalidArgumentsError,
    IpcError,
    ServiceError,
    UnauthorizedIpcError,
    not_supported,
)
from edgewatch.local.ipc_protocol import (
    CONNECTION_ACCEPTED,
    MESSAGE_FLAGS,
    MESSAGE_TYPE,
    NAMESPACE,
    OPERATION,
    PROTOCOL_VERSION,
    STREAM_ID,
    TERMINATE_STREAM,
    VERSION,
    MessageType,
    control_frame,
    dumps,
    stream_frame,
    terminate_frame,
)

log = logging.getLogger(__name__)

DEFAULT_MAX_PENDING_BYTES = 8 * 1024 * 1024
REJECTED_CLOSE_AFTER_S = 5.0
# Before CONNECT is accepted a peer is anonymous: it gets small limits and little time. The CONNECT
# message (version header + {"authToken": ...}) is well under 1 KiB.
UNAUTHENTICATED_MAX_FRAME = 64 * 1024
UNAUTHENTICATED_MAX_PENDING_BYTES = 64 * 1024
DEFAULT_CONNECT_TIMEOUT_S = 10.0
MAX_PING_PAYLOAD = 4 * 1024  # clients ping with an empty payload; echoing more only serves abuse
# Above this many bytes waiting to be written to a peer, stop reading from it until it reads.
WRITE_HIGH_WATER = 1024 * 1024


@dataclass(slots=True)
class Principal:
    """A component as the IPC server knows it: its name, its SVCUID and its accessControl."""

    name: str
    svcuid: str
    access: AccessControl

    def authorize(self, service: str, operation: str, resource: str) -> None:
        try:
            self.access.check(self.name, service, NAMESPACE + operation, resource)
        except UnauthorizedError as exc:
            raise UnauthorizedIpcError(str(exc)) from None


@dataclass(slots=True)
class Stream:
    """One RPC stream (continuation); subscriptions hold it to send events."""

    connection: IpcConnection
    stream_id: int
    operation: str
    principal: Principal
    event_model: str = ""
    closed: bool = False
    on_close: list[Callable[[], None]] = field(default_factory=list)

    def send_event(self, payload: dict[str, Any] | bytes) -> bool:
        """Queue an event; False when it was dropped (stream closed or queue full)."""
        if self.closed:
            return False
        body = payload if isinstance(payload, bytes) else dumps(payload)
        return self.connection.send_event(stream_frame(self.stream_id, self.event_model, body))

    def close_from_server(self) -> None:
        """Terminate the stream from the server's side (the client sees the stream closed)."""
        if not self.closed:
            self.connection.write(terminate_frame(self.stream_id))
            self.connection.close_stream(self.stream_id)

    def _closed(self) -> None:
        self.closed = True
        for callback in self.on_close:
            try:
                callback()
            except Exception:
                log.exception("cleanup of %s stream %d failed", self.operation, self.stream_id)
        self.on_close.clear()


Handler = Callable[[Stream, dict[str, Any]], "dict[str, Any] | Awaitable[dict[str, Any]]"]


@dataclass(frozen=True, slots=True)
class Operation:
    handler: Handler
    event_model: str = ""  # set for streaming operations


@dataclass(slots=True)
class ServerStats:
    connections: int = 0
    rejected_connections: int = 0
    protocol_errors: int = 0
    requests: int = 0
    events_sent: int = 0
    events_dropped: int = 0
    pings_dropped: int = 0
    connect_timeouts: int = 0


class IpcConnection(asyncio.Protocol):
    def __init__(self, server: IpcServer) -> None:
        self.server = server
        self.decoder = Decoder(max_frame_len=UNAUTHENTICATED_MAX_FRAME)
        self.transport: asyncio.Transport | None = None
        self.principal: Principal | None = None
        self.rejected = False
        self.streams: dict[int, Stream] = {}
        self.max_stream_id = 0
        self.dropped = 0
        self._close_timer: asyncio.TimerHandle | None = None
        self._connect_timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Future[None]] = set()

    # -- asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.transport.set_write_buffer_limits(high=WRITE_HIGH_WATER)  # type: ignore[union-attr]
        self.server.connections.add(self)
        self._connect_timer = asyncio.get_running_loop().call_later(
            self.server.connect_timeout_s, self._connect_timed_out)

    def pause_writing(self) -> None:
        # The peer does not read what we send: stop reading its requests (backpressure) so replies
        # cannot pile up without bound; events are dropped by send_event's own bound meanwhile.
        if self.transport is not None and not self.transport.is_closing():
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()

    def data_received(self, data: bytes) -> None:
        try:
            for message in self.decoder.feed(data):
                self._handle(message)
                if self.transport is None or self.transport.is_closing():
                    return
        except FrameError as exc:
            self._protocol_error(f"bad frame: {exc}")

    def connection_lost(self, exc: Exception | None) -> None:
        for timer in (self._close_timer, self._connect_timer):
            if timer is not None:
                timer.cancel()
        for stream_id in list(self.streams):
            self.close_stream(stream_id)
        self.server.connections.discard(self)
        if self.principal is not None:
            log.debug("component %s disconnected", self.principal.name)
        self.transport = None

    # -- output
    def write(self, frame: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(frame)

    def send_event(self, frame: bytes) -> bool:
        transport = self.transport
        if transport is None or transport.is_closing():
            return False
        if transport.get_write_buffer_size() + len(frame) > self.server.max_pending_bytes:
            self.dropped += 1
            self.server.stats.events_dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.warning(
                    "%s is not reading its IPC socket: dropped %d event(s) so far (queue bound %d bytes)",
                    self.principal.name if self.principal else "client",
                    self.dropped,
                    self.server.max_pending_bytes,
                )
            return False
        transport.write(frame)
        self.server.stats.events_sent += 1
        return True

    def close_stream(self, stream_id: int) -> None:
        stream = self.streams.pop(stream_id, None)
        if stream is not None:
            stream._closed()

    def _protocol_error(self, reason: str) -> None:
        self.server.stats.protocol_errors += 1
        log.warning("closing IPC connection of %s: %s", self._who(), reason)
        self.write(control_frame(MessageType.PROTOCOL_ERROR, payload=dumps({"message": reason})))
        if self.transport is not None:
            self.transport.close()

    def _who(self) -> str:
        return self.principal.name if self.principal else "an unauthenticated client"

    # -- input
    def _handle(self, message: Message) -> None:
        message_type = message.get(MESSAGE_TYPE)
        flags = message.get(MESSAGE_FLAGS)
        stream_id = message.get(STREAM_ID)
        if message_type is None or flags is None or stream_id is None:
            self._protocol_error("missing :message-type, :message-flags or :stream-id")
            return
        if message_type == MessageType.PING:
            self._pong(message.payload)
            return
        if message_type == MessageType.PING_RESPONSE:
            return
        if self.principal is None:
            if message_type == MessageType.CONNECT and not self.rejected:
                self._connect(message)
            elif not self.rejected:
                self._protocol_error("the first message must be CONNECT")
            return
        if message_type == MessageType.CONNECT:
            self._protocol_error("CONNECT sent twice")
            return
        if message_type != MessageType.APPLICATION_MESSAGE or stream_id <= 0:
            self._protocol_error(f"unexpected message type {message_type} on stream {stream_id}")
            return
        stream = self.streams.get(stream_id)
        if stream is not None:
            if flags & TERMINATE_STREAM:
                self.close_stream(stream_id)
            return  # no operation here takes client events on an open stream
        if stream_id <= self.max_stream_id:
            return  # a late message on a stream that is already closed
        self.max_stream_id = stream_id
        self._request(stream_id, message)

    def _pong(self, payload: bytes) -> None:
        if len(payload) > MAX_PING_PAYLOAD:
            self._protocol_error(f"PING payload of {len(payload)} bytes exceeds {MAX_PING_PAYLOAD}")
            return
        frame = control_frame(MessageType.PING_RESPONSE, payload=payload)
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        # PING answers share the bounded outbound queue: a peer that pings without reading gets none.
        if transport.get_write_buffer_size() + len(frame) > self._pending_bound():
            self.server.stats.pings_dropped += 1
            return
        transport.write(frame)

    def _pending_bound(self) -> int:
        if self.principal is None:
            return min(UNAUTHENTICATED_MAX_PENDING_BYTES, self.server.max_pending_bytes)
        return self.server.max_pending_bytes

    def _connect_timed_out(self) -> None:
        self._connect_timer = None
        if self.principal is None and self.transport is not None and not self.transport.is_closing():
            self.server.stats.connect_timeouts += 1
            log.info("closing an IPC connection that did not authenticate within %g s", self.server.connect_timeout_s)
            self.transport.close()

    def _connect(self, message: Message) -> None:
        if message.get(VERSION) != PROTOCOL_VERSION:
            self._protocol_error(f"unsupported :version {message.get(VERSION)!r}")
            return
        try:
            token = json.loads(message.payload or b"{}").get("authToken")
        except (ValueError, AttributeError):
            token = None
        principal = self.server.principals_by_token.get(token) if isinstance(token, str) else None
        if principal is None:
            self.rejected = True
            self.server.stats.rejected_connections += 1
            log.warning("rejected an IPC connection with an unknown SVCUID")
            # The client closes on a rejecting ack and raises AccessDeniedError; closing first would
            # make it report a bare socket error. Close ourselves only if it never does.
            self.write(control_frame(MessageType.CONNECT_ACK, flags=0))
            self._close_timer = asyncio.get_running_loop().call_later(
                REJECTED_CLOSE_AFTER_S, self._close_if_open
            )
            return
        self.principal = principal
        if self._connect_timer is not None:
            self._connect_timer.cancel()
            self._connect_timer = None
        self.decoder.max_frame_len = self.server.max_frame_len
        self.server.stats.connections += 1
        log.debug("component %s connected", principal.name)
        self.write(control_frame(MessageType.CONNECT_ACK, flags=CONNECTION_ACCEPTED))

    def _close_if_open(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def _request(self, stream_id: int, message: Message) -> None:
        assert self.principal is not None
        self.server.stats.requests += 1
        full_name = message.get(OPERATION) or ""
        name = full_name.removeprefix(NAMESPACE)
        operation = self.server.operations.get(name)
        stream = Stream(self, stream_id, name, self.principal, operation.event_model if operation else "")
        self.streams[stream_id] = stream
        try:
            if operation is None:
                raise not_supported(name or "<none>")
            try:
                request = json.loads(message.payload) if message.payload else {}
            except ValueError as exc:
                raise InvalidArgumentsError(f"request payload is not JSON: {exc}") from None
            except RecursionError:
                raise InvalidArgumentsError("request payload is nested too deeply") from None
            if not isinstance(request, dict):
                raise InvalidArgumentsError("request payload must be a JSON object")
            result = operation.handler(stream, request)
        except IpcError as exc:
            self._reply_error(stream, exc)
            return
        except Exception as exc:
            log.exception("%s failed for %s", name, self.principal.name)
            self._reply_error(stream, ServiceError(f"{name} failed: {exc}"))
            return
        if inspect.isawaitable(result):
            task = asyncio.ensure_future(self._finish_async(stream, result))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        else:
            self._reply(stream, result)

    async def _finish_async(self, stream: Stream, pending: Awaitable[dict[str, Any]]) -> None:
        try:
            result = await pending
        except IpcError as exc:
            self._reply_error(stream, exc)
            return
        except Exception as exc:
            log.exception("%s failed for %s", stream.operation, stream.principal.name)
            self._reply_error(stream, ServiceError(f"{stream.operation} failed: {exc}"))
            return
        self._reply(stream, result)

    def _reply(self, stream: Stream, payload: dict[str, Any]) -> None:
        streaming = bool(stream.event_model)
        model = f"{NAMESPACE}{stream.operation}Response"
        body = b"{}" if not payload else dumps(payload)
        self.write(stream_frame(stream.stream_id, model, body, terminate=not streaming))
        if not streaming:
            self.close_stream(stream.stream_id)

    def _reply_error(self, stream: Stream, error: IpcError) -> None:
        frame = stream_frame(
            stream.stream_id,
            error.model,
            dumps(error.payload()),
            message_type=MessageType.APPLICATION_ERROR,
            terminate=True,
        )
        self.write(frame)
        self.close_stream(stream.stream_id)


class IpcServer:
    """Serves Greengrass IPC on a Unix socket for a set of known components (principals)."""

    def __init__(self, socket_path: str, *, max_pending_bytes: int = DEFAULT_MAX_PENDING_BYTES,
                 connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S, max_frame_len: int = MAX_FRAME_LEN) -> None:
        if len(os.fsencode(socket_path)) >= 108:
            raise ValueError(f"Unix socket path is {len(socket_path)} bytes, over the 107-byte limit: {socket_path}")
        self.socket_path = socket_path
        self.max_pending_bytes = max_pending_bytes
        self.connect_timeout_s = connect_timeout_s
        self.max_frame_len = max_frame_len
        self.principals_by_token: dict[str, Principal] = {}
        self.operations: dict[str, Operation] = {}
        self.connections: set[IpcConnection] = set()
        self.stats = ServerStats()
        self._server: asyncio.AbstractServer | None = None

    def add_principal(self, principal: Principal) -> None:
        for token, existing in list(self.principals_by_token.items()):
            if existing.name == principal.name:
                del self.principals_by_token[token]
        self.principals_by_token[principal.svcuid] = principal

    def remove_principal(self, name: str) -> None:
        """Forget a component: its token stops working and its connections are closed."""
        for token, existing in list(self.principals_by_token.items()):
            if existing.name == name:
                del self.principals_by_token[token]
        for connection in list(self.connections):
            if connection.principal is not None and connection.principal.name == name and connection.transport:
                connection.transport.close()

    def register(self, name: str, handler: Handler, event_model: str = "") -> None:
        self.operations[name] = Operation(handler, event_model)

    async def start(self) -> None:
        if os.path.exists(self.socket_path):
            os.unlink(self.socket_path)
        loop = asyncio.get_running_loop()
        self._server = await loop.create_unix_server(lambda: IpcConnection(self), self.socket_path)
        # The socket is the component's credential boundary together with the SVCUID.
        os.chmod(self.socket_path, 0o600)
        log.info("Greengrass IPC listening on %s", self.socket_path)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for connection in list(self.connections):
            if connection.transport is not None:
                connection.transport.close()
        if os.path.exists(self.socket_path):
            os.unlink(self.socket_path)


def b64decode_field(request: dict[str, Any], key: str) -> bytes:
    value = request.get(key)
    if value is None:
        return b""
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, TypeError) as exc:
        raise InvalidArgumentsError(f"{key} is not valid base64: {exc}") from None


def b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode()
