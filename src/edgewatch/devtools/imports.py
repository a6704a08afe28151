"""The import graph of the code base: no cycles, and no product import of a test harness.

`python -m edgewatch.devtools.imports [--repo-root DIR]` reads every module under `src/` and under
`components/*/src/` with `ast` (nothing is imported) and exits 1 when

- modules import each other in a cycle (printed as a chain `a -> b -> a`). An import inside a
  function counts: deferring it hides a cycle without removing it (the layering is still circular).
  Only an import under `if TYPE_CHECKING:` does not, since it never runs;
- product code imports a test harness (HARNESSES) anywhere.

Importing a submodule also runs its package's `__init__`; that implicit edge is not counted, so a
package may re-export its submodules.
"""

from __future__ import annotations

import argparse
import ast
import itertools
import logging
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

# Test harnesses and test doubles: tests and benchmarks use them, product code must not.
HARNESSES: tuple[str, ...] = ("edgewatch.local.testing", "edgewatch_testkit")


@dataclass(frozen=True)
class Import:
    """One import statement's target inside the code base."""

    source: str
    target: str
    line: int
    module_level: bool  # False: inside a function (runs when called)
    runs: bool = True  # False: under `if TYPE_CHECKING:`


@dataclass(frozen=True)
class Problem:
    """What the check found; `text` is one line for the report."""

    kind: str  # "cycle" or "harness"
    text: str


