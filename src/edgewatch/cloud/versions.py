"""Semantic versions and GDK's NEXT_PATCH, computed from the versions already in the cloud."""

from __future__ import annotations

import re
from collections.abc import Iterable

NEXT_PATCH = "NEXT_PATCH"
# GDK's first version when nothing is published yet.
FIRST_VERSION = "1.0.0"
_SEMVER = re.compile(r"^(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$")


def parse(version: str) -> tuple[int, int, int, tuple[tuple[int, int | str], ...] | None]:
    """A sort key for a semantic version; a release sorts after its pre-releases."""
    match = _SEMVER.match(version)
    if not match:
        raise ValueError(f"not a semantic version: {version!r}")
    major, minor, patch, pre = match.groups()
    pre_key = None if pre is None else tuple((0, int(p)) if p.isdigit() else (1, p) for p in pre.split("."))
    return int(major), int(minor), int(patch), pre_key


def _key(version: str) -> tuple[int, int, int, int, tuple[tuple[int, int | str], ...]]:
    major, minor, patch, pre = parse(version)
    return major, minor, patch, (1 if pre is None else 0), pre or ()


def is_semver(version: str) -> bool:
    return bool(_SEMVER.match(version))


def latest(versions: Iterable[str]) -> str | None:
    """The highest semantic version (non-semver strings are ignored)."""
    valid = [v for v in versions if is_semver(v)]
    return max(valid, key=_key) if valid else None


def next_patch(published: Iterable[str]) -> str:
    """GDK's NEXT_PATCH: the patch after the highest published version, or 1.0.0 if none."""
    top = latest(published)
    if top is None:
        return FIRST_VERSION
    major, minor, patch, _ = parse(top)
    return f"{major}.{minor}.{patch + 1}"


def resolve_version(requested: str | None, configured: str, published: Iterable[str] | None) -> str:
    """The version to publish: --version, else gdk-config's; NEXT_PATCH needs `published`."""
    wanted = requested or configured
    if wanted == NEXT_PATCH:
        if published is None:
            raise ValueError("NEXT_PATCH needs the versions already published")
        return next_patch(published)
    if not is_semver(wanted):
        raise ValueError(f"version must be X.Y.Z or {NEXT_PATCH}, not {wanted!r}")
    return wanted
