"""Manifest selection by platform, global Lifecycle with Selections, lifecycle normalisation."""

from __future__ import annotations

from typing import Any

import pytest

from edgewatch.recipe import (
    DEFAULT_TIMEOUTS,
    RecipeError,
    SkipIf,
    current_platform,
    greengrass_architecture,
    load_recipe,
    normalise_lifecycle,
    platform_matches,
    resolve_selections,
)

LINUX_AMD64 = {"os": "linux", "architecture": "amd64"}

PLATFORM_CASES = [
    ({}, LINUX_AMD64, True),
    ({"os": "linux"}, LINUX_AMD64, True),
    ({"os": "windows"}, LINUX_AMD64, False),
    ({"os": "Linux"}, LINUX_AMD64, False),  # exact values are case-sensitive
    ({"os": "linux", "architecture": "aarch64"}, LINUX_AMD64, False),
    ({"os": "*", "architecture": "amd64"}, LINUX_AMD64, True),
    ({"os": "/windows|linux/"}, LINUX_AMD64, True),
    ({"os": "/lin/"}, LINUX_AMD64, False),  # regex must match the whole value
    ({"architecture": "/arm.*|aarch64/"}, {"os": "linux", "architecture": "aarch64"}, True),
    ({"architecture": "/arm.*|aarch64/"}, LINUX_AMD64, False),
    ({"com.example.radio": "lora"}, LINUX_AMD64, False),  # key absent on the device
    ({"com.example.radio": "*"}, LINUX_AMD64, True),  # `*` also matches an absent key
    ({"com.example.radio": "/.+/"}, LINUX_AMD64, False),  # non-blank regex needs a value
    ({"com.example.radio": "lora"}, LINUX_AMD64 | {"com.example.radio": "lora"}, True),
    ({"os": "all"}, LINUX_AMD64, True),
]


@pytest.mark.parametrize(("requirement", "device", "expected"), PLATFORM_CASES)
def test_platform_matching(requirement: dict[str, str], device: dict[str, str], expected: bool) -> None:
    assert platform_matches(requirement, device) is expected


def recipe(manifests: list[dict[str, Any]], lifecycle: dict[str, Any] | None = None) -> Any:
    doc: dict[str, Any] = {
        "RecipeFormatVersion": "2020-01-25",
        "ComponentName": "com.example.Sel",
        "ComponentVersion": "1.0.0",
        "Manifests": manifests,
    }
    if lifecycle is not None:
        doc["Lifecycle"] = lifecycle
    return load_recipe(doc, name="sel.yaml")


def test_first_matching_manifest_wins() -> None:
    r = recipe(
        [
            {"Platform": {"os": "linux", "architecture": "aarch64"}, "Lifecycle": {"Run": "arm"}},
            {"Platform": {"os": "linux"}, "Lifecycle": {"Run": "linux"}},
            {"Lifecycle": {"Run": "any"}},
        ]
    )
    assert r.select(LINUX_AMD64).lifecycle.run.script == "linux"
    assert r.select({"os": "linux", "architecture": "aarch64"}).lifecycle.run.script == "arm"
    assert r.select({"os": "windows", "architecture": "amd64"}).lifecycle.run.script == "any"


def test_no_matching_manifest_is_an_error() -> None:
    r = recipe([{"Platform": {"os": "windows"}, "Lifecycle": {"Run": "x"}}])
    with pytest.raises(RecipeError, match=r"sel.yaml: Manifests: no manifest matches platform"):
        r.select(LINUX_AMD64)


def test_bad_platform_regex_is_an_error() -> None:
    r = recipe([{"Platform": {"os": "/(/"}, "Lifecycle": {"Run": "x"}}])
    with pytest.raises(RecipeError, match=r"Manifests\[0\]\.Platform"):
        r.select(LINUX_AMD64)


def test_current_platform_uses_greengrass_names() -> None:
    here = current_platform()
    assert here["os"] == "linux"
    assert here["architecture"] in {"amd64", "aarch64", "arm", "x86"}


@pytest.mark.parametrize(
    ("machine", "expected"),
    [("x86_64", "amd64"), ("AMD64", "amd64"), ("aarch64", "aarch64"), ("arm64", "aarch64"),
     ("armv7l", "arm"), ("armv6l", "arm"), ("i686", "x86"), ("riscv64", "riscv64")],
)  # fmt: skip
def test_architecture_names(machine: str, expected: str) -> None:
    assert greengrass_architecture(machine) == expected


