"""No function in the project runs past 80 lines (numba kernels excepted): a longer one is
several steps that want names of their own."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("tinylidar_gym", "trainers", "experiments", "benchmarks", "tools", "tests")
CHECKED = [p for name in PACKAGES for p in sorted((ROOT / name).rglob("*.py"))]
MAX_LINES = 80


def long_functions(path: Path, limit: int = MAX_LINES) -> list[str]:
    """'file:line name (n lines)' for every function of ``path`` longer than ``limit`` lines,
    numba kernels (``@njit``/``@jit``) excepted."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        kernel = any("jit" in ast.unparse(d) for d in node.decorator_list)
        length = node.end_lineno - node.lineno + 1
        if length > limit and not kernel:
            found.append(f"{path.name}:{node.lineno} {node.name} ({length} lines)")
    return found


def test_no_long_functions() -> None:
    assert [f for p in CHECKED for f in long_functions(p)] == []


def test_the_check_sees_a_long_function_but_not_a_kernel(tmp_path: Path) -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(90))
    path = tmp_path / "m.py"
    path.write_text(f"def long():\n{body}\n\n\n@njit(cache=True)\ndef kernel():\n{body}\n")
    assert long_functions(path) == ["m.py:1 long (91 lines)"]
