"""A fleet-shaped Mosquitto for tests: per-thing client certificates and an ACL that mirrors the IoT policy.

API (import it; issue 13 part 2 uses it for the end-to-end test):

    broker = start_fleet_broker(folder, things=("dev-1", "dev-2"), readers=("hub-1", "operator"))
    broker.port                  # MQTT over mutual TLS on 127.0.0.1 (host name "localhost" matches the cert)
    broker.ws_port               # WebSocket over TLS (wss://localhost:<ws_port>/mqtt), see below
    broker.ca / broker.cert(name) / broker.key(name)   # PEM paths; name is any thing or reader
    broker.client_args(name)     # mosquitto_pub/_sub arguments for that identity
    broker.restart()             # stop and start again on the same ports; sessions and queued QoS1 survive
    broker.stop()                # also stops the WebSocket listener; idempotent
    broker.log()                 # Mosquitto's log so far (for assertion messages)

Identity: the certificate CN is the thing name and Mosquitto uses it as the user name
(use_identity_as_username), as IoT Core's policy variables `iot:Connection.Thing.ThingName` do.

ACL (mirrors deployment/policies/core-device-iot-policy*.json and fleet-watch-policy.json):
- every identity may publish only under its own `dt/edgewatch/<cn>/#` and read `cmd/<cn>/#`;
- readers (the hub and the operator) may also read `dt/edgewatch/+/metrics`, `dt/edgewatch/+/alerts`
  and `$aws/events/presence/connected|disconnected/+` (edgewatch.cloud.policies.fleet_topic_filters).
  A publish elsewhere is refused (MQTT5 PUBACK "not authorized").

WebSocket: Debian's mosquitto 2.0.11 is built without libwebsockets, so a `protocol websockets`
listener cannot start. The fixture fronts the broker with a small WebSocket-over-TLS listener
(aiohttp, sub-protocol "mqtt", path /mqtt) that pipes each connection's binary frames to the
broker's TLS port as the `ws_identity` reader (IoT Core maps a SigV4 identity to its IAM policy the
same way). It does not check SigV4 (nor does Mosquitto); `ws_requests` records each request's path
and query, `ws_headers` its headers, so a test can assert (and verify the signature of) what the client sent.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import socket
import ssl
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import WSMsgType, web

from edgewatch.cloud.policies import fleet_topic_filters
from edgewatch_testkit.mosquitto import free_port, make_certificates, mosquitto_binary

READ_TOPICS = tuple(fleet_topic_filters())  # the same filters the hub and fleet-watch policies grant


def acl_text(readers: tuple[str, ...]) -> str:
    lines = ["# every identity: its own topics only (the IoT policy's ${iot:Connection.Thing.ThingName})",
             "pattern write dt/edgewatch/%u/#", "pattern read cmd/%u/#", ""]
    for reader in readers:
        lines += [f"user {reader}", *(f"topic read {topic}" for topic in READ_TOPICS), ""]
    return "\n".join(lines)


class _WebSocketFront:
    """wss://localhost:<port>/mqtt -> the broker's TLS port with a reader's certificate."""

    def __init__(self, port: int, server_ssl: ssl.SSLContext, client_ssl: ssl.SSLContext, broker_port: int) -> None:
        self.port, self._server_ssl, self._client_ssl, self._broker_port = port, server_ssl, client_ssl, broker_port
        self.requests: list[str] = []
        self.headers: list[dict[str, str]] = []
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, name="wss-front", daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(15)

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_get("/mqtt", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port, ssl_context=self._server_ssl).start()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(request.path_qs)
        self.headers.append(dict(request.headers))
        ws = web.WebSocketResponse(protocols=("mqtt",))
        await ws.prepare(request)
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", self._broker_port, ssl=self._client_ssl,
                                                           server_hostname="localhost")
        except OSError:
            await ws.close()
            return ws

        async def upstream() -> None:
            async for message in ws:
                if message.type != WSMsgType.BINARY:
                    break
                writer.write(message.data)
                await writer.drain()
            writer.close()

        async def downstream() -> None:
            while data := await reader.read(65536):
                await ws.send_bytes(data)
            await ws.close()

        tasks = [asyncio.ensure_future(upstream()), asyncio.ensure_future(downstream())]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            task.cancel()
        writer.close()
        await ws.close()
        return ws

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(15)
            self._runner = None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


