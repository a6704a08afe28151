"""Semantic versions and the npm-style version requirements recipes use for dependencies."""

from __future__ import annotations

import re
from functools import total_ordering

_SEMVER = re.compile(r"^v?(\d+)(?:\.(\d+|[xX*]))?(?:\.(\d+|[xX*]))?(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$")
_COMPARATOR = re.compile(r"^(>=|<=|>|<|=|\^|~)?\s*(.+)$")


@total_ordering
class Version:
    def __init__(self, text: str) -> None:
        match = _SEMVER.match(text.strip())
        if not match or any(part in ("x", "X", "*") for part in match.groups()[1:3] if part):
            raise ValueError(f"not a semantic version: {text!r}")
        self.text = text
        self.parts = (int(match.group(1)), int(match.group(2) or 0), int(match.group(3) or 0))
        self.pre = match.group(4) or ""

    def _key(self) -> tuple[tuple[int, int, int], int, tuple[tuple[int, int | str], ...]]:
        # A pre-release sorts before its release; identifiers compare numerically when numeric.
        pre = tuple((0, int(p)) if p.isdigit() else (1, p) for p in self.pre.split(".")) if self.pre else ()
        return self.parts, 0 if self.pre else 1, pre  # type: ignore[return-value]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Version) and self._key() == other._key()

    def __lt__(self, other: Version) -> bool:
        return self._key() < other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return f"Version({self.text!r})"


def _partial(text: str) -> tuple[list[int], int]:
    """Parse `1`, `1.2`, `1.x`, `1.2.3`: numbers given and how many were given."""
    match = _SEMVER.match(text)
    if not match:
        raise ValueError(f"bad version in requirement: {text!r}")
    given: list[int] = []
    for part in match.groups()[:3]:
        if part is None or part in ("x", "X", "*"):
            break
        given.append(int(part))
    return given + [0] * (3 - len(given)), len(given)


def _comparator_ok(version: Version, op: str, operand: str) -> bool:
    if operand in ("*", "x", "X", ""):
        return True
    nums, given = _partial(operand)
    target = tuple(nums)
    v = version.parts
    if op in ("", "="):
        return v[:given] == target[:given] if given < 3 else version == Version(operand)
    if op == ">=":
        return version >= Version(".".join(map(str, nums)))
    if op == ">":
        return v[:given] > target[:given] if given < 3 else version > Version(operand)
    if op == "<=":
        return v[:given] <= target[:given] if given < 3 else version <= Version(operand)
    if op == "<":
        return version < Version(".".join(map(str, nums)))
    if op == "~":  # same minor (or same major when only a major is given)
        keep = 2 if given >= 2 else 1
        return version >= Version(".".join(map(str, nums))) and v[:keep] == target[:keep]
    if op == "^":  # same left-most non-zero part
        keep = next((i + 1 for i, n in enumerate(nums[:given]) if n != 0), max(given, 1))
        return version >= Version(".".join(map(str, nums))) and v[:keep] == target[:keep]
    raise ValueError(f"unknown operator {op!r}")


def satisfies(version: str, requirement: str) -> bool:
    """npm semantics: `||` alternatives of space-separated comparators (`>=1.0.0 <2.0.0`, `^1.2`, `1.x`)."""
    parsed = Version(version)
    for alternative in (requirement or "*").split("||"):
        alternative = re.sub(r"(>=|<=|>|<|=|\^|~)\s+", r"\1", alternative.strip())
        tokens = alternative.split()
        if " - " in alternative:  # hyphen range
            low, high = (part.strip() for part in alternative.split(" - ", 1))
            tokens = [f">={low}", f"<={high}"]
        ok = True
        for token in tokens or ["*"]:
            match = _COMPARATOR.match(token)
            assert match is not None
            if parsed.pre and not token.lstrip("<>=^~").count("-"):
                ok = False  # pre-releases only match requirements that name a pre-release
                break
            if not _comparator_ok(parsed, match.group(1) or "", match.group(2)):
                ok = False
                break
        if ok:
            return True
    return False


def best_match(candidates: list[str], requirement: str, prefer: str | None = None) -> str | None:
    """The version to use: `prefer` (what is deployed) if it satisfies, else the highest that does."""
    if prefer is not None and satisfies(prefer, requirement):
        return prefer
    matching = [c for c in candidates if satisfies(c, requirement)]
    return max(matching, key=Version) if matching else None
