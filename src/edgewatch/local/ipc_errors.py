"""Greengrass IPC errors as the nucleus reports them (model name + JSON payload)."""

from __future__ import annotations

from typing import Any


class IpcError(Exception):
    model = "aws.greengrass#ServiceError"

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra

    def payload(self) -> dict[str, Any]:
        return {"message": self.message, **self.extra}


class InvalidArgumentsError(IpcError):
    model = "aws.greengrass#InvalidArgumentsError"


class ResourceNotFoundError(IpcError):
    model = "aws.greengrass#ResourceNotFoundError"


class UnauthorizedIpcError(IpcError):
    model = "aws.greengrass#UnauthorizedError"


class ServiceError(IpcError):
    model = "aws.greengrass#ServiceError"


def not_supported(operation: str) -> ServiceError:
    """What the nucleus answers for an operation whose provider is not deployed."""
    return ServiceError(f"Operation aws.greengrass#{operation} is not supported by Greengrass")
