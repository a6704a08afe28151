"""Greengrass configuration trees: JSON-pointer access, merge and reset with nucleus semantics.

Configuration updates are merges: objects merge key by key, while lists and scalars replace what
was there whole. A reset puts a pointer back to the component's DefaultConfiguration (or removes it
when the default has nothing there).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any


class ConfigPointerError(KeyError):
    """A JSON pointer or key path names nothing in the configuration."""


def parse_pointer(pointer: str) -> list[str]:
    """Split an RFC 6901 JSON pointer into its unescaped reference tokens ("" is the whole doc)."""
    if pointer in ("", "/"):
        return []
    if not pointer.startswith("/"):
        raise ValueError(f"JSON pointer must start with '/': {pointer!r}")
    return [part.replace("~1", "/").replace("~0", "~") for part in pointer[1:].split("/")]


def lookup(doc: Any, path: Sequence[str]) -> Any:
    """Return the value at `path` (a list of keys; list indexes as decimal strings)."""
    node = doc
    for i, key in enumerate(path):
        if isinstance(node, Mapping) and key in node:
            node = node[key]
        elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
            node = node[int(key)]
        else:
            raise ConfigPointerError("/" + "/".join(path[: i + 1]))
    return node


def deep_merge(base: Any, update: Any) -> Any:
    """Merge `update` into a copy of `base`: dicts recursively, anything else replaced whole."""
    if isinstance(base, Mapping) and isinstance(update, Mapping):
        merged = dict(copy.deepcopy(base))
        for key, value in update.items():
            merged[key] = deep_merge(merged[key], value) if key in merged else copy.deepcopy(value)
        return merged
    return copy.deepcopy(update)


def merge_at(doc: Mapping[str, Any], path: Sequence[str], update: Any) -> dict[str, Any]:
    """Return a copy of `doc` with `update` merged at `path`, creating intermediate objects."""
    if not path:
        if not isinstance(update, Mapping):
            raise ValueError("an update of the whole configuration must be an object")
        return deep_merge(doc, update)
    nested: Any = update
    for key in reversed(path):
        nested = {key: nested}
    return deep_merge(doc, nested)


def reset(doc: Mapping[str, Any], pointer: str, defaults: Mapping[str, Any]) -> dict[str, Any]:
    """Return a copy of `doc` with `pointer` put back to its value in `defaults` (or removed)."""
    path = parse_pointer(pointer)
    if not path:
        return copy.deepcopy(dict(defaults))
    result = copy.deepcopy(dict(doc))
    parent: Any = result
    for key in path[:-1]:
        if not isinstance(parent, dict) or key not in parent:
            parent = None
            break
        parent = parent[key]
    try:
        default_value = lookup(defaults, path)
    except ConfigPointerError:
        if isinstance(parent, dict):
            parent.pop(path[-1], None)
        return result
    return merge_at_replacing(result, path, default_value)


def merge_at_replacing(doc: dict[str, Any], path: Sequence[str], value: Any) -> dict[str, Any]:
    """Return a copy of `doc` with the value at `path` replaced whole (not merged)."""
    result = copy.deepcopy(doc)
    node = result
    for key in path[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            child = {}
            node[key] = child
        node = child
    node[path[-1]] = copy.deepcopy(value)
    return result


def changed_paths(old: Any, new: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """The deepest key paths whose values differ between two configuration trees."""
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        paths: list[tuple[str, ...]] = []
        for key in sorted(set(old) | set(new)):
            if key not in old or key not in new:
                paths.append((*prefix, key))
            else:
                paths.extend(changed_paths(old[key], new[key], (*prefix, key)))
        return paths
    return [] if old == new else [prefix]


MAX_DEPTH = 64  # far beyond any real component configuration; keeps every recursive walk safe


def depth_problem(value: Any, limit: int = MAX_DEPTH) -> str | None:
    """Why `value` is nested too deeply (naming where), or None. Iterative: safe for any input."""
    stack: list[tuple[Any, tuple[str, ...]]] = [(value, ())]
    while stack:
        node, path = stack.pop()
        if isinstance(node, Mapping):
            children: Any = node.items()
        elif isinstance(node, list):
            children = enumerate(node)
        else:
            continue
        if len(path) >= limit:
            shown = "/".join(path[:8])
            return f"nested deeper than {limit} levels at /{shown}/... ({len(path)} levels and more)"
        for key, child in children:
            stack.append((child, (*path, str(key))))
    return None


def leaf_paths(doc: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Key paths of every non-object value (what may be logged about a configuration: never its values)."""
    if isinstance(doc, Mapping) and doc:
        return [p for key in sorted(doc, key=str) for p in leaf_paths(doc[key], (*prefix, str(key)))]
    return [prefix]
