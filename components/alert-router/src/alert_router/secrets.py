"""Secrets: from Greengrass SecretManager (IPC GetSecretValue by ARN) or a 0600 file; and their redaction.

A secret value is registered with the `Redactor` the moment it is read, and every error text that
reaches a log, the outbox or the health report goes through `Redactor.redact` first.
"""

from __future__ import annotations

import json
import re
import stat
import threading
import urllib.parse
from collections.abc import Callable
from pathlib import Path

# Shapes that are secret even before we have read them (e.g. an exception quoting a URL).
_SECRET_SHAPES = re.compile(r"(hooks\.slack\.com/services/)[^\s'\"]+|xox[a-z]-[A-Za-z0-9-]+|(Bearer )[^\s'\"]+")
REDACTED = "***"
MIN_SECRET_CHARS = 6


def _url_parts(value: str) -> list[str]:
    if not value.startswith(("http://", "https://")):
        return []
    rest = value.split("://", 1)[1]
    path = rest[rest.find("/"):] if "/" in rest else ""
    if not path.strip("/"):
        return []
    last = path.rstrip("/").rsplit("/", 1)[-1]
    return [path, urllib.parse.quote(path), last, urllib.parse.quote(last), *path.split()]


class SecretError(Exception):
    """The secret could not be read now (not there, no permission, IPC down): retried later."""


class Redactor:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._secrets: set[str] = set()

    def register(self, secret: str) -> None:
        """Redact `secret` from now on; for a URL also its path and last segment, which error texts
        quote without the host (http.client's InvalidURL for a URL with a space, for instance)."""
        found = {secret.strip(), *_url_parts(secret.strip())}
        with self._lock:
            # Shorter strings would redact ordinary words.
            self._secrets.update(s for s in found if len(s) >= MIN_SECRET_CHARS)

    def redact(self, text: str) -> str:
        with self._lock:
            secrets = sorted(self._secrets, key=len, reverse=True)
        for secret in secrets:
            text = text.replace(secret, REDACTED)
        return _SECRET_SHAPES.sub(lambda m: (m.group(1) or m.group(2) or "") + REDACTED, text)


def read_secret_file(path: str) -> str:
    """The stripped content of a file that only its owner can read (0600 or stricter)."""
    file = Path(path)
    try:
        mode = stat.S_IMODE(file.stat().st_mode)
    except OSError as err:
        raise SecretError(f"secret file {path}: {err.strerror or err}") from None
    if mode & 0o077:
        raise SecretError(f"secret file {path} has mode {mode:04o}; it must be 0600 (chmod 600 {path})")
    try:
        return file.read_text().strip()
    except OSError as err:
        raise SecretError(f"secret file {path}: {err.strerror or err}") from None


def pick_field(secret: str, fields: tuple[str, ...]) -> str:
    """A Secrets Manager secret may be the bare value or a JSON object holding it under a known key."""
    if secret.startswith("{"):
        try:
            doc = json.loads(secret)
        except ValueError:
            return secret
        for name in fields:
            if isinstance(doc, dict) and isinstance(doc.get(name), str):
                return doc[name]
        raise SecretError(f"the secret is a JSON object without any of the keys {', '.join(fields)}")
    return secret


class SecretSource:
    """Reads by ARN through `get_secret_value` (IPC) or from a file; registers what it reads for redaction."""

    def __init__(self, get_secret_value: Callable[[str], str] | None, redactor: Redactor) -> None:
        self._get = get_secret_value
        self._redactor = redactor

    def register(self, value: str) -> None:
        """A secret that did not come through `read` (an inline webhookUrl) is redacted all the same."""
        self._redactor.register(value)

    def redact(self, text: str) -> str:
        return self._redactor.redact(text)

    def read(self, *, arn: str | None = None, file: str | None = None, fields: tuple[str, ...] = ()) -> str:
        if file is not None:
            value = read_secret_file(file)
        elif arn is not None:
            if self._get is None:
                raise SecretError("no Greengrass IPC connection to read the secret")
            try:
                value = self._get(arn)
            except Exception as err:  # ResourceNotFound, Unauthorized, ServiceError, connection lost
                detail = getattr(err, "message", None) or err
                raise SecretError(f"GetSecretValue {arn}: {type(err).__name__}: {detail}") from None
        else:
            raise SecretError("no secret configured")
        value = pick_field(value, fields)
        if not value:
            raise SecretError("the secret is empty")
        self._redactor.register(value)
        return value
