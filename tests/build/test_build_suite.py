"""`edgewatch build`: GDK layout, reproducible zips, schema checks, gdk-config generation."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import zipfile
from pathlib import Path

import pytest
import yaml

from edgewatch.build.cli import add_build_parser, main
from edgewatch.build.errors import BuildError
from edgewatch.build.gdkconfig import component_config, load_suite_config
from edgewatch.build.suite import build_components, build_gdk_component, check_layout, sync_configs
from edgewatch.recipe import MAX_RECIPE_BYTES, RecipeError, load_recipe, validate_gdk_config

REPO = Path(__file__).resolve().parents[2]

SUITE_CONFIG = {
    "component": {
        "com.example": {
            "author": "Example Inc",
            "version": "2.3.4",
            "build": {"build_system": "custom", "custom_build_command": ["true"]},
            "publish": {"bucket": "example-bucket", "region": "eu-west-1"},
        }
    },
    "gdk_version": "1.1.0",
}

RECIPE = """\
RecipeFormatVersion: '2020-01-25'
ComponentName: com.example.Alpha
ComponentVersion: '0.0.1'
ComponentDescription: A test component.
ComponentPublisher: placeholder
ComponentConfiguration:
  DefaultConfiguration:
    Interval: 5
Manifests:
  - Platform:
      os: linux
    Artifacts:
      - URI: s3://anything/alpha.zip
        Unarchive: ZIP
      - URI: docker:example/image:1
    Lifecycle:
      Run: |
        export PYTHONPATH={artifacts:decompressedPath}/alpha
        exec python3 -m alpha --interval {configuration:/Interval} --x ${X:-1}
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def add_component(root: Path, folder: str, name: str, recipe: str) -> Path:
    write(root / "recipes" / f"{name}.yaml", recipe)
    component = root / "components" / folder
    component.mkdir(parents=True)
    (component / "recipe.yaml").symlink_to(Path("..", "..", "recipes", f"{name}.yaml"))
    return component


@pytest.fixture
def suite(tmp_path: Path) -> Path:
    root = tmp_path / "suite"
    write(root / "gdk-config.json", json.dumps(SUITE_CONFIG))
    component = add_component(root, "alpha", "com.example.Alpha", RECIPE)
    write(component / "requirements.txt", "psutil==7.2.2\n")
    write(component / "alpha" / "__init__.py", "")
    write(component / "alpha" / "__main__.py", "print('alpha')\n")
    write(component / "tests" / "test_alpha.py", "def test(): pass\n")
    write(component / "alpha" / "__pycache__" / "x.cpython-311.pyc", "junk")
    write(component / ".hidden", "x")
    write(root / "src" / "edgewatch_shared" / "__init__.py", "")
    write(root / "src" / "edgewatch_shared" / "messages.py", "X = 1\n")
    write(root / "src" / "edgewatch_shared" / "schemas" / "m.json", "{}\n")
    write(root / "src" / "edgewatch_shared" / "__pycache__" / "m.pyc", "junk")
    sync_configs(root)
    return root


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_gdk_layout_and_recipe_rewrites(suite: Path) -> None:
    (built,) = build_components(suite)
    out = suite / "greengrass-build"
    assert built.recipe_file == out / "recipes" / "com.example.Alpha-2.3.4.yaml"
    assert built.artifact_files == (out / "artifacts" / "com.example.Alpha" / "2.3.4" / "alpha.zip",)
    doc = yaml.safe_load(built.recipe_file.read_text())
    assert doc["ComponentName"] == "com.example.Alpha"
    assert doc["ComponentVersion"] == "2.3.4"
    assert doc["ComponentPublisher"] == "Example Inc"
    uris = [a["URI"] for a in doc["Manifests"][0]["Artifacts"]]
    assert uris == ["s3://BUCKET_NAME/COMPONENT_NAME/COMPONENT_VERSION/alpha.zip", "docker:example/image:1"]
    # Scripts survive byte for byte (no interpolation at build time).
    assert "${X:-1}" in doc["Manifests"][0]["Lifecycle"]["Run"]
    assert "{configuration:/Interval}" in doc["Manifests"][0]["Lifecycle"]["Run"]
    assert load_recipe(built.recipe_file).version == "2.3.4"


