"""Platform detection and matching: what this machine is, and whether a manifest's Platform fits it.

Pure functions over plain mappings: the recipe model imports them to select a manifest.
"""

from __future__ import annotations

import platform as _platform
import re
from collections.abc import Mapping

# platform.machine() values -> Greengrass architecture names (amd64, aarch64, arm, x86).
_ARCHITECTURES = {
    "x86_64": "amd64",
    "amd64": "amd64",
    "aarch64": "aarch64",
    "arm64": "aarch64",
    "armv8l": "arm",
    "armv7l": "arm",
    "armv7": "arm",
    "armv6l": "arm",
    "arm": "arm",
    "i386": "x86",
    "i486": "x86",
    "i586": "x86",
    "i686": "x86",
    "x86": "x86",
}

# `*` is documented; `all`/`any` appear in older recipes and GDK treats them as wildcards too.
_WILDCARDS = frozenset({"*", "all", "any"})


def greengrass_architecture(machine: str) -> str:
    """Map a `platform.machine()` string to the name Greengrass uses."""
    return _ARCHITECTURES.get(machine.lower(), machine.lower())


def current_platform() -> dict[str, str]:
    """This machine as the nucleus describes it: {"os": "linux", "architecture": "amd64"}."""
    system = _platform.system().lower() or "linux"
    return {"os": system, "architecture": greengrass_architecture(_platform.machine())}


def value_matches(requirement: str, actual: str | None) -> bool:
    """Match one platform value: exact, `*` (also when absent) or `/java-style regex/` (full match)."""
    if requirement in _WILDCARDS:
        return True
    if len(requirement) >= 2 and requirement.startswith("/") and requirement.endswith("/"):
        try:
            return re.fullmatch(requirement[1:-1], actual or "") is not None
        except re.error as exc:
            raise ValueError(f"invalid platform regex {requirement!r}: {exc}") from exc
    return actual is not None and requirement == actual


def platform_matches(requirement: Mapping[str, str], device: Mapping[str, str]) -> bool:
    """True when every key of a manifest's Platform matches the device's attributes."""
    return all(value_matches(str(want), device.get(key)) for key, want in requirement.items())