GLOBAL = {
    "Setenv": {"MODE": "global"},
    "key1": {"Install": {"Script": "install-key1"}},
    "key2": {"Install": {"Script": "install-key2"}, "Shutdown": "shutdown-key2"},
    "all": {"Install": {"Script": "install-all"}},
    "Run": {"Script": {"key1": "run-key1", "all": "run-all"}, "Setenv": {"key1": "not a selection"}},
}


@pytest.mark.parametrize(
    ("selections", "install", "run", "shutdown"),
    [
        ([], "install-all", "run-all", None),  # no Selections means `all`
        (["all"], "install-all", "run-all", None),
        (["key1"], "install-key1", "run-key1", None),
        (["key2"], "install-key2", None, "shutdown-key2"),
        (["key2", "key1"], "install-key2", "run-key1", "shutdown-key2"),  # earlier selection wins
        (["nothing"], None, None, None),
    ],
)
def test_global_lifecycle_selections(
    selections: list[str], install: str | None, run: str | None, shutdown: str | None
) -> None:
    manifest: dict[str, Any] = {"Platform": {"os": "linux"}}
    if selections:
        manifest["Selections"] = selections
    lifecycle = recipe([manifest], GLOBAL).select(LINUX_AMD64).lifecycle
    assert lifecycle.setenv == {"MODE": "global"}
    assert (lifecycle.install.script if lifecycle.install else None) == install
    assert (lifecycle.run.script if lifecycle.run else None) == run
    assert (lifecycle.shutdown.script if lifecycle.shutdown else None) == shutdown
    if lifecycle.run:
        assert lifecycle.run.setenv == {"key1": "not a selection"}  # Setenv keys are never selections


def test_manifest_lifecycle_takes_precedence_over_global() -> None:
    r = recipe([{"Selections": ["key1"], "Lifecycle": {"Run": "own"}}], GLOBAL)
    lifecycle = r.select(LINUX_AMD64).lifecycle
    assert lifecycle.run.script == "own" and lifecycle.install is None and lifecycle.setenv == {}


def test_multi_level_selections() -> None:
    tree = {"all": {"Install": {"Script": {"key3": "three", "all": "five"}}}, "key1": {"Run": "one"}}
    assert resolve_selections(tree, ["all"]) == {"Install": {"Script": "five"}}
    assert resolve_selections(tree, ["key3", "all"]) == {"Install": {"Script": "three"}}
    assert resolve_selections(tree, ["key1"]) == {"Run": "one"}


def test_string_steps_get_defaults() -> None:
    lifecycle = normalise_lifecycle(
        {"Install": "i", "Startup": "s", "Shutdown": "d", "Recover": "r", "Bootstrap": "b"}, "r.yaml"
    )
    assert lifecycle.install.timeout == DEFAULT_TIMEOUTS["install"] == 120
    assert lifecycle.startup.timeout == 120
    assert lifecycle.shutdown.timeout == 15
    assert lifecycle.recover.timeout == 60
    assert lifecycle.bootstrap.timeout == 120
    assert lifecycle.install.requires_privilege is False and lifecycle.install.skipif is None


def test_run_has_no_default_timeout() -> None:
    assert normalise_lifecycle({"Run": "r"}, "r.yaml").run.timeout is None
    assert normalise_lifecycle({"run": {"script": "r", "timeout": "30"}}, "r.yaml").run.timeout == 30


def test_object_step_fields() -> None:
    lifecycle = normalise_lifecycle(
        {
            "Setenv": {"A": "1", "B": 2, "FLAG": True},
            "Install": {
                "Script": "pip install -r requirements.txt",
                "Skipif": "exists /opt/done",
                "Timeout": 300,
                "RequiresPrivilege": "true",
                "Setenv": {"B": "step", "C": 1.5},
            },
            "Run": {"Script": "app", "Skipif": "onpath   python3"},
        },
        "r.yaml",
    )
    install = lifecycle.install
    assert install.script == "pip install -r requirements.txt"
    assert install.skipif == SkipIf("exists", "/opt/done")
    assert install.timeout == 300 and install.requires_privilege is True
    assert lifecycle.setenv == {"A": "1", "B": "2", "FLAG": "true"}
    assert lifecycle.environment("Install") == {"A": "1", "B": "step", "FLAG": "true", "C": "1.5"}
    assert lifecycle.environment("run") == {"A": "1", "B": "2", "FLAG": "true"}
    assert lifecycle.run.skipif == SkipIf("onpath", "python3")


def test_unknown_lifecycle_key_is_ignored_with_warning(caplog: pytest.LogCaptureFixture) -> None:
    lifecycle = normalise_lifecycle({"Start": "x", "Run": "y"}, "r.yaml")
    assert lifecycle.run.script == "y"
    assert "Start" in caplog.text
