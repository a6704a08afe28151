from __future__ import annotations

import pytest

from edgewatch.local.versions import Version, best_match, satisfies


@pytest.mark.parametrize(
    ("version", "requirement", "expected"),
    [
        ("1.2.3", ">=1.0.0 <2.0.0", True),
        ("2.0.0", ">=1.0.0 <2.0.0", False),
        ("1.2.3", "^1.0.0", True),
        ("2.0.0", "^1.0.0", False),
        ("0.2.5", "^0.2.0", True),
        ("0.3.0", "^0.2.0", False),
        ("1.2.9", "~1.2.0", True),
        ("1.3.0", "~1.2.0", False),
        ("1.4.0", "1.x", True),
        ("2.4.0", "1.x", False),
        ("3.0.0", "*", True),
        ("1.0.0", "1.0.0", True),
        ("1.0.1", "=1.0.0", False),
        ("1.5.0", "<1.0.0 || >=1.5.0", True),
        ("1.2.0", "<1.0.0 || >=1.5.0", False),
        ("1.0.0-beta.1", ">=0.9.0", False),
        ("1.5.0", "1.0.0 - 2.0.0", True),
        ("1.2.3", ">= 1.2.3", True),
    ],
)
def test_requirements(version: str, requirement: str, expected: bool) -> None:
    assert satisfies(version, requirement) is expected


def test_ordering_and_best_match() -> None:
    assert Version("1.0.0-rc.1") < Version("1.0.0") < Version("1.0.10")
    assert Version("1.0.0-alpha.2") < Version("1.0.0-alpha.10")
    assert best_match(["1.0.0", "1.4.0", "2.0.0"], "^1.0.0") == "1.4.0"
    assert best_match(["1.0.0", "1.4.0"], "^1.0.0", prefer="1.0.0") == "1.0.0"
    assert best_match(["2.0.0"], "^1.0.0") is None
    with pytest.raises(ValueError):
        Version("one")