def test_zip_holds_component_and_shared_package_only(suite: Path) -> None:
    (built,) = build_components(suite)
    with zipfile.ZipFile(built.artifact_files[0]) as archive:
        names = archive.namelist()
        infos = archive.infolist()
    assert names == sorted(names)
    assert names == [
        "alpha/__init__.py",
        "alpha/__main__.py",
        "edgewatch_shared/__init__.py",
        "edgewatch_shared/messages.py",
        "edgewatch_shared/schemas/m.json",
        "requirements.txt",
    ]
    assert {info.date_time for info in infos} == {(1980, 1, 1, 0, 0, 0)}
    assert {info.external_attr >> 16 for info in infos} == {0o100644}


def test_build_is_reproducible(suite: Path, tmp_path: Path) -> None:
    (first,) = build_components(suite)
    zip_hash, recipe_hash = sha(first.artifact_files[0]), sha(first.recipe_file)
    assert first.artifact_sha256 == zip_hash
    # Touch every source file and change its mtime: the bytes must not change.
    for path in (suite / "components").rglob("*"):
        if path.is_file() and not path.is_symlink():
            os.utime(path, (1_900_000_000, 1_900_000_000))
    (second,) = build_components(suite)
    assert (sha(second.artifact_files[0]), sha(second.recipe_file)) == (zip_hash, recipe_hash)
    # A copy of the tree elsewhere gives the same bytes too.
    copy = tmp_path / "copy"
    shutil.copytree(suite, copy, symlinks=True, ignore=shutil.ignore_patterns("greengrass-build"))
    (third,) = build_components(copy)
    assert sha(third.artifact_files[0]) == zip_hash
    # And a real change does change it.
    write(suite / "components" / "alpha" / "alpha" / "__main__.py", "print('beta')\n")
    (fourth,) = build_components(suite)
    assert sha(fourth.artifact_files[0]) != zip_hash


def test_executable_bit_is_kept(suite: Path) -> None:
    script = write(suite / "components" / "alpha" / "run.sh", "#!/bin/sh\n")
    script.chmod(0o775)
    (built,) = build_components(suite)
    with zipfile.ZipFile(built.artifact_files[0]) as archive:
        assert archive.getinfo("run.sh").external_attr >> 16 == 0o100755


def test_rebuild_replaces_previous_version(suite: Path) -> None:
    build_components(suite)
    config = json.loads((suite / "gdk-config.json").read_text())
    config["component"]["com.example"]["version"] = "2.3.5"
    write(suite / "gdk-config.json", json.dumps(config))
    build_components(suite)
    recipes = sorted(p.name for p in (suite / "greengrass-build" / "recipes").iterdir())
    assert recipes == ["com.example.Alpha-2.3.5.yaml"]
    assert [p.name for p in (suite / "greengrass-build" / "artifacts" / "com.example.Alpha").iterdir()] == [
        "2.3.5"
    ]


def test_select_by_name_or_folder_and_unknown(suite: Path) -> None:
    add_component(suite, "beta", "com.example.Beta", RECIPE.replace("Alpha", "Beta").replace("alpha", "beta"))
    sync_configs(suite)
    assert [b.name for b in build_components(suite)] == ["com.example.Alpha", "com.example.Beta"]
    assert [b.name for b in build_components(suite, ["beta"])] == ["com.example.Beta"]
    assert [b.name for b in build_components(suite, ["com.example.Alpha"])] == ["com.example.Alpha"]
    with pytest.raises(BuildError, match="unknown component 'gamma'"):
        build_components(suite, ["gamma"])


def test_out_dir(suite: Path, tmp_path: Path) -> None:
    (built,) = build_components(suite, out_dir=tmp_path / "out")
    assert built.recipe_file == tmp_path / "out" / "recipes" / "com.example.Alpha-2.3.4.yaml"


def test_invalid_recipe_fails_with_file_and_path(suite: Path) -> None:
    write(suite / "recipes" / "com.example.Alpha.yaml", RECIPE.replace("Unarchive: ZIP", "Unarchive: RAR"))
    with pytest.raises(
        RecipeError, match=r"recipes/com\.example\.Alpha\.yaml: Manifests\[0\]\.Artifacts\[0\]\.Unarchive"
    ):
        build_components(suite)


def test_recipe_must_reference_the_built_zip(suite: Path) -> None:
    write(suite / "recipes" / "com.example.Alpha.yaml", RECIPE.replace("alpha.zip", "other.zip"))
    with pytest.raises(BuildError, match=r"no artifact URI names alpha\.zip"):
        build_components(suite)


