"""SubscribeToComponentUpdates / DeferComponentUpdate, and the deployment's side of them.

As on the nucleus, a deployment with componentUpdatePolicy NOTIFY_COMPONENTS (the default) sends a
PreComponentUpdateEvent to every subscriber before it stops or restarts anything, and waits: each
subscriber answers with DeferComponentUpdate (recheckAfterMs > 0 asks to be asked again that much
later; 0 means go ahead). A subscriber that does not answer, or keeps deferring, holds the deployment
at most the policy's timeout (default 60 s); then it proceeds. After the deployment a
PostComponentUpdateEvent goes to every subscriber. SKIP_NOTIFY_COMPONENTS sends nothing and waits
for nobody.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from edgewatch.local.ipc_errors import InvalidArgumentsError
from edgewatch.local.ipc_protocol import NAMESPACE
from edgewatch.local.ipc_server import IpcServer, Stream

log = logging.getLogger(__name__)

NOTIFY = "NOTIFY_COMPONENTS"
SKIP = "SKIP_NOTIFY_COMPONENTS"
POLICY_ACTIONS = (NOTIFY, SKIP)
DEFAULT_TIMEOUT_S = 60.0
MAX_MESSAGE_CHARS = 1000


@dataclass(frozen=True, slots=True)
class UpdatePolicy:
    action: str = NOTIFY
    timeout_s: float = DEFAULT_TIMEOUT_S

    @classmethod
    def parse(cls, action: Any, timeout_s: Any) -> UpdatePolicy:
        """From a request; raises ValueError naming the field."""
        action = NOTIFY if action in (None, "") else action
        if action not in POLICY_ACTIONS:
            raise ValueError(f"componentUpdatePolicy.action must be one of {', '.join(POLICY_ACTIONS)}, "
                             f"not {action!r}")
        timeout = DEFAULT_TIMEOUT_S if timeout_s is None else timeout_s
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 <= timeout <= 86400:
            raise ValueError(f"componentUpdatePolicy.timeoutInSeconds must be 0..86400, not {timeout_s!r}")
        return cls(str(action), float(timeout))


class ComponentUpdates:
    def __init__(self) -> None:
        self._subscribers: list[Stream] = []
        self._answers: dict[int, asyncio.Future[int]] = {}  # id(stream) -> recheckAfterMs
        self._deployment: str | None = None

    def install(self, server: IpcServer) -> None:
        server.register("SubscribeToComponentUpdates", self.handle_subscribe, NAMESPACE + "ComponentUpdatePolicyEvents")
        server.register("DeferComponentUpdate", self.handle_defer)

    def subscribers(self) -> list[str]:
        return sorted({s.principal.name for s in self._subscribers if not s.closed})

    def handle_subscribe(self, stream: Stream, request: dict[str, Any]) -> dict[str, Any]:
        self._subscribers.append(stream)
        stream.on_close.append(lambda: self._subscribers.remove(stream))
        return {}

    def handle_defer(self, stream: Stream, request: dict[str, Any]) -> dict[str, Any]:
        recheck = request.get("recheckAfterMs", 0)
        if recheck is None:
            recheck = 0
        if isinstance(recheck, bool) or not isinstance(recheck, int) or recheck < 0:
            raise InvalidArgumentsError("recheckAfterMs must be a non-negative integer")
        deployment_id = request.get("deploymentId")
        if self._deployment is None or (deployment_id and deployment_id != self._deployment):
            raise InvalidArgumentsError("Deployment not found or no update is pending")
        message = str(request.get("message") or "")[:MAX_MESSAGE_CHARS]
        answered = False
        for subscriber in self._subscribers:
            if subscriber.principal.name != stream.principal.name:
                continue
            future = self._answers.get(id(subscriber))
            if future is not None and not future.done():
                future.set_result(recheck)
                answered = True
        if not answered:
            raise InvalidArgumentsError("Deployment not found or no update is pending")
        log.info("%s %s the update of deployment %s%s", stream.principal.name,
                 f"deferred by {recheck} ms" if recheck else "accepted", self._deployment,
                 f": {message}" if message else "")
        return {}

    async def before_update(self, deployment_id: str, policy: UpdatePolicy) -> float:
        """Notify subscribers and honour their deferrals; returns the seconds the deployment waited."""
        if policy.action == SKIP:
            return 0.0
        loop = asyncio.get_running_loop()
        started = loop.time()
        deadline = started + policy.timeout_s
        self._deployment = deployment_id
        try:
            while True:
                live = [s for s in self._subscribers if not s.closed]
                if not live:
                    break
                futures = {}
                for stream in live:
                    future: asyncio.Future[int] = loop.create_future()
                    self._answers[id(stream)] = future
                    futures[stream.principal.name] = future
                    stream.send_event({"preUpdateEvent": {"deploymentId": deployment_id, "isGgcRestarting": False}})
                remaining = deadline - loop.time()
                await asyncio.wait(list(futures.values()), timeout=max(0.0, remaining))
                recheck_ms = max((f.result() for f in futures.values() if f.done()), default=0)
                silent = [name for name, f in futures.items() if not f.done()]
                for future in futures.values():
                    future.cancel()
                if silent:
                    log.warning("deployment %s: %s did not answer the component update notice within %.0f s; "
                                "proceeding", deployment_id, ", ".join(sorted(silent)), policy.timeout_s)
                    break
                if recheck_ms <= 0:
                    break
                if loop.time() + recheck_ms / 1000 >= deadline:
                    log.warning("deployment %s: components keep deferring; proceeding after the %.0f s update "
                                "policy timeout", deployment_id, policy.timeout_s)
                    await asyncio.sleep(max(0.0, deadline - loop.time()))
                    break
                await asyncio.sleep(recheck_ms / 1000)
        finally:
            self._answers.clear()
            self._deployment = None
        return loop.time() - started

    def after_update(self, deployment_id: str, policy: UpdatePolicy) -> None:
        if policy.action == SKIP:
            return
        for stream in [s for s in self._subscribers if not s.closed]:
            stream.send_event({"postUpdateEvent": {"deploymentId": deployment_id}})


def create_local_deployment(client: Any, policy: UpdatePolicy | None, timeout_s: float = 60.0,
                            extra_payload: dict[str, Any] | None = None, **fields: Any) -> Any:
    """CreateLocalDeployment through the unmodified V2 client, with `componentUpdatePolicy` when given.

    The SDK's request shape has no such field (greengrass-cli puts the policy in the deployment
    document it builds), so the request adds it to its payload; the server reads it, the nucleus's
    default being NOTIFY_COMPONENTS with a 60 s timeout."""
    if policy is None and not extra_payload:  # extra_payload: this runtime's own fields (strictRecipes)
        return client.create_local_deployment(**fields)
    from awsiot.greengrasscoreipc.model import CreateLocalDeploymentRequest

    class WithUpdatePolicy(CreateLocalDeploymentRequest):  # type: ignore[misc]
        def _to_payload(self) -> dict[str, Any]:
            payload: dict[str, Any] = super()._to_payload()
            if policy is not None:
                timeout = int(policy.timeout_s) if policy.timeout_s.is_integer() else policy.timeout_s
                payload["componentUpdatePolicy"] = {"action": policy.action, "timeoutInSeconds": timeout}
            payload.update(extra_payload or {})
            return payload

    operation = client.client.new_create_local_deployment()
    operation.activate(WithUpdatePolicy(**fields)).result(timeout_s)
    return operation.get_response().result(timeout_s)
