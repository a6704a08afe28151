"""The import graph: no cycles, no test harness in product code, and a light `edgewatch` parser."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

from edgewatch.devtools.imports import HARNESSES, check, main, source_roots

REPO = Path(__file__).resolve().parents[1]


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def problems_in(root: Path) -> list[str]:
    problems, _, _ = check([root])
    return [p.text for p in problems]


def test_the_repository_has_no_cycle_and_no_harness_in_product_code() -> None:
    problems, modules, imports = check(source_roots(REPO))
    assert modules > 100 and imports > 300  # it read the code base, not an empty folder
    assert [p.text for p in problems] == []


def test_a_cycle_fails_with_the_chain(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    root = write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/a.py": "from pkg import b\n",
        "pkg/b.py": "import json\nfrom pkg.c import thing\n",
        "pkg/c.py": "import pkg.a\nthing = 1\n",
        "pkg/d.py": "from pkg import a\n",  # imports into the cycle but is not part of it
    })
    assert main([str(root)]) == 1
    out = capsys.readouterr().out
    assert "import cycle: pkg.a -> pkg.b (line 1 of pkg.a) -> pkg.c (line 2 of pkg.b) -> pkg.a (line 1 of pkg.c)" in out
    assert "pkg.d" not in out


def test_an_import_deferred_into_a_function_is_still_a_cycle(tmp_path: Path) -> None:
    root = write(tmp_path, {
        "model.py": "import platforms\n",
        "platforms.py": "def select():\n    from model import Recipe\n    return Recipe\n",
    })
    assert problems_in(root) == [
        "import cycle: model -> platforms (line 1 of model) -> model (line 2 of platforms, in a function)"
    ]


def test_type_checking_imports_and_package_reexports_are_not_cycles(tmp_path: Path) -> None:
    root = write(tmp_path, {
        "pkg/__init__.py": "from pkg.low import x\nfrom pkg.high import y\n",  # re-exports its submodules
        "pkg/low.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.high import y\nx = 1\n",
        "pkg/high.py": "from .low import x\ny = x\n",
    })
    assert problems_in(root) == []


def test_relative_imports_are_resolved(tmp_path: Path) -> None:
    root = write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/sub/__init__.py": "from . import leaf\n",
        "pkg/sub/leaf.py": "from ..top import value\n",
        "pkg/top.py": "from pkg.sub import leaf\nvalue = 1\n",
    })
    assert problems_in(root) == [
        "import cycle: pkg.sub.leaf -> pkg.top (line 1 of pkg.sub.leaf) -> pkg.sub.leaf (line 1 of pkg.top)"
    ]


def test_product_code_must_not_import_a_harness_even_in_a_function(tmp_path: Path) -> None:
    assert "edgewatch.local.testing" in HARNESSES and "edgewatch_testkit" in HARNESSES
    root = write(tmp_path, {
        "product/__init__.py": "",
        "product/cli.py": "def run():\n    from edgewatch.local.testing import connect_client\n    return 1\n",
        "product/other.py": "import edgewatch_testkit.fake_slack as fake\n",
        "edgewatch_testkit/__init__.py": "",
        "edgewatch_testkit/helper.py": "import product.cli\n",  # a harness may use the product
    })
    found = problems_in(root)
    assert len(found) == 2, found
    assert found[0].endswith("cli.py:2: product module product.cli imports test harness edgewatch.local.testing")
    assert found[1].endswith("other.py:1: product module product.other imports test harness edgewatch_testkit")


def test_unreadable_source_is_named(tmp_path: Path) -> None:
    root = write(tmp_path, {"broken.py": "def f(:\n"})
    (found,) = problems_in(root)
    assert "broken.py: cannot be read as Python" in found


def test_the_command_passes_on_a_clean_tree_and_refuses_a_missing_folder(tmp_path: Path) -> None:
    root = write(tmp_path, {"a.py": "import b\n", "b.py": "import json\n"})
    result = subprocess.run([sys.executable, "-m", "edgewatch.devtools.imports", str(root)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 modules, 1 internal imports: no cycles" in result.stdout
    assert main([str(tmp_path / "absent")]) == 2


HEAVY = ("boto3", "botocore", "awsiot", "awscrt", "jsonschema", "edgewatch.local.runtime", "edgewatch.build.suite")


def test_building_the_cli_parser_imports_no_heavy_module() -> None:
    code = ("import json, sys, edgewatch.cli\nedgewatch.cli.build_parser()\n"
            "sys.stdout.write(json.dumps(sorted(sys.modules)))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert result.returncode == 0, result.stderr
    loaded = set(json.loads(result.stdout))
    assert "edgewatch.build.cli" in loaded  # the check looks at a real parser build
    heavy = [h for h in HEAVY if h in loaded]
    # Only the build's parser module, never the build itself (recipe schema, YAML, zip writer).
    heavy += sorted(m for m in loaded if m.startswith("edgewatch.build.") and m != "edgewatch.build.cli")
    assert heavy == [], f"building the parser imports {heavy}: import them inside the command's handler"


def test_edgewatch_help_lists_every_command() -> None:
    result = subprocess.run([sys.executable, "-m", "edgewatch.cli", "--help"], capture_output=True, text=True,
                            timeout=60, cwd=REPO)
    assert result.returncode == 0, result.stderr
    for command in ("local", "build", "publish", "deploy", "provision", "fleet"):
        assert command in result.stdout


def test_benchmarks_import_nothing_from_tests_and_shadow_no_package() -> None:
    packages = {pkg.name for root in source_roots(REPO) for pkg in root.iterdir() if (pkg / "__init__.py").is_file()}
    assert {"alert_router", "edgewatch", "edgewatch_testkit"} <= packages
    for path in sorted((REPO / "bench").glob("*.py")):
        assert path.stem not in packages, f"{path} shadows the package {path.stem} (bench/ is on sys.path)"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            bad = [n for n in names if n == "tests" or n.startswith("tests.")]
            assert not bad, f"{path}:{node.lineno} imports {bad[0]}: move what it needs to src/edgewatch_testkit"