@dataclass
class FleetBroker:
    folder: Path
    things: tuple[str, ...]
    readers: tuple[str, ...]
    port: int
    ws_port: int
    ws_identity: str
    process: subprocess.Popen[bytes] | None = None
    _front: _WebSocketFront | None = field(default=None, repr=False)

    @property
    def ca(self) -> Path:
        return self.folder / "ca.pem"

    def cert(self, name: str) -> Path:
        return self.folder / f"{name}.pem"

    def key(self, name: str) -> Path:
        return self.folder / f"{name}.key"

    @property
    def ws_requests(self) -> list[str]:
        return self._front.requests if self._front else []

    @property
    def ws_headers(self) -> list[dict[str, str]]:
        return self._front.headers if self._front else []

    def client_args(self, name: str | None) -> list[str]:
        args = ["-h", "localhost", "-p", str(self.port), "--cafile", str(self.ca)]
        if name:
            args += ["--cert", str(self.cert(name)), "--key", str(self.key(name))]
        return args

    def log(self) -> str:
        path = self.folder / "mosquitto.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def _start_broker(self) -> None:
        binary = mosquitto_binary()
        assert binary, "mosquitto is not installed (scripts/setup.sh installs it as root)"
        self.process = subprocess.Popen([binary, "-c", str(self.folder / "mosquitto.conf")],
                                        stdout=subprocess.DEVNULL,
                                        stderr=open(self.folder / "mosquitto.log", "ab"))  # noqa: SIM115
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mosquitto exited: {self.log()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        self.process.kill()
        raise RuntimeError("mosquitto did not start listening within 15 s")

    def _stop_broker(self) -> None:
        if self.process is None:
            return
        self.process.terminate()  # SIGTERM: mosquitto writes its persistence file before exiting
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        self.process = None

    def restart(self) -> None:
        self._stop_broker()
        self._start_broker()

    def stop(self) -> None:
        self._stop_broker()
        if self._front is not None:
            self._front.stop()
            self._front = None


def start_fleet_broker(folder: Path, things: tuple[str, ...], readers: tuple[str, ...] = ("hub-1", "operator"),
                       ws_identity: str | None = None) -> FleetBroker:
    """Certificates for every thing and reader, the ACL, Mosquitto (persistent) and the wss front."""
    assert readers, "at least one reader (the WebSocket front connects as one)"
    make_certificates(folder, (*things, *readers))
    broker = FleetBroker(folder, things, readers, free_port(), free_port(), ws_identity or readers[-1])
    (folder / "acl").write_text(acl_text(readers))
    (folder / "mosquitto.conf").write_text(
        f"listener {broker.port} 127.0.0.1\n"
        f"cafile {broker.ca}\ncertfile {folder / 'server.pem'}\nkeyfile {folder / 'server.key'}\n"
        "require_certificate true\nuse_identity_as_username true\nallow_anonymous false\n"
        f"acl_file {folder / 'acl'}\n"
        # Persistent sessions and queued QoS1 messages survive restart() (clean_start false + session expiry).
        f"persistence true\npersistence_location {folder}/\nautosave_interval 1\n"
        "max_queued_messages 100000\nlog_dest stderr\nlog_type error\nlog_type warning\nlog_type notice\n"
        # Started as root, mosquitto would switch to its own user, which cannot read the test's files.
        f"user {pwd.getpwuid(os.getuid()).pw_name}\n"
    )
    broker._start_broker()
    server_ssl = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ssl.load_cert_chain(folder / "server.pem", folder / "server.key")
    client_ssl = ssl.create_default_context(cafile=str(broker.ca))
    client_ssl.load_cert_chain(broker.cert(broker.ws_identity), broker.key(broker.ws_identity))
    try:
        broker._front = _WebSocketFront(broker.ws_port, server_ssl, client_ssl, broker.port)
    except BaseException:
        broker.stop()
        raise
    return broker
