"""Entry point (`python -m local_dashboard`): the one place that wires the dashboard together.

One process, one asyncio loop: the aiohttp server and the state it serves. The IPC client calls back
on its own threads; those callbacks only hand data to the loop (`call_soon_threadsafe`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import ssl
import sys
import time
from pathlib import Path
from typing import Any

from aiohttp import web

from edgewatch_shared.component_env import start_component
from edgewatch_shared.config_handover import ConfigHandover
from edgewatch_shared.config_lifecycle import initial_config
from edgewatch_shared.ipc_connection import EXIT_ACCESS_DENIED
from local_dashboard import silence_store
from local_dashboard.auth import load_password_file
from local_dashboard.books import InputError
from local_dashboard.config import DashboardConfig, parse_checked, validity_reason
from local_dashboard.ipc_adapter import DashboardIpc
from local_dashboard.server import DashboardServer
from local_dashboard.state import DashboardState

logger = logging.getLogger("local_dashboard")

STATIC_ENV = "EDGEWATCH_DASHBOARD_STATIC"
SECRET_RETRY_S = 10.0


def static_dir() -> Path:
    configured = os.environ.get(STATIC_ENV)
    return Path(configured) if configured else Path(__file__).resolve().parent / "static"


def tls_context(config: DashboardConfig) -> ssl.SSLContext | None:
    if not config.tls:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(config.tls_cert_file, config.tls_key_file)
    return context


def password_from_secret(text: str) -> str:
    """A secret holds the password as plain text or as JSON {"password": "..."}."""
    try:
        doc = json.loads(text)
    except ValueError:
        return text.strip()
    if isinstance(doc, dict) and isinstance(doc.get("password"), str):
        return doc["password"]
    return text.strip()


class Dashboard:
    def __init__(self, ipc: DashboardIpc, config: DashboardConfig, thing: str, work_path: Path) -> None:
        self.ipc = ipc
        self.config = config
        self.work_path = work_path
        self.loop = asyncio.get_running_loop()
        self.state = DashboardState(config, thing)
        self.server = DashboardServer(self.state, config, publish_silence=self.publish_silence, static_dir=static_dir())
        # Idle keep-alive connections close after 15 s; request lines and headers stay within aiohttp's 8 KiB.
        self.runner = web.AppRunner(self.server.app, access_log=None, handle_signals=False, keepalive_timeout=15)
        self.site: web.TCPSite | None = None
        self._password_task: asyncio.Task[None] | None = None
        self.silences_path = work_path / silence_store.FILE_NAME
        self._saved_silences = -1

    # -- IPC threads -> loop
    def handler(self, kind: str) -> Any:
        def on_message(doc: Any) -> None:
            self.loop.call_soon_threadsafe(self._receive, kind, doc)

        return on_message

    def _receive(self, kind: str, doc: Any) -> None:
        if self.state.receive(kind, doc, int(time.time() * 1000)):
            self.server.changed()

    def on_iot_core(self, topic: str, payload: bytes) -> None:
        """IPC thread: a fleet message (hub mode); parsed on the loop after its size check."""
        self.loop.call_soon_threadsafe(self._receive_fleet, topic, payload)

    def _receive_fleet(self, topic: str, payload: bytes) -> None:
        self.state.receive("fleet", payload, int(time.time() * 1000), topic=topic)

    def subscribe(self) -> None:
        c = self.config
        self.ipc.set_subscriptions({c.metrics_topic: self.handler("metrics"), c.alerts_topic: self.handler("alerts"),
                                    c.health_topic: self.handler("health"),
                                    c.silences_topic: self.handler("silences")})  # fmt: skip
        self.ipc.set_iot_core_subscriptions(c.fleet_filters(), self.on_iot_core)

    async def publish_silence(self, doc: dict[str, Any]) -> None:
        await self.loop.run_in_executor(None, self.ipc.publish_local, self.config.silences_topic, doc)

    async def apply_update(self, updates: ConfigHandover[DashboardConfig]) -> None:
        """Apply the configuration update waiting in `updates`, if any (on the loop)."""
        config = updates.take()
        if config is not None:
            await self.apply(config)

    # -- loop
    def restore_silences(self) -> None:
        now = time.time()
        for i, doc in enumerate(silence_store.load(self.silences_path, now)):
            try:
                self.state.silences.apply(doc, int(now * 1000))
            except InputError as err:
                logger.warning("stored silence #%d skipped: %s", i, err)
        self.state.silences.tick(int(now * 1000))
        self._saved_silences = self.state.silences.version
        logger.info("%d silence(s) restored from %s", len(self.state.silences.to_documents()), self.silences_path)

    async def save_silences(self) -> None:
        """Write the silence file when the list changed (called once a second)."""
        version = self.state.silences.version
        if version == self._saved_silences:
            return
        docs = self.state.silences.to_documents()
        try:
            await self.loop.run_in_executor(None, silence_store.save, self.silences_path, docs)
        except OSError as err:  # a full disk: keep serving from memory, retry next second
            logger.warning("could not write %s: %s", self.silences_path, err.strerror)
            return
        self._saved_silences = version

    async def start(self) -> None:
        self.restore_silences()
        await self.runner.setup()
        self.apply_in_process(self.config)
        await self._bind(self.config)
        self._password_task = asyncio.create_task(self._load_password())

    def apply_in_process(self, config: DashboardConfig) -> None:
        self.state.reconfigure(config)
        self.server.reconfigure(config)
        self.server.prometheus_token = _read_token(config.prometheus_token_file)

    async def apply(self, config: DashboardConfig) -> None:
        old, self.config = self.config, config
        if config == old:
            return
        self.apply_in_process(config)
        if config.topics() != old.topics() or config.fleet_filters() != old.fleet_filters():
            await self.loop.run_in_executor(None, self.subscribe)
        if config.server_key() != old.server_key():
            try:
                await self._bind(config)
            except OSError as err:
                logger.error("could not listen on %s:%d (%s); staying on %s:%d", config.listen_address, config.port,
                             err.strerror, old.listen_address, old.port)  # fmt: skip
                await self._bind(old)
        if config.password_secret_arn != old.password_secret_arn:
            if self._password_task is not None:
                self._password_task.cancel()
            self._password_task = asyncio.create_task(self._load_password())
        logger.info("configuration applied")

    async def _bind(self, config: DashboardConfig) -> None:
        if self.site is not None:
            await self.site.stop()
            self.site = None
        site = web.TCPSite(self.runner, config.listen_address, config.port, ssl_context=tls_context(config))
        await site.start()
        self.site = site
        scheme = "https" if config.tls else "http"
        host = f"[{config.listen_address}]" if ":" in config.listen_address else config.listen_address
        logger.info("dashboard listening on %s://%s:%d", scheme, host, config.port)

    async def _load_password(self) -> None:
        arn = self.config.password_secret_arn
        if not arn:
            password, path, created = load_password_file(self.work_path)
            self.server.set_password(password)
            logger.info("password %s %s (mode 0600; read it with: sudo cat %s)",
                        "generated at first start in" if created else "read from", path, path)  # fmt: skip
            return
        while True:
            try:
                text = await self.loop.run_in_executor(None, self.ipc.get_secret_value, arn)
            except Exception as err:
                logger.error("could not read the password secret %s: %s; logins are refused until it is readable "
                             "(retry in %g s)", arn, type(err).__name__, SECRET_RETRY_S)  # fmt: skip
                await asyncio.sleep(SECRET_RETRY_S)
                continue
            self.server.set_password(password_from_secret(text))
            logger.info("password read from SecretManager secret %s", arn)
            return

    async def stop(self) -> None:
        if self._password_task is not None:
            self._password_task.cancel()
        await self.runner.cleanup()


def _read_token(path: str) -> str | None:
    if not path:
        return None
    try:
        return Path(path).read_text(encoding="utf-8").strip() or None
    except OSError as err:
        logger.error("prometheusTokenFile %s unreadable (%s): /metrics accepts only a session", path, err.strerror)
        return None


async def run(thing: str, work_path: Path) -> int:
    ipc = DashboardIpc()
    # IPC threads park accepted updates here; the loop applies them once the dashboard runs.
    updates: ConfigHandover[DashboardConfig] = ConfigHandover(parse_checked)
    ipc.watch_configuration(on_changed=lambda: updates.offer_from(ipc.get_configuration), validate=validity_reason)
    loop = asyncio.get_running_loop()
    config = await loop.run_in_executor(None, initial_config, ipc.get_configuration, parse_checked)
    dashboard = Dashboard(ipc, config, thing, work_path)
    try:
        await dashboard.start()
    except OSError as err:
        logger.error("cannot listen on %s:%d: %s", config.listen_address, config.port, err.strerror)
        ipc.close()
        return 1
    updates.set_on_offered(lambda: asyncio.run_coroutine_threadsafe(dashboard.apply_update(updates), loop))
    await dashboard.apply_update(updates)
    dashboard.subscribe()
    await loop.run_in_executor(None, ipc.connect)
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    # A copy the nucleus no longer knows (e.g. left over from a crashed runtime) must not serve forever.
    ipc.on_orphaned(lambda reason: loop.call_soon_threadsafe(stop.set))
    try:
        while not stop.is_set():
            # Reconnects with backoff after a nucleus restart; streams re-open on connect.
            await loop.run_in_executor(None, ipc.connect)
            await dashboard.save_silences()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
    finally:
        await dashboard.save_silences()
        await dashboard.stop()
        await loop.run_in_executor(None, ipc.close)
    if ipc.orphaned.is_set():
        logger.error("dashboard stopped: the nucleus refused this process's IPC token (status %d)", EXIT_ACCESS_DENIED)
        return EXIT_ACCESS_DENIED
    logger.info("dashboard stopped")
    return 0


def main() -> int:
    thing, work_path = start_component()
    return asyncio.run(run(thing, work_path))


if __name__ == "__main__":
    sys.exit(main())