def module_files(roots: Iterable[Path]) -> dict[str, Path]:
    """Module name -> file for every .py under each root (a folder that holds top-level packages)."""
    found: dict[str, Path] = {}
    for root in roots:
        for path in sorted(root.rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            if any(not part.isidentifier() for part in parts):
                continue  # not importable by that name (e.g. a folder called my-tool)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            if parts:
                found[".".join(parts)] = path
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _statements(tree: ast.Module) -> Iterable[tuple[ast.Import | ast.ImportFrom, bool, bool]]:
    """Every import statement with (module_level, type_checking_only)."""

    def walk(nodes: Sequence[ast.stmt], module_level: bool, typing_only: bool) -> Iterable[
        tuple[ast.Import | ast.ImportFrom, bool, bool]
    ]:
        for node in nodes:
            if isinstance(node, ast.Import | ast.ImportFrom):
                yield node, module_level, typing_only
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                yield from walk(node.body, False, typing_only)
            elif isinstance(node, ast.If):
                yield from walk(node.body, module_level, typing_only or _is_type_checking(node.test))
                yield from walk(node.orelse, module_level, typing_only)
            else:
                # Class bodies, try/with/for/while/match blocks run at import time like the module.
                for field in ("body", "orelse", "finalbody", "handlers", "cases"):
                    children = getattr(node, field, None)
                    if isinstance(children, list):
                        stmts = [c for c in children if isinstance(c, ast.stmt)]
                        stmts += [s for c in children if not isinstance(c, ast.stmt) for s in getattr(c, "body", [])]
                        yield from walk(stmts, module_level, typing_only)

    yield from walk(tree.body, True, False)


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    package = module.split(".") if is_package else module.split(".")[:-1]
    base = package[: len(package) - (node.level - 1)] if node.level > 1 else package
    return ".".join([*base, *([node.module] if node.module else [])])


def imports_of(source: str, module: str, is_package: bool, known: Mapping[str, object], filename: str) -> list[Import]:
    """The imports of one module's source that name modules in `known` (or harnesses)."""
    tree = ast.parse(source, filename=filename)
    found: list[Import] = []

    def add(name: str, node: ast.stmt, module_level: bool, runs: bool) -> None:
        # `from a.b import c` names module a.b.c when that exists, else a name in a.b.
        target = name
        while target and target not in known:
            target = target.rpartition(".")[0]
        if not target:  # outside the code base: only a harness matters (the roots may not hold it)
            target = next((h for h in HARNESSES if name == h or name.startswith(f"{h}.")), "")
        if target and target != module:
            found.append(Import(module, target, node.lineno, module_level, runs))

    for node, module_level, typing_only in _statements(tree):
        names = [alias.name for alias in node.names]
        if isinstance(node, ast.ImportFrom):
            base = _absolute(node, module, is_package)
            names = [f"{base}.{name}" if base else name for name in names]
        for name in names:
            add(name, node, module_level, not typing_only)
    return found


def _is_harness(module: str) -> bool:
    return any(module == h or module.startswith(f"{h}.") for h in HARNESSES)


def find_cycles(edges: Iterable[Import]) -> list[list[str]]:
    """One chain per cycle group (strongly connected set of modules), e.g. ["a", "b", "a"]."""
    graph: dict[str, set[str]] = {}
    for edge in edges:
        graph.setdefault(edge.source, set()).add(edge.target)
        graph.setdefault(edge.target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    # Tarjan's algorithm, iterative so that a deep graph cannot exhaust the recursion limit.
    for start in sorted(graph):
        if start in index:
            continue
        work: list[tuple[str, list[str]]] = [(start, sorted(graph[start]))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, pending = work[-1]
            if pending:
                nxt = pending.pop(0)
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, sorted(graph[nxt])))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    groups.append(sorted(group))
    return [_chain(group, graph) for group in sorted(groups)]


def _chain(group: list[str], graph: Mapping[str, set[str]]) -> list[str]:
    """A shortest cycle through the group's first module, as a chain that ends where it starts."""
    members = set(group)
    start = group[0]
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following: list[str] = []
        for node in frontier:
            for nxt in sorted(graph[node] & members):
                if nxt == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [start, *reversed(path[:-1]), start]
                if nxt not in previous:
                    previous[nxt] = node
                    following.append(nxt)
        frontier = following
    return [*group, group[0]]  # not reached for a strongly connected group


def source_roots(repo_root: Path) -> list[Path]:
    """`src/` and every component's `src/`."""
    return [repo_root / "src", *sorted((repo_root / "components").glob("*/src"))]


def check(roots: Sequence[Path]) -> tuple[list[Problem], int, int]:
    """(problems, modules read, internal imports found) for the modules under `roots`."""
    files = module_files(roots)
    edges: list[Import] = []
    problems: list[Problem] = []
    for module, path in sorted(files.items()):
        try:
            source = path.read_text(encoding="utf-8")
            found = imports_of(source, module, path.name == "__init__.py", files, str(path))
        except (OSError, SyntaxError, UnicodeDecodeError) as exc:
            problems.append(Problem("unreadable", f"{path}: cannot be read as Python: {exc}"))
            continue
        edges.extend(found)
        if not _is_harness(module):
            problems.extend(
                Problem("harness", f"{path}:{edge.line}: product module {module} imports test harness {edge.target}")
                for edge in found
                if _is_harness(edge.target)
            )
    running = [edge for edge in edges if edge.runs]
    for chain in find_cycles(running):
        problems.append(Problem("cycle", "import cycle: " + describe_chain(chain, running)))
    return problems, len(files), len(edges)


def describe_chain(chain: Sequence[str], edges: Iterable[Import]) -> str:
    """`a -> b (line 3 of a) -> a (line 9 of b, in a function)`: where each step imports the next."""
    first: dict[tuple[str, str], Import] = {}
    for edge in sorted(edges, key=lambda e: (not e.module_level, e.line)):
        first.setdefault((edge.source, edge.target), edge)
    steps = [chain[0]]
    for source, target in itertools.pairwise(chain):
        edge = first.get((source, target))
        if edge is None:
            steps.append(target)
        else:
            inside = "" if edge.module_level else ", in a function"
            steps.append(f"{target} (line {edge.line} of {source}{inside})")
    return " -> ".join(steps)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m edgewatch.devtools.imports",
        description="Fail on an import cycle, or on product code importing a test harness.",
    )
    parser.add_argument("--repo-root", type=Path, default=Path.cwd(), help="the repository (default: here)")
    parser.add_argument("roots", nargs="*", type=Path, help="source roots instead of src/ and components/*/src/")
    args = parser.parse_args(argv)
    roots = args.roots or source_roots(args.repo_root)
    missing = [str(root) for root in roots if not root.is_dir()]
    if missing:
        sys.stderr.write(f"imports: no such source folder: {', '.join(missing)}\n")
        return 2
    problems, modules, imports = check(roots)
    for problem in problems:
        sys.stdout.write(problem.text + "\n")
    if problems:
        sys.stdout.write(f"{len(problems)} problem(s) in {modules} modules\n")
        return 1
    sys.stdout.write(f"{modules} modules, {imports} internal imports: no cycles, no harness in product code\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
