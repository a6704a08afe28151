"""Local shadows, as aws.greengrass.ShadowManager keeps them: Get/Update/Delete/ListNamedShadowsForThing.

The document semantics are the AWS IoT Device Shadow service's: `state.desired` and `state.reported`
are merged into the stored state (objects recursively, arrays replaced whole), a null deletes a key
(a null `desired` or `reported` deletes the whole section), each update increments `version` and
stamps `metadata` with the time of every key it wrote, GetThingShadow adds `delta` (desired values
that reported does not match), an update naming a `version` other than the current one is a
ConflictError, a document over `shadowDocumentSizeLimitBytes` (8 KiB) or nested deeper than 6 levels
is refused. A deleted shadow keeps its version (a new one continues from it), as in IoT Core.

Each shadow is one file under `<root>/shadows/<thing>/`, written atomically and 0600. As the shadow
manager does, every accepted change is also published on local pub/sub, on the IoT shadow topics
(`$aws/things/<thing>/shadow[/name/<shadow>]/update/accepted`, `/update/documents`, `/update/delta`
when desired and reported differ after an update of desired, `/delete/accepted`), as binary JSON.
"""

from __future__ import annotations

import base64
import copy
import json
import logging
import re
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from edgewatch.local.ipc_errors import InvalidArgumentsError, IpcError, ResourceNotFoundError, not_supported
from edgewatch.local.ipc_server import IpcServer, Stream
from edgewatch.local.state_files import private_dir
from edgewatch_shared.private_files import read_json, write_json_atomic

log = logging.getLogger(__name__)

SHADOW_MANAGER = "aws.greengrass.ShadowManager"
MAX_DOCUMENT_BYTES = 8192  # the shadow manager's default shadowDocumentSizeLimitBytes
MAX_DEPTH = 6  # state nesting, as in IoT Core
MAX_SHADOWS_PER_THING = 1000
MAX_PAGE_SIZE = 100
_NAME = re.compile(r"^[a-zA-Z0-9:_-]{1,128}$")
_SHADOW_NAME = re.compile(r"^[a-zA-Z0-9:_-]{1,64}$")


class ConflictError(IpcError):
    model = "aws.greengrass#ConflictError"


class ShadowError(ValueError):
    """An update the shadow service refuses (InvalidArguments), with its reason."""


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    return 0


def merge_state(current: Any, update: Any) -> Any:
    """Merge `update` into `current`: objects recursively, anything else replaced, null deletes."""
    if not isinstance(update, dict) or not isinstance(current, dict):
        return copy.deepcopy(update)
    merged = dict(current)
    for key, value in update.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = merge_state(current.get(key), value)
    return merged


def stamp(update: Any, now: int) -> Any:
    """Metadata for what an update wrote: `{"timestamp": now}` at every leaf."""
    if isinstance(update, dict):
        return {k: stamp(v, now) for k, v in update.items()}
    if isinstance(update, list):
        return [stamp(v, now) for v in update]
    return {"timestamp": now}


def merge_metadata(current: Any, update: Any, metadata: Any) -> Any:
    if not isinstance(update, dict):
        return metadata
    merged = dict(current) if isinstance(current, dict) else {}
    for key, value in update.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = merge_metadata(merged.get(key), value, metadata[key])
    return merged


def delta(desired: Any, reported: Any) -> Any:
    """Desired values that reported does not match (None when they all match)."""
    if isinstance(desired, dict):
        out = {}
        for key, value in desired.items():
            if not isinstance(reported, dict) or key not in reported:
                out[key] = copy.deepcopy(value)
                continue
            sub = delta(value, reported[key])
            if sub is not None:
                out[key] = sub
        return out or None
    return None if desired == reported else copy.deepcopy(desired)


