"""Recipe validation: vendored schemas, GDK-style lower-cased keys, clear error messages, size limit."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from edgewatch.recipe import MAX_RECIPE_BYTES, RecipeError, check_recipe_size, load_recipe
from edgewatch.recipe.schema import load_schema, lower_keys

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "greengrass"


def base() -> dict[str, Any]:
    return {
        "RecipeFormatVersion": "2020-01-25",
        "ComponentName": "com.example.Hello",
        "ComponentVersion": "1.0.0",
        "ComponentPublisher": "Me",
        "Manifests": [{"Platform": {"os": "linux"}, "Lifecycle": {"Run": "echo hi"}}],
    }


@pytest.mark.parametrize("name", ["recipe_schema.json", "config_schema.json"])
def test_vendored_schemas_equal_shared_copies(name: str) -> None:
    if not SHARED.is_dir():
        pytest.skip("../shared/greengrass is not present")
    assert load_schema(name) == json.loads((SHARED / name).read_text(encoding="utf-8"))


def test_lower_keys_is_recursive_and_leaves_values() -> None:
    assert lower_keys({"A": [{"B": "Value"}], "C": {"D": "E"}}) == {"a": [{"b": "Value"}], "c": {"d": "E"}}


def test_keys_are_case_insensitive_like_gdk() -> None:
    doc = {
        "recipeFormatVersion": "2020-01-25",
        "COMPONENTNAME": "com.example.Hello",
        "componentversion": "1.0.0",
        "manifests": [{"lifecycle": {"run": "echo hi"}}],
    }
    recipe = load_recipe(doc)
    assert recipe.name == "com.example.Hello"
    assert recipe.select({"os": "linux"}).lifecycle.run is not None


def test_original_case_is_kept_for_configuration() -> None:
    doc = base() | {"ComponentConfiguration": {"DefaultConfiguration": {"MixedCase": {"InnerKey": 1}}}}
    assert load_recipe(doc).default_configuration == {"MixedCase": {"InnerKey": 1}}


def mutate(change: Any) -> dict[str, Any]:
    doc = base()
    change(doc)
    return doc


ERROR_CASES = [
    ("unknown top-level key", lambda d: d.update(ComponentNmae="x"), "(top level)", "ComponentNmae"),
    ("missing version", lambda d: d.pop("ComponentVersion"), "(top level)", "ComponentVersion"),
    (
        "bad format version",
        lambda d: d.update(RecipeFormatVersion="2021-01-01"),
        "RecipeFormatVersion",
        "enum",
    ),
    ("bad name", lambda d: d.update(ComponentName="has space"), "ComponentName", "pattern"),
    ("not semver", lambda d: d.update(ComponentVersion="1.0"), "ComponentVersion", "semantic version"),
    (
        "run is a number",
        lambda d: d["Manifests"][0]["Lifecycle"].update(Run=5),
        "Manifests[0].Lifecycle.Run",
        "expected",
    ),
    (
        "bad skipif",
        lambda d: d["Manifests"][0]["Lifecycle"].update(Install={"Script": "x", "Skipif": "maybe x"}),
        "Manifests[0].Lifecycle.Install.Skipif",
        "",
    ),
    (
        "bad timeout",
        lambda d: d["Manifests"][0]["Lifecycle"].update(Install={"Script": "x", "Timeout": "soon"}),
        "Manifests[0].Lifecycle.Install.Timeout",
        "positive number",
    ),
    (
        "step without script",
        lambda d: d["Manifests"][0]["Lifecycle"].update(Install={"Timeout": 5}),
        "Manifests[0].Lifecycle.Install",
        "",
    ),
    (
        "dependency without version",
        lambda d: d.update(ComponentDependencies={"com.example.B": {"DependencyType": "SOFT"}}),
        "ComponentDependencies.com.example.B",
        "VersionRequirement",
    ),
    (
        "bad unarchive",
        lambda d: d["Manifests"][0].update(Artifacts=[{"URI": "s3://b/a.tar", "Unarchive": "TAR"}]),
        "Manifests[0].Artifacts[0].Unarchive",
        "TAR",
    ),
    (
        "startup and run",
        lambda d: d["Manifests"][0]["Lifecycle"].update(Startup="x"),
        "Manifests[0].Lifecycle",
        "not both",
    ),
    (
        "setenv is a string",
        lambda d: d["Manifests"][0]["Lifecycle"].update(Setenv="A=1"),
        "Manifests[0].Lifecycle.Setenv",
        "map",
    ),
]


@pytest.mark.parametrize(("label", "change", "path", "words"), ERROR_CASES, ids=[c[0] for c in ERROR_CASES])
def test_validation_errors_name_file_path_and_problem(label: str, change: Any, path: str, words: str) -> None:
    with pytest.raises(RecipeError) as caught:
        load_recipe(mutate(change), name="recipes/x.yaml")
    message = str(caught.value)
    assert message.startswith(f"recipes/x.yaml: {path}"), message
    assert words in message
    assert caught.value.path.startswith(path)


def test_errors_from_a_file_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("RecipeFormatVersion: '2020-01-25'\nComponentName: x\nManifests: []\n")
    with pytest.raises(
        RecipeError, match=r"bad.yaml: \(top level\): missing required field\(s\): ComponentVersion"
    ):
        load_recipe(path)


def test_unquoted_yaml_date_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(
        "RecipeFormatVersion: 2020-01-25\nComponentName: x\nComponentVersion: '1.0.0'\nManifests: []\n"
    )
    with pytest.raises(RecipeError, match="RecipeFormatVersion"):
        load_recipe(path)


def test_yaml_syntax_error_has_line(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text("a: [1, 2\nb: 3\n")
    with pytest.raises(RecipeError, match=r"r.yaml: line \d+ column \d+: invalid YAML"):
        load_recipe(path)


def test_json_recipe_file(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_text(json.dumps(base()))
    assert load_recipe(path).version == "1.0.0"


def test_other_suffix_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "r.txt"
    path.write_text("{}")
    with pytest.raises(RecipeError, match="must end in"):
        load_recipe(path)


def test_size_limit() -> None:
    assert check_recipe_size("x" * MAX_RECIPE_BYTES, "r") == MAX_RECIPE_BYTES
    with pytest.raises(RecipeError, match="16001 bytes, over the 16000-byte"):
        check_recipe_size("x" * (MAX_RECIPE_BYTES + 1), "r")
    # Bytes, not characters: multi-byte UTF-8 counts fully.
    with pytest.raises(RecipeError):
        check_recipe_size("é" * 8001, "r")


def test_oversized_recipe_file_is_refused(tmp_path: Path) -> None:
    doc = base() | {"ComponentDescription": "x" * MAX_RECIPE_BYTES}
    path = tmp_path / "big.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(RecipeError, match=r"big\.json: recipe is .* bytes"):
        load_recipe(path)


def test_recipe_fields_are_normalised() -> None:
    doc = base() | {
        "ComponentDescription": "d",
        "ComponentConfiguration": {
            "DefaultConfiguration": {
                "accessControl": {
                    "aws.greengrass.ipc.pubsub": {"p1": {"operations": ["*"], "resources": ["t"]}}
                },
                "x": 1,
            }
        },
        "ComponentDependencies": {
            "com.example.Hard": {"VersionRequirement": "^1.0.0"},
            "com.example.Soft": {"versionRequirement": ">=2.0.0", "dependencyType": "soft"},
        },
    }
    doc["Manifests"][0]["Artifacts"] = [
        {"URI": "s3://bucket/p/app.zip", "Unarchive": "zip", "Permission": {"Execute": "all"}}
    ]
    recipe = load_recipe(doc)
    assert recipe.publisher == "Me" and recipe.description == "d"
    assert recipe.dependencies["com.example.Hard"] == ("^1.0.0", "HARD")
    assert recipe.dependencies["com.example.Soft"] == (">=2.0.0", "SOFT")
    assert recipe.access_control == {
        "aws.greengrass.ipc.pubsub": {"p1": {"operations": ["*"], "resources": ["t"]}}
    }
    (artifact,) = recipe.manifests[0].artifacts
    assert (artifact.file_name, artifact.unpack_dir_name, artifact.unarchive) == ("app.zip", "app", "ZIP")
    assert (artifact.read, artifact.execute) == ("OWNER", "ALL")
