"""The import graph of the whole tree: layers point down only, and no module import cycles.

Layers: experiments -> trainers -> tinylidar_gym, and inside tinylidar_gym the simulator core
(sim/) imports neither gymnasium nor torch. Every import counts, also one inside a function: a
lazy import still ties the two modules together.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("tinylidar_gym", "trainers", "experiments")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}


def _resolve(name: str, module: str, path: Path, level: int) -> str:
    if level == 0:
        return name
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    base = package[: len(package) - (level - 1)]
    return ".".join([*base, name] if name else base)


def imports_of(module: str, path: Path, known: set[str]) -> set[str]:
    """The modules ``module`` imports (the most specific known module for a ``from`` import)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(node.module or "", module, path, node.level)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in known else base)
    return found


def graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {m: imports_of(m, p, known) for m, p in modules.items()}


def _top(name: str) -> str:
    return name.split(".")[0]


def upward_imports(g: dict[str, set[str]]) -> list[str]:
    """Every import that breaks the layering, as 'importer -> imported'."""
    bad = []
    for module, targets in g.items():
        for target in targets:
            if _top(module) == "tinylidar_gym" and _top(target) in ("trainers", "experiments"):
                bad.append(f"{module} -> {target}")
            elif _top(module) == "trainers" and _top(target) == "experiments":
                bad.append(f"{module} -> {target}")
            elif module.startswith("tinylidar_gym.sim") and _top(target) in ("gymnasium", "torch"):
                bad.append(f"{module} -> {target}")
    return sorted(bad)


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """The import cycles between the tree's own modules (one cycle per strongly connected
    component of more than one module, or a module importing itself)."""
    inner = {m: {t for t in ts if t in g and t != m} for m, ts in g.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(inner[v]):
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
                found.append(sorted(component))

    for v in sorted(inner):
        if v not in index:
            visit(v)
    return found


def test_the_tree_imports_point_down_only() -> None:
    assert upward_imports(graph()) == []


def test_the_tree_has_no_import_cycle() -> None:
    assert cycles(graph()) == []


def test_the_checks_catch_an_upward_import_and_a_cycle() -> None:
    g = {
        "tinylidar_gym.data.a": {"trainers.models", "numpy"},
        "tinylidar_gym.sim.b": {"gymnasium", "tinylidar_gym.sim.c"},
        "tinylidar_gym.sim.c": {"tinylidar_gym.sim.b"},
        "trainers.models": {"experiments.collect"},
        "experiments.collect": set(),
    }
    assert upward_imports(g) == [
        "tinylidar_gym.data.a -> trainers.models",
        "tinylidar_gym.sim.b -> gymnasium",
        "trainers.models -> experiments.collect",
    ]
    assert cycles(g) == [["tinylidar_gym.sim.b", "tinylidar_gym.sim.c"]]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from . import b", "pkg.sub.b"),
        ("from .. import c", "pkg.c"),
        ("from .b import x", "pkg.sub.b"),
        ("import pkg.c", "pkg.c"),
    ],
)
def test_relative_imports_resolve_to_modules(tmp_path: Path, source: str, expected: str) -> None:
    path = tmp_path / "a.py"
    path.write_text(source + "\n")
    known = {"pkg.sub.a", "pkg.sub.b", "pkg.c"}
    assert expected in imports_of("pkg.sub.a", path, known)