def apply_update(stored: Mapping[str, Any] | None, request: Any, now: int,
                 max_bytes: int = MAX_DOCUMENT_BYTES) -> tuple[dict[str, Any], dict[str, Any]]:
    """(new stored shadow, the update's response document). Pure; raises ShadowError or ConflictError."""
    if not isinstance(request, dict):
        raise ShadowError("the update must be a JSON object")
    state = request.get("state")
    if not isinstance(state, dict):
        raise ShadowError("State node must be an object")
    unknown = set(state) - {"desired", "reported"}
    if unknown:
        raise ShadowError(f"State contains an invalid node: {sorted(unknown)[0]}")
    for section in ("desired", "reported"):
        if section in state and state[section] is not None and not isinstance(state[section], dict):
            raise ShadowError(f"state.{section} must be an object or null")
    if _depth(state) - 1 > MAX_DEPTH:
        raise ShadowError(f"JSON contains too many levels of nesting; maximum is {MAX_DEPTH}")
    live = stored is not None and not stored.get("deleted")
    version = int(stored["version"]) if stored is not None else 0
    wanted = request.get("version")
    if wanted is not None and (not isinstance(wanted, int) or isinstance(wanted, bool) or wanted != version):
        raise ConflictError("Version conflict")
    current_state = dict(stored.get("state", {})) if live and stored else {}
    current_meta = dict(stored.get("metadata", {})) if live and stored else {}
    new_state, new_meta, response_meta = {}, {}, {}
    for section in ("desired", "reported"):
        old, old_meta = current_state.get(section), current_meta.get(section)
        if section not in state:
            value, meta = old, old_meta
        elif state[section] is None:
            value, meta = None, None
            response_meta[section] = {"timestamp": now}
        else:
            written = stamp(state[section], now)
            response_meta[section] = written
            value = merge_state(old or {}, state[section])
            meta = merge_metadata(old_meta or {}, state[section], written)
        if value:
            new_state[section], new_meta[section] = value, meta
    shadow = {"state": new_state, "metadata": new_meta, "version": version + 1, "timestamp": now}
    size = len(json.dumps({"state": new_state}, separators=(",", ":")).encode())
    if size > max_bytes:
        raise ShadowError(f"The payload exceeds the maximum size allowed ({size} > {max_bytes} bytes)")
    response: dict[str, Any] = {"state": copy.deepcopy(state), "metadata": response_meta,
                                "version": version + 1, "timestamp": now}
    if "clientToken" in request:
        response["clientToken"] = request["clientToken"]
    return shadow, response


def get_document(stored: Mapping[str, Any]) -> dict[str, Any]:
    """GetThingShadow's document: state with delta, metadata, version, timestamp."""
    state = copy.deepcopy(dict(stored.get("state", {})))
    difference = delta(state.get("desired"), state.get("reported"))
    if difference is not None:
        state["delta"] = difference
    return {"state": state, "metadata": copy.deepcopy(dict(stored.get("metadata", {}))),
            "version": stored["version"], "timestamp": stored["timestamp"]}


