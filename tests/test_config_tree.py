"""edgewatch.config_tree: JSON pointers, merge and reset with the nucleus's semantics, depth limits."""

from __future__ import annotations

import copy

import pytest

from edgewatch.config_tree import (
    MAX_DEPTH,
    ConfigPointerError,
    changed_paths,
    deep_merge,
    depth_problem,
    leaf_paths,
    lookup,
    merge_at,
    merge_at_replacing,
    parse_pointer,
    reset,
)

DEFAULTS = {"interval": 10, "rules": [{"name": "HighCpu"}], "slack": {"channel": "#ops", "retries": 3}}


@pytest.mark.parametrize(
    ("pointer", "tokens"),
    [
        ("", []),
        ("/", []),
        ("/a", ["a"]),
        ("/a/b/0", ["a", "b", "0"]),
        ("/a~1b", ["a/b"]),  # RFC 6901: ~1 is "/"
        ("/m~0n", ["m~n"]),  # ... and ~0 is "~"
        ("/~01", ["~1"]),  # ~0 is unescaped after ~1, so "~01" is "~1", not "/"
        ("/a//b", ["a", "", "b"]),  # an empty key is a key
    ],
)
def test_parse_pointer(pointer: str, tokens: list[str]) -> None:
    assert parse_pointer(pointer) == tokens


def test_a_pointer_must_start_with_a_slash() -> None:
    with pytest.raises(ValueError, match="must start with '/': 'interval'"):
        parse_pointer("interval")


def test_lookup_walks_objects_and_list_indexes() -> None:
    doc = {"a": {"b": [10, {"c": "x"}]}, "a/b": 1}
    assert lookup(doc, []) is doc
    assert lookup(doc, ["a", "b", "1", "c"]) == "x"
    assert lookup(doc, parse_pointer("/a~1b")) == 1


@pytest.mark.parametrize(("path", "named"), [(["a", "missing"], "/a/missing"), (["a", "b", "2"], "/a/b/2"),
                                             (["a", "b", "x"], "/a/b/x"), (["a", "b", "0", "c"], "/a/b/0/c")])
def test_lookup_names_the_first_missing_step(path: list[str], named: str) -> None:
    with pytest.raises(ConfigPointerError) as caught:
        lookup({"a": {"b": [10]}}, path)
    assert caught.value.args == (named,)


def test_deep_merge_merges_objects_and_replaces_lists_and_scalars_whole() -> None:
    base = copy.deepcopy(DEFAULTS)
    merged = deep_merge(base, {"slack": {"retries": 5}, "rules": [{"name": "DiskFull"}], "new": {"k": 1}})
    assert merged == {"interval": 10, "rules": [{"name": "DiskFull"}],
                      "slack": {"channel": "#ops", "retries": 5}, "new": {"k": 1}}
    assert base == DEFAULTS  # inputs are never changed
    assert deep_merge({"a": {"b": 1}}, {"a": 5}) == {"a": 5}  # a scalar replaces an object
    assert deep_merge({"a": 5}, {"a": {"b": 1}}) == {"a": {"b": 1}}
    assert deep_merge({"a": 1}, {"a": None}) == {"a": None}  # null is a value, not a removal


def test_deep_merge_result_shares_nothing_with_its_inputs() -> None:
    update = {"slack": {"extra": [1, 2]}}
    merged = deep_merge(DEFAULTS, update)
    merged["slack"]["extra"].append(3)
    merged["rules"][0]["name"] = "changed"
    assert update == {"slack": {"extra": [1, 2]}}
    assert DEFAULTS["rules"] == [{"name": "HighCpu"}]


def test_merge_at_creates_intermediate_objects() -> None:
    assert merge_at({"a": 1}, ["x", "y"], {"z": 2}) == {"a": 1, "x": {"y": {"z": 2}}}
    assert merge_at({"x": {"y": {"keep": 1}}}, ["x", "y"], {"z": 2}) == {"x": {"y": {"keep": 1, "z": 2}}}
    assert merge_at({"a": 1}, [], {"b": 2}) == {"a": 1, "b": 2}
    with pytest.raises(ValueError, match="whole configuration must be an object"):
        merge_at({"a": 1}, [], [1, 2])