def test_oversized_built_recipe_is_refused(suite: Path) -> None:
    big = RECIPE.replace("A test component.", "x" * MAX_RECIPE_BYTES)
    write(suite / "recipes" / "com.example.Alpha.yaml", big)
    with pytest.raises(RecipeError, match="over the 16000-byte Greengrass limit"):
        build_components(suite)
    assert not (suite / "greengrass-build" / "recipes" / "com.example.Alpha-2.3.4.yaml").exists()


def test_generated_gdk_configs_are_valid_and_in_sync(suite: Path) -> None:
    config_path = suite / "components" / "alpha" / "gdk-config.json"
    doc = json.loads(config_path.read_text())
    validate_gdk_config(doc, str(config_path))
    entry = doc["component"]["com.example.Alpha"]
    assert entry["author"] == "Example Inc" and entry["version"] == "2.3.4"
    assert entry["publish"] == {"bucket": "example-bucket", "region": "eu-west-1"}
    assert entry["build"]["build_system"] == "custom"
    assert "--gdk-component" in " ".join(entry["build"]["custom_build_command"])
    assert check_layout(suite) == []
    write(config_path, config_path.read_text().replace("2.3.4", "9.9.9"))
    assert any("out of sync" in p for p in check_layout(suite))
    assert sync_configs(suite) == [config_path]
    assert check_layout(suite) == [] and sync_configs(suite) == []


def test_layout_check_wants_symlinks_into_recipes(suite: Path) -> None:
    link = suite / "components" / "alpha" / "recipe.yaml"
    text = link.read_text()
    link.unlink()
    link.write_text(text)
    assert any("symlink" in p and "not a copy" in p for p in check_layout(suite))
    link.unlink()
    link.symlink_to(suite / "recipes" / "com.example.Alpha.yaml")
    assert any("must be relative" in p for p in check_layout(suite))


def test_suite_config_must_validate(suite: Path) -> None:
    write(suite / "gdk-config.json", json.dumps({"component": {}, "gdk_version": "1.0.0"}))
    with pytest.raises(BuildError, match=r"gdk-config\.json: component"):
        build_components(suite)
    config = json.loads(json.dumps(SUITE_CONFIG))
    config["component"]["com.example"]["version"] = "NEXT_PATCH"
    write(suite / "gdk-config.json", json.dumps(config))
    with pytest.raises(BuildError, match="exact semantic version"):
        build_components(suite)


def test_gdk_custom_build_mode_writes_gdk_layout_in_component(suite: Path) -> None:
    component = suite / "components" / "alpha"
    built = build_gdk_component(component)
    out = component / "greengrass-build"
    assert built.recipe_file == out / "recipes" / "recipe.yaml"
    assert built.artifact_files == (out / "artifacts" / "com.example.Alpha" / "2.3.4" / "alpha.zip",)
    suite_built = build_components(suite)[0]
    assert sha(built.artifact_files[0]) == sha(suite_built.artifact_files[0])
    # The component's own greengrass-build never ends up in the zip.
    rebuilt = build_components(suite)[0]
    assert sha(rebuilt.artifact_files[0]) == sha(suite_built.artifact_files[0])


def test_gdk_mode_refuses_stale_component_config(suite: Path) -> None:
    config_path = suite / "components" / "alpha" / "gdk-config.json"
    write(config_path, config_path.read_text().replace("2.3.4", "0.0.1"))
    with pytest.raises(BuildError, match="out of sync"):
        build_gdk_component(suite / "components" / "alpha")


def test_cli_parser_and_main(suite: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    parser = argparse.ArgumentParser(prog="edgewatch")
    add_build_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["build", "alpha", "--repo-root", str(suite)])
    assert args.func(args) == 0
    assert (suite / "greengrass-build" / "recipes" / "com.example.Alpha-2.3.4.yaml").is_file()
    assert main(["--repo-root", str(suite), "--check"]) == 0
    assert main(["--repo-root", str(suite), "nope"]) == 1
    monkeypatch.chdir(suite / "components" / "alpha")
    assert main(["--gdk-component", "."]) == 0
    assert (suite / "components" / "alpha" / "greengrass-build" / "recipes" / "recipe.yaml").is_file()


def test_repository_gdk_config_is_the_suite_source_of_truth() -> None:
    suite = load_suite_config(REPO)
    validate_gdk_config(component_config(suite, "com.edgewatch.Anything"), "generated")
    assert check_layout(REPO) == [], "run `edgewatch build --sync-config` and keep recipe.yaml symlinks"