class ShadowStore:
    """Shadows on disk, one file each; the IPC operations of aws.greengrass.ShadowManager."""

    def __init__(self, folder: Path, clock: Callable[[], float] = time.time,
                 provided: Callable[[], bool] = lambda: True,
                 publish: Callable[[str, Mapping[str, Any]], None] = lambda topic, document: None) -> None:
        self.folder = folder
        self.clock = clock
        self.provided = provided  # is aws.greengrass.ShadowManager deployed?
        self.publish = publish  # (topic, document) on local pub/sub

    def install(self, server: IpcServer) -> None:
        server.register("GetThingShadow", self.handle_get)
        server.register("UpdateThingShadow", self.handle_update)
        server.register("DeleteThingShadow", self.handle_delete)
        server.register("ListNamedShadowsForThing", self.handle_list)

    # -- storage
    def _path(self, thing: str, shadow: str) -> Path:
        base = self.folder / thing
        return base / "classic.json" if not shadow else base / "named" / f"{shadow}.json"

    def load(self, thing: str, shadow: str) -> dict[str, Any] | None:
        value = read_json(self._path(thing, shadow), f"shadow {thing}/{shadow or '(classic)'}")
        if value is not None and not (isinstance(value, dict) and isinstance(value.get("version"), int)):
            log.error("ignoring shadow %s/%s: not a shadow document", thing, shadow or "(classic)")
            return None
        return value

    def _save(self, thing: str, shadow: str, document: Mapping[str, Any]) -> None:
        path = self._path(thing, shadow)
        private_dir(path.parent)
        write_json_atomic(path, dict(document))

    def named(self, thing: str) -> list[str]:
        folder = self.folder / thing / "named"
        if not folder.is_dir():
            return []
        names = []
        for path in sorted(folder.glob("*.json")):
            stored = self.load(thing, path.stem)
            if stored is not None and not stored.get("deleted"):
                names.append(path.stem)
        return names

    # -- operations
    def _target(self, stream: Stream, request: Mapping[str, Any], operation: str) -> tuple[str, str]:
        if not self.provided():
            raise not_supported(operation)
        thing = request.get("thingName")
        shadow = request.get("shadowName") or ""
        if not isinstance(thing, str) or not thing:
            raise InvalidArgumentsError("ThingName absent in request")
        if not _NAME.match(thing):
            raise InvalidArgumentsError("ThingName has invalid characters or is longer than 128")
        if not isinstance(shadow, str) or (shadow and not _SHADOW_NAME.match(shadow)):
            raise InvalidArgumentsError("ShadowName has invalid characters or is longer than 64")
        stream.principal.authorize(SHADOW_MANAGER, operation, _topic(thing, shadow))
        return thing, shadow

    def _now(self) -> int:
        return int(self.clock())

    def handle_get(self, stream: Stream, request: dict[str, Any]) -> dict[str, Any]:
        thing, shadow = self._target(stream, request, "GetThingShadow")
        stored = self.load(thing, shadow)
        if stored is None or stored.get("deleted"):
            raise ResourceNotFoundError(f"No shadow exists with name: {shadow or thing}",
                                        resourceType="shadow", resourceName=shadow or thing)
        return {"payload": _encode(get_document(stored))}

    def handle_update(self, stream: Stream, request: dict[str, Any]) -> dict[str, Any]:
        thing, shadow = self._target(stream, request, "UpdateThingShadow")
        try:
            raw = base64.b64decode(request.get("payload") or "", validate=True)
        except ValueError:
            raise InvalidArgumentsError("payload is not base64") from None
        if len(raw) > MAX_DOCUMENT_BYTES:
            raise InvalidArgumentsError(f"The payload exceeds the maximum size allowed ({len(raw)} bytes)")
        try:
            update = json.loads(raw)
        except (ValueError, RecursionError):
            raise InvalidArgumentsError("Invalid JSON") from None
        stored = self.load(thing, shadow)
        if stored is None and shadow and len(self.named(thing)) >= MAX_SHADOWS_PER_THING:
            raise InvalidArgumentsError(f"{thing} already has {MAX_SHADOWS_PER_THING} named shadows")
        try:
            new, response = apply_update(stored, update, self._now())
        except ShadowError as exc:
            raise InvalidArgumentsError(str(exc)) from None
        self._save(thing, shadow, new)
        prefix = _topic(thing, shadow)
        self.publish(f"{prefix}/update/accepted", response)
        previous = None if stored is None or stored.get("deleted") else _versioned(stored)
        self.publish(f"{prefix}/update/documents", {"previous": previous, "current": _versioned(new),
                                                    "timestamp": new["timestamp"]})
        difference = delta(new["state"].get("desired"), new["state"].get("reported"))
        if difference is not None and isinstance(update, dict) and "desired" in update.get("state", {}):
            self.publish(f"{prefix}/update/delta", {"state": difference, "version": new["version"],
                                                    "timestamp": new["timestamp"]})
        return {"payload": _encode(response)}

    def handle_delete(self, stream: Stream, request: dict[str, Any]) -> dict[str, Any]:
        thing, shadow = self._target(stream, request, "DeleteThingShadow")
        stored = self.load(thing, shadow)
        if stored is None or stored.get("deleted"):
            raise ResourceNotFoundError(f"No shadow exists with name: {shadow or thing}",
                                        resourceType="shadow", resourceName=shadow or thing)
        now = self._now()
        # The version survives the delete: a shadow created again continues from it.
        self._save(thing, shadow, {"deleted": True, "version": stored["version"], "timestamp": now})
        self.publish(f"{_topic(thing, shadow)}/delete/accepted", {"version": stored["version"], "timestamp": now})
        return {"payload": _encode({"version": stored["version"], "timestamp": now})}

    def handle_list(self, stream: Stream, request: dict[str, Any]) -> dict[str, Any]:
        if not self.provided():
            raise not_supported("ListNamedShadowsForThing")
        thing = request.get("thingName")
        if not isinstance(thing, str) or not _NAME.match(thing):
            raise InvalidArgumentsError("ThingName absent or invalid in request")
        stream.principal.authorize(SHADOW_MANAGER, "ListNamedShadowsForThing", f"$aws/things/{thing}/shadow")
        page_size = request.get("pageSize") or 25
        if not isinstance(page_size, int) or not 1 <= page_size <= MAX_PAGE_SIZE:
            raise InvalidArgumentsError(f"pageSize must be between 1 and {MAX_PAGE_SIZE}")
        token = request.get("nextToken") or "0"
        if not isinstance(token, str) or not token.isdigit():
            raise InvalidArgumentsError("Invalid nextToken")
        names = self.named(thing)
        start = int(token)
        page = names[start:start + page_size]
        response: dict[str, Any] = {"results": page, "timestamp": self.clock()}
        if start + page_size < len(names):
            response["nextToken"] = str(start + page_size)
        return response


def _topic(thing: str, shadow: str) -> str:
    return f"$aws/things/{thing}/shadow" + (f"/name/{shadow}" if shadow else "")


def _versioned(stored: Mapping[str, Any]) -> dict[str, Any]:
    return {"state": copy.deepcopy(dict(stored.get("state", {}))),
            "metadata": copy.deepcopy(dict(stored.get("metadata", {}))), "version": stored["version"]}


def _encode(document: Mapping[str, Any]) -> str:
    return base64.b64encode(json.dumps(document, separators=(",", ":")).encode()).decode()
