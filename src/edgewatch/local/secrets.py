"""GetSecretValue from a local secret store file (stand-in for aws.greengrass.SecretManager).

The file must be mode 0600 (or stricter); it holds a JSON list of secrets:
`[{"arn": "arn:aws:secretsmanager:...:secret:name-AbCd", "name": "name", "versionId": "v1",
   "versionStages": ["AWSCURRENT"], "secretString": "..."}]` (or `"secretBinary"` as base64).
Without a secret store the runtime does not provide GetSecretValue, exactly as a nucleus without
the SecretManager component answers.
"""

from __future__ import annotations

import json
import logging
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgewatch.local.access_control import SECRET_MANAGER
from edgewatch.local.ipc_errors import InvalidArgumentsError, ResourceNotFoundError
from edgewatch.local.ipc_server import IpcServer, Stream

log = logging.getLogger(__name__)


class SecretStoreError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Secret:
    arn: str
    name: str
    version_id: str
    version_stages: tuple[str, ...]
    value: dict[str, str]  # {"secretString": ...} or {"secretBinary": base64}

    def __repr__(self) -> str:  # never show the value in logs or tracebacks
        return f"Secret(arn={self.arn!r}, version_id={self.version_id!r})"


class SecretStore:
    def __init__(self, secrets: list[Secret]) -> None:
        self._secrets = secrets

    @classmethod
    def load(cls, path: Path) -> SecretStore:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise SecretStoreError(f"{path} has mode {mode:04o}; a secret store must be 0600")
        try:
            raw = json.loads(path.read_text())
        except ValueError as exc:
            raise SecretStoreError(f"{path} is not JSON: {exc}") from None
        if not isinstance(raw, list):
            raise SecretStoreError(f"{path} must hold a JSON list of secrets")
        secrets = []
        for i, entry in enumerate(raw):
            if not isinstance(entry, dict) or "arn" not in entry:
                raise SecretStoreError(f"{path}: secret [{i}] needs an arn")
            value = {k: entry[k] for k in ("secretString", "secretBinary") if k in entry}
            if len(value) != 1:
                raise SecretStoreError(f"{path}: secret [{i}] needs exactly one of secretString, secretBinary")
            arn = str(entry["arn"])
            name = str(entry.get("name") or arn.split(":secret:")[-1])
            secrets.append(Secret(arn, name, str(entry.get("versionId", "1")),
                                  tuple(entry.get("versionStages", ["AWSCURRENT"])), value))
        log.info("loaded %d secret(s) from %s", len(secrets), path)
        return cls(secrets)

    def install(self, server: IpcServer) -> None:
        server.register("GetSecretValue", self.handle_get)

    def find(self, secret_id: str) -> Secret | None:
        for secret in self._secrets:
            if secret_id in (secret.arn, secret.name):
                return secret
        return None

    def handle_get(self, stream: Stream, request: dict[str, Any]) -> dict[str, Any]:
        secret_id = request.get("secretId")
        if not isinstance(secret_id, str) or not secret_id:
            raise InvalidArgumentsError("SecretId absent in the request")
        secret = self.find(secret_id)
        # The nucleus authorizes against the ARN, resolving a name first.
        stream.principal.authorize(SECRET_MANAGER, "GetSecretValue", secret.arn if secret else secret_id)
        version_id, stage = request.get("versionId"), request.get("versionStage")
        if secret is None or (version_id and version_id != secret.version_id) or (
            stage and stage not in secret.version_stages
        ):
            raise ResourceNotFoundError(
                f"Secret not found {secret_id}", resourceType="secret", resourceName=secret_id
            )
        return {
            "secretId": secret.arn,
            "versionId": secret.version_id,
            "versionStage": list(secret.version_stages),
            "secretValue": dict(secret.value),
        }
