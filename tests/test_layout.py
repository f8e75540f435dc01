"""The package layout stays true: stage packages, imports one way, no cycle.

`sahelwire.STAGES` declares the stages bottom to top. A module may import its own stage and
the stages below it, never one above; no import cycle anywhere (imports inside functions
count too: a lazy import hides a cycle, it does not remove one); only `sahelwire.cli`
imports the CLI library. Read with `ast`, nothing is imported or run.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from sahelwire import STAGES

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "sahelwire"
CLI_LIBRARIES = {"typer", "click"}


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules(root: Path) -> dict[str, Path]:
    return {module_name(p, root): p for p in sorted(root.rglob("*.py"))}


def imports_of(name: str, path: Path, known: set[str]) -> set[tuple[str, int]]:
    """(imported module, line) for every import of the package in one file."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[tuple[str, int]] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {(a.name, node.lineno) for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            # `from pkg import mod` imports the module pkg.mod when there is one.
            subs = {f"{target}.{a.name}" for a in node.names} & known
            found |= {(m, node.lineno) for m in subs or {target}}
    top = name.split(".")[0]
    return {(m, line) for m, line in found if m.split(".")[0] in (top, *CLI_LIBRARIES)}


def stage_of(module: str) -> int | None:
    """Index in STAGES, or None for the package root (which imports nothing)."""
    parts = module.split(".")
    return STAGES.index(parts[1]) if len(parts) > 1 else None


def layout_problems(root: Path) -> list[str]:
    mods = modules(root)
    known = set(mods)
    problems = []
    graph: dict[str, set[str]] = {}
    for name, path in mods.items():
        parts = name.split(".")
        if len(parts) == 2 and parts[1] not in STAGES:
            problems.append(f"{name}: module outside every stage package (STAGES: {STAGES})")
            continue
        edges = imports_of(name, path, known)
        graph[name] = {m for m, _ in edges if m in known and m != name}
        here = stage_of(name)
        for target, line in sorted(edges):
            if target.split(".")[0] in CLI_LIBRARIES:
                if parts[1:2] != ["cli"]:
                    problems.append(f"{name}:{line} imports {target}: only sahelwire.cli may")
                continue
            there = stage_of(target)
            if here is None and there is not None:
                problems.append(f"{name}:{line} imports {target}: the package root imports nothing")
            elif here is not None and there is not None and there > here:
                problems.append(
                    f"{name}:{line} imports {target} upward "
                    f"({STAGES[here]} may not import {STAGES[there]})"
                )
    problems += [f"import cycle: {' -> '.join(c)}" for c in cycles(graph)]
    return problems


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append([*sorted(component), sorted(component)[0]])

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_imports_run_one_way_and_there_is_no_cycle() -> None:
    assert layout_problems(PACKAGE) == []


def test_every_stage_is_a_package_that_says_what_it_produces_and_may_import() -> None:
    for stage in STAGES:
        init = PACKAGE / stage / "__init__.py"
        assert init.is_file(), f"stage {stage} has no package"
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))) or ""
        assert "May import" in doc or "may import" in doc, f"{init}: docstring lacks its imports"


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "sahelwire"
    for rel, text in {"__init__.py": "", **files}.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (
            {
                "io/__init__.py": "",
                "io/a.py": "from sahelwire.schema import b\n",
                "schema/__init__.py": "",
                "schema/b.py": "",
            },
            "upward (io may not import schema)",
        ),
        (
            {
                "raw/__init__.py": "",
                "raw/a.py": "def f():\n    from . import b\n",
                "raw/b.py": "from sahelwire.raw.a import f\n",
            },
            "import cycle: sahelwire.raw.a",
        ),
        ({"raw/__init__.py": "", "raw/a.py": "import typer\n"}, "only sahelwire.cli may"),
        ({"loose.py": ""}, "module outside every stage package"),
    ],
)
def test_the_check_catches_what_it_guards(
    tmp_path: Path, files: dict[str, str], expected: str
) -> None:
    problems = layout_problems(_tree(tmp_path, files))
    assert any(expected in p for p in problems), problems