def test_merge_at_replacing_replaces_an_object_whole() -> None:
    doc = {"slack": {"channel": "#ops", "retries": 3}}
    assert merge_at_replacing(doc, ["slack"], {"channel": "#dev"}) == {"slack": {"channel": "#dev"}}
    assert merge_at_replacing(doc, ["new", "deep"], 1) == {**doc, "new": {"deep": 1}}
    assert doc == {"slack": {"channel": "#ops", "retries": 3}}


def test_reset_puts_a_pointer_back_to_its_default() -> None:
    current = {"interval": 60, "rules": [], "slack": {"channel": "#dev", "retries": 9}, "extra": {"x": 1}}
    assert reset(current, "/slack/channel", DEFAULTS)["slack"] == {"channel": "#ops", "retries": 9}
    # An object is reset whole (keys the default does not have go away), not merged.
    assert reset({"slack": {"channel": "#dev", "extra": 1}}, "/slack", DEFAULTS) == {"slack": DEFAULTS["slack"]}
    assert reset(current, "/rules", DEFAULTS)["rules"] == [{"name": "HighCpu"}]


def test_reset_removes_what_the_default_does_not_have() -> None:
    current = {"interval": 60, "extra": {"x": 1, "y": 2}}
    assert reset(current, "/extra/x", DEFAULTS) == {"interval": 60, "extra": {"y": 2}}
    assert reset(current, "/extra", DEFAULTS) == {"interval": 60}
    assert reset(current, "/absent/deeper", DEFAULTS) == current  # nothing there, nothing to do
    assert reset(current, "/interval/deeper", DEFAULTS) == current  # a scalar has no children


def test_reset_of_the_whole_document_gives_the_defaults() -> None:
    for pointer in ("", "/"):
        result = reset({"interval": 60}, pointer, DEFAULTS)
        assert result == DEFAULTS and result is not DEFAULTS
        result["slack"]["channel"] = "changed"
        assert DEFAULTS["slack"]["channel"] == "#ops"


def test_changed_paths_names_the_deepest_differences() -> None:
    old = {"a": {"b": 1, "c": 2}, "d": [1], "gone": 0}
    new = {"a": {"b": 1, "c": 3}, "d": [1, 2], "added": {"x": 1}}
    assert changed_paths(old, new) == [("a", "c"), ("added",), ("d",), ("gone",)]
    assert changed_paths(old, copy.deepcopy(old)) == []
    assert changed_paths(1, 2) == [()]


def test_leaf_paths_lists_keys_never_values() -> None:
    doc = {"slack": {"webhookUrl": "https://hooks.example/SECRET", "retries": 3}, "rules": [1], "empty": {}}
    paths = leaf_paths(doc)
    assert paths == [("empty",), ("rules",), ("slack", "retries"), ("slack", "webhookUrl")]
    assert "SECRET" not in repr(paths)


def nested(depth: int, leaf: object = 1) -> object:
    doc = leaf
    for i in range(depth):
        doc = {f"k{i}": doc} if i % 2 else [doc]
    return doc


def test_depth_problem_accepts_the_limit_and_names_where_it_is_exceeded() -> None:
    assert depth_problem(DEFAULTS) is None
    assert depth_problem(nested(MAX_DEPTH)) is None
    problem = depth_problem(nested(MAX_DEPTH + 1))
    assert problem is not None
    assert problem.startswith(f"nested deeper than {MAX_DEPTH} levels at /")
    assert problem.endswith(f"/... ({MAX_DEPTH} levels and more)")
    shallow = depth_problem({"a": {"b": {"c": 1}}}, limit=2)
    assert shallow == "nested deeper than 2 levels at /a/b/... (2 levels and more)"


def test_depth_problem_is_iterative_far_beyond_the_recursion_limit() -> None:
    problem = depth_problem(nested(100_000))
    assert problem is not None and "(64 levels and more)" in problem
