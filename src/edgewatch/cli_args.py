"""Parsing of repeated `NAME=VALUE` command-line options, shared by every `edgewatch` command."""

from __future__ import annotations


def parse_pairs(pairs: list[str], option: str, form: str, error: type[Exception]) -> dict[str, str]:
    """`["a=1", "b=2"]` → `{"a": "1", "b": "2"}`; a malformed pair raises `error` naming the option."""
    found: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name or not value:
            raise error(f"{option} expects {form}, got {pair!r}")
        found[name] = value
    return found
