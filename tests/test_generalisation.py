"""The generalisation benchmark (benchmarks/generalisation.py) on a tiny setting, so it cannot
rot: the expert alone, one episode per column."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "generalisation.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("generalisation_bench", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their annotations through it
    spec.loader.exec_module(module)
    return module


def test_table_has_every_column_and_goes_between_the_readme_markers(bench, tmp_path):
    args = bench.Args(quick=True, baselines=("expert",), without_obstacles=False)
    table = bench.main(args)
    head, rule, expert = table.splitlines()
    assert head.split(" | ")[1:] == [
        "default course (1)",
        "1 family courses (1)",
        "map hairpins (1) |",
    ]
    assert expert.startswith("| expert | 100% · ")  # the expert finishes its own courses
    assert expert.count(" s |") == 3  # and gives its lap time in seconds in every column

    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{bench.README_START}\nold\n{bench.README_END}\nrest\n")
    bench.update_readme(table, readme)
    assert readme.read_text() == (
        f"intro\n{bench.README_START}\n{table}\n{bench.README_END}\nrest\n"
    )


def test_columns_share_seeds_and_obstacles_are_switched_off(bench):
    args = bench.Args(default_episodes=3, family_courses=5, map_episodes=2)
    columns = bench.make_columns(args, {"hairpins": Path("hairpins.yaml")})
    assert [c.name for c in columns] == [
        "default course",
        "5 family courses",
        "map hairpins",
        "default course, no obstacles",
        "5 family courses, no obstacles",
        "map hairpins, no obstacles",
    ]
    assert columns[1].seeds == list(range(2_000_000, 2_000_005))  # test split
    assert columns[1].env.course.kind == "family" and columns[1].env.course.seed is None
    assert [c.env.obstacles.count for c in columns] == [None] * 3 + [0] * 3


def test_bad_model_argument_names_the_fix(bench, tmp_path):
    with pytest.raises(SystemExit, match="NAME=MODEL_DIR"):
        bench.parse_models(["models/bc"])
    with pytest.raises(SystemExit, match="no model.json"):
        bench.parse_models([f"bc={tmp_path}"])
    with pytest.raises(SystemExit, match="unknown map"):
        bench.build_maps(("spiral",), tmp_path)
