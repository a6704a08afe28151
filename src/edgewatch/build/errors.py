"""The build's error type."""

from __future__ import annotations


class BuildError(RuntimeError):
    """A component cannot be built; the message says which one and why."""
