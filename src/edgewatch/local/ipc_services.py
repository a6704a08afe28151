"""Wires the IPC server with its services: pub/sub, IoT Core, configuration, secrets, state, shadows,
component updates and component metrics."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import secrets as token_source
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgewatch.local.access_control import AccessControl
from edgewatch.local.component_metrics import ComponentMetrics
from edgewatch.local.component_updates import ComponentUpdates
from edgewatch.local.configuration import ConfigurationStore
from edgewatch.local.iot_core import IotCoreService
from edgewatch.local.ipc_errors import InvalidArgumentsError
from edgewatch.local.ipc_protocol import dumps
from edgewatch.local.ipc_server import IpcServer, Principal, Stream
from edgewatch.local.mqtt_uplink import MqttEndpoint, MqttUplink
from edgewatch.local.pubsub import LocalPubSub
from edgewatch.local.secrets import SecretStore
from edgewatch.local.shadows import SHADOW_MANAGER, ShadowStore

log = logging.getLogger(__name__)

REPORTABLE_STATES = ("RUNNING", "ERRORED")


@dataclass
class IpcServices:
    """Everything a component reaches over IPC, for one runtime root."""

    socket_path: str
    root: Path
    thing_name: str
    secrets_file: Path | None = None
    persist_configuration: bool = True
    max_pending_bytes: int | None = None
    mqtt_endpoint: MqttEndpoint | None = None  # None: the embedded IoT Core loopback
    connect_timeout_s: float | None = None  # None: the server's default
    server: IpcServer = field(init=False)
    pubsub: LocalPubSub = field(init=False)
    iot_core: IotCoreService = field(init=False)
    configuration: ConfigurationStore = field(init=False)
    secret_store: SecretStore | None = field(init=False, default=None)
    shadows: ShadowStore = field(init=False)
    component_updates: ComponentUpdates = field(init=False)
    component_metrics: ComponentMetrics = field(init=False)
    # Is this component deployed? The runtime answers; operations of a provider component that is not
    # deployed (shadows without aws.greengrass.ShadowManager) fail as on the nucleus. Default: all are.
    is_deployed: Callable[[str], bool] = field(init=False, default=lambda name: True)
    state_listeners: list[Callable[[str, str], None]] = field(init=False, default_factory=list)
    reported_states: dict[str, str] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        kwargs: dict[str, Any] = {} if self.max_pending_bytes is None else {"max_pending_bytes": self.max_pending_bytes}
        if self.connect_timeout_s is not None:
            kwargs["connect_timeout_s"] = self.connect_timeout_s
        self.server = IpcServer(self.socket_path, **kwargs)
        self.pubsub = LocalPubSub()
        self.pubsub.install(self.server)
        self.iot_core = IotCoreService(self.root / "iotcore" / "messages.jsonl")
        self.iot_core.install(self.server)
        self.configuration = ConfigurationStore(self.root / "config" if self.persist_configuration else None)
        self.configuration.install(self.server)
        self.server.register("UpdateState", self._handle_update_state)
        if self.secrets_file is not None:
            self.secret_store = SecretStore.load(self.secrets_file)
            self.secret_store.install(self.server)
        self.shadows = ShadowStore(self.root / "shadows", provided=lambda: self.is_deployed(SHADOW_MANAGER),
                                   publish=self._publish_shadow_event)
        self.shadows.install(self.server)
        self.component_updates = ComponentUpdates()
        self.component_updates.install(self.server)
        self.component_metrics = ComponentMetrics(self.root / "metrics" / "component_metrics.jsonl")
        self.component_metrics.install(self.server)

    def add_component(
        self,
        name: str,
        access_control: Mapping[str, Any] | None = None,
        configuration: Mapping[str, Any] | None = None,
        svcuid: str | None = None,
    ) -> str:
        """Register a component: returns its SVCUID. Configuration is set only if given."""
        token = svcuid or token_source.token_urlsafe(24)
        access = AccessControl.from_config(access_control, self.thing_name)
        self.server.add_principal(Principal(name, token, access))
        if configuration is not None:
            self.configuration.set(name, configuration)
        return token

    def remove_component(self, name: str) -> None:
        self.server.remove_principal(name)

    async def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if self.mqtt_endpoint is not None:
            loop = asyncio.get_running_loop()
            uplink = MqttUplink(
                self.mqtt_endpoint, self.thing_name,
                # awscrt calls back on its own thread; the IPC state lives on this loop
                lambda topic, payload, retain: loop.call_soon_threadsafe(
                    self.iot_core.received, topic, payload, retain
                ),
            )
            self.iot_core.uplink = uplink
            await loop.run_in_executor(None, uplink.start)
        await self.server.start()

    async def stop(self) -> None:
        await self.server.stop()
        if self.iot_core.uplink is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.iot_core.uplink.stop)

    def _publish_shadow_event(self, topic: str, document: Mapping[str, Any]) -> None:
        """The shadow manager's local pub/sub messages: binary JSON, from aws.greengrass.ShadowManager."""
        message = base64.b64encode(json.dumps(document, separators=(",", ":")).encode()).decode()
        self.pubsub.publish(topic, dumps({"binaryMessage": {"message": message, "context": {"topic": topic}}}),
                            SHADOW_MANAGER)

    def _handle_update_state(self, stream: Stream, request: dict[str, Any]) -> dict[str, Any]:
        state = request.get("state")
        if state not in REPORTABLE_STATES:
            raise InvalidArgumentsError(f"state must be one of {', '.join(REPORTABLE_STATES)}, not {state!r}")
        self.reported_states[stream.principal.name] = state
        for listener in self.state_listeners:
            listener(stream.principal.name, state)
        return {}
