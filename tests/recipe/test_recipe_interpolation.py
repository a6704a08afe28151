"""Recipe variables: only the nucleus namespaces, loud errors, everything else left as written."""

from __future__ import annotations

import pytest

from edgewatch.recipe import (
    ComponentPaths,
    InterpolationContext,
    InterpolationError,
    find_variables,
    interpolate,
    interpolate_lifecycle,
    normalise_lifecycle,
)

CTX = InterpolationContext(
    component="com.example.App",
    kernel_root="/gg",
    thing_name="gw-01",
    paths={
        "com.example.App": ComponentPaths("/gg/art/App/1.0.0", "/gg/dec/App/1.0.0", "/gg/work/App"),
        "com.example.Dep": ComponentPaths("/gg/art/Dep/2.0.0", "/gg/dec/Dep/2.0.0", "/gg/work/Dep"),
        "com.example.Other": ComponentPaths("/gg/art/Other/1.0.0", "/gg/dec/Other/1.0.0", "/gg/work/Other"),
    },
    configuration={
        "com.example.App": {
            "Message": "hello world",
            "port": 8080,
            "ratio": 0.5,
            "whole": 5.0,
            "on": True,
            "none": None,
            "obj": {"b": [1, 2], "a": "x"},
            "list": ["a", "b"],
            "a/b": "slash",
            "m~n": "tilde",
            "": "empty key",
        },
        "com.example.Dep": {"server": {"port": 1883}},
        "com.example.Other": {"secret": "s"},
    },
    dependencies=frozenset({"com.example.Dep"}),
)

CASES = [
    # own paths and kernel/iot
    ("{artifacts:path}/app.py", "/gg/art/App/1.0.0/app.py"),
    ("{artifacts:decompressedPath}/app/main.py", "/gg/dec/App/1.0.0/app/main.py"),
    ("cd {work:path}", "cd /gg/work/App"),
    ("{kernel:rootPath}/ipc.socket", "/gg/ipc.socket"),
    ("--thing {iot:thingName}", "--thing gw-01"),
    ("dt/edgewatch/{iot:thingName}/metrics", "dt/edgewatch/gw-01/metrics"),
    # configuration values
    ('echo "{configuration:/Message}"', 'echo "hello world"'),
    ("{configuration:/port}", "8080"),
    ("{configuration:/ratio}", "0.5"),
    ("{configuration:/whole}", "5.0"),
    ("{configuration:/on}", "true"),
    ("{configuration:/none}", "null"),
    ("{configuration:/obj}", '{"b":[1,2],"a":"x"}'),
    ("{configuration:/obj/b}", "[1,2]"),
    ("{configuration:/obj/b/1}", "2"),
    ("{configuration:/list}", '["a","b"]'),
    ("{configuration:/a~1b}", "slash"),
    ("{configuration:/m~0n}", "tilde"),
    # direct dependency and the component's own name
    ("{com.example.Dep:artifacts:path}", "/gg/art/Dep/2.0.0"),
    ("{com.example.Dep:artifacts:decompressedPath}", "/gg/dec/Dep/2.0.0"),
    ("{com.example.Dep:work:path}", "/gg/work/Dep"),
    ("{com.example.Dep:configuration:/server/port}", "1883"),
    ("{com.example.App:configuration:/port}", "8080"),
    # several in one string
    ("{work:path}:{iot:thingName}:{configuration:/port}", "/gg/work/App:gw-01:8080"),
    # not recipe variables: left exactly as written
    ("${VAR:-x}", "${VAR:-x}"),
    ("${HOME}", "${HOME}"),
    ("echo ${PORT:-{configuration:/port}}", "echo ${PORT:-8080}"),
    ('{"json": {"a": 1}}', '{"json": {"a": 1}}'),
    ("{foo}", "{foo}"),
    ("{foo:bar}", "{foo:bar}"),
    ("{}", "{}"),
    ("{ artifacts:path}", "{ artifacts:path}"),
    ("{ARTIFACTS:path}", "{ARTIFACTS:path}"),
    ("awk '{print $1}'", "awk '{print $1}'"),
    ("{{artifacts:path}}", "{/gg/art/App/1.0.0}"),
    ("no braces at all", "no braces at all"),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_interpolation_table(text: str, expected: str) -> None:
    assert interpolate(text, CTX) == expected


ERROR_CASES = [
    ("{iot:thingNmae}", "unknown key 'thingNmae' in namespace iot"),
    ("{artifacts:Path}", "unknown key 'Path'"),
    ("{artifacts:}", "unknown key ''"),
    ("{work:dir}", "unknown key 'dir'"),
    ("{kernel:root}", "unknown key 'root'"),
    ("{configuration:/missing}", "has no value at '/missing'"),
    ("{configuration:/obj/c}", "has no value at '/obj/c'"),
    ("{configuration:/list/5}", "has no value"),
    ("{configuration:Message}", "must start with '/'"),
    ("{com.example.Other:configuration:/secret}", "not a direct dependency"),
    ("{com.example.Other:artifacts:path}", "not a direct dependency"),
    ("{com.example.Unknown:work:path}", "not a direct dependency"),
    ("{com.example.Dep:iot:thingName}", "cannot name a component"),
    ("{com.example.Dep:kernel:rootPath}", "cannot name a component"),
    ("{com.example.Dep:configuration:/nope}", "configuration of com.example.Dep has no value"),
]


@pytest.mark.parametrize(("text", "message"), ERROR_CASES)
def test_interpolation_errors_are_loud(text: str, message: str) -> None:
    with pytest.raises(InterpolationError) as caught:
        interpolate(f"run {text} now", CTX)
    assert message in str(caught.value)
    assert str(caught.value).startswith("com.example.App: recipe variable {")


def test_dependency_without_known_paths_is_an_error() -> None:
    ctx = InterpolationContext("c", "/gg", "t", dependencies=frozenset({"d"}))
    with pytest.raises(InterpolationError, match="no paths known for component d"):
        interpolate("{d:work:path}", ctx)
    with pytest.raises(InterpolationError, match="no configuration known for component d"):
        interpolate("{d:configuration:/x}", ctx)


def test_find_variables() -> None:
    assert find_variables("a {work:path} ${X:-1} {iot:thingName} {x}") == ["{work:path}", "{iot:thingName}"]


def test_interpolate_lifecycle_covers_scripts_skipif_and_setenv() -> None:
    lifecycle = normalise_lifecycle(
        {
            "Setenv": {"THING": "{iot:thingName}", "SHELL_LIKE": "${X:-y}"},
            "Install": {"Script": "cp {artifacts:path}/a .", "Skipif": "exists {work:path}/done"},
            "Run": {"Script": "run --port {configuration:/port}", "Setenv": {"P": "{configuration:/port}"}},
        },
        "r.yaml",
    )
    done = interpolate_lifecycle(lifecycle, CTX)
    assert done.setenv == {"THING": "gw-01", "SHELL_LIKE": "${X:-y}"}
    assert done.install.script == "cp /gg/art/App/1.0.0/a ."
    assert done.install.skipif.target == "/gg/work/App/done"
    assert done.run.script == "run --port 8080" and done.run.setenv == {"P": "8080"}
    assert done.run.timeout is None and done.install.timeout == 120
    # Equal inputs give equal results: the runtime compares them to decide on restarts.
    assert interpolate_lifecycle(lifecycle, CTX) == done
