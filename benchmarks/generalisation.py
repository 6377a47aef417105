"""How well each driver generalises to courses it was not trained on: one table, one command.

Rows: the learned models given with ``--models NAME=DIR`` (e.g. a BC model trained on the
default course, one trained on the course family, DAgger on the family), then always the
privileged expert and follow-the-gap. Columns: the default course, held-out family courses
(every episode seed draws its own course) and F1TENTH-format maps built here in a temporary
directory from held-out family courses (``map_export``; ``hairpins`` has bends under 2 m
radius), each with default-density obstacles and without obstacles. Every row drives the same
episode seeds in a column: the test split, 2,000,000 on, which nothing is tuned on.

A cell is the success rate, the mean speed over all episodes and the lap time relative to the
expert's on the seeds both finished (the expert's row gives its own mean lap time in seconds).

    uv run python benchmarks/generalisation.py --models bc-default=models/bc \\
        bc-family=models/bc-family [--family-courses 100] [--default-episodes 100] \\
        [--map-episodes 20] [--update-readme]
    uv run python benchmarks/generalisation.py --quick   # smoke test: a few episodes per column
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import tyro

from tinylidar_gym.data.atomic import atomic_write_text
from tinylidar_gym.data.evaluation import BatchPolicy, drive_seeds, expert_batch_policy
from tinylidar_gym.data.seeds import SPLITS
from tinylidar_gym.experts.follow_the_gap import FollowTheGap
from tinylidar_gym.sim.config import CourseConfig, EnvConfig, FamilyConfig, ObstacleConfig
from tinylidar_gym.tracks.family import family_course
from tinylidar_gym.tracks.map_export import write_f1tenth_map

TEST_SEED = SPLITS["test"].first
README_START = "<!-- generalisation-table:start -->"
README_END = "<!-- generalisation-table:end -->"
EXPERT, FTG = "expert", "follow-the-gap"


@dataclass(frozen=True)
class MapSpec:
    """A map drawn from the family: the first test seed whose course ``accept`` takes."""

    family: FamilyConfig
    accept: Callable[[Any], bool] = lambda course: True
    resolution_m: float = 0.05


MAPS: dict[str, MapSpec] = {
    "hairpins": MapSpec(FamilyConfig(hairpin_share=0.5), lambda c: 1.0 / c.curvature.max() < 2.0),
    "narrow": MapSpec(FamilyConfig(half_width_range_m=(0.95, 0.95))),
    "long": MapSpec(FamilyConfig(length_range_m=(450.0, 600.0)), resolution_m=0.1),
}
"""Maps the benchmark can build (``--maps``): hairpins under 2 m radius, a 1.9 m wide track,
a 450-600 m lap rasterised at 0.1 m."""


@dataclass
class Args:
    models: list[str] = field(default_factory=list)
    """Learned rows as NAME=MODEL_DIR (a directory written by train-bc / train-dagger)."""
    default_episodes: int = 100
    """Episodes (obstacle layouts) on the default course."""
    family_courses: int = 100
    """Held-out family courses (one episode each)."""
    map_episodes: int = 20
    """Episodes (obstacle layouts) per built map."""
    maps: tuple[str, ...] = ("hairpins", "narrow")
    """Which maps to build (see MAPS): hairpins, narrow, long."""
    with_obstacles: bool = True
    """Columns with default-density obstacles."""
    without_obstacles: bool = True
    """Columns without obstacles."""
    baselines: tuple[str, ...] = (EXPERT, FTG)
    """Rows besides the models: the expert (always: laps are compared with its) and
    follow-the-gap."""
    first_seed: int = TEST_SEED
    """First episode seed of every column."""
    num_envs: int = 16
    """Cars driven at once."""
    quick: bool = False
    """Smoke test: 1 episode per column, the hairpin map only, short family courses."""
    update_readme: bool = False
    """Replace the table between the generalisation-table markers in README.md."""


@dataclass(frozen=True)
class Column:
    """One set of episodes: an env config and its seeds (the same for every row)."""

    name: str
    env: EnvConfig
    seeds: list[int]


def parse_models(specs: list[str]) -> list[tuple[str, Path]]:
    """``["NAME=DIR", ...]`` -> ``[(name, dir)]``; a clear error for a malformed or missing one."""
    rows = []
    for spec in specs:
        name, sep, directory = spec.partition("=")
        if not sep or not name or not directory:
            raise SystemExit(f"--models takes NAME=MODEL_DIR, got {spec!r}.")
        if not (Path(directory) / "model.json").is_file():
            raise SystemExit(f"{directory} is not a model directory (no model.json): train first.")
        if name in (EXPERT, FTG) or name in [r[0] for r in rows]:
            raise SystemExit(f"row name {name!r} is taken; choose another.")
        rows.append((name, Path(directory)))
    return rows


def build_maps(names: tuple[str, ...], directory: Path, short: bool = False) -> dict[str, Path]:
    """Write each named map (see :data:`MAPS`) into ``directory``; returns name -> YAML path.

    ``short`` draws 150-220 m laps (the smoke test)."""
    unknown = [n for n in names if n not in MAPS]
    if unknown:
        raise SystemExit(f"unknown map(s) {unknown}; choose from {sorted(MAPS)}.")
    paths = {}
    for name in names:
        spec = MAPS[name]
        fam = spec.family
        if short:
            fam = dataclasses.replace(fam, length_range_m=(150.0, 220.0))
        seed = TEST_SEED
        while True:
            course = family_course(
                CourseConfig(kind="family", family=fam), np.random.default_rng(seed)
            )
            if spec.accept(course):
                break
            seed += 1
        paths[name] = write_f1tenth_map(
            course, directory, name, resolution_m=spec.resolution_m, csv_width_excess_m=0.1
        )
    return paths


def make_columns(args: Args, maps: dict[str, Path]) -> list[Column]:
    """Every column of the table, in order: default, family, maps; with, then without obstacles."""
    family: dict[str, Any] = {"kind": "family"}
    if args.quick:
        family["family"] = FamilyConfig(length_range_m=(150.0, 220.0))
    courses: list[tuple[str, CourseConfig, int]] = [
        ("default course", CourseConfig(), args.default_episodes),
        (f"{args.family_courses} family courses", CourseConfig(**family), args.family_courses),
    ]
    courses += [
        (f"map {name}", CourseConfig(kind="map", map_yaml=str(path), point_spacing_m=0.25),
         args.map_episodes)
        for name, path in maps.items()
    ]  # fmt: skip
    settings = [("", ObstacleConfig())] if args.with_obstacles else []
    if args.without_obstacles:
        settings.append((", no obstacles", ObstacleConfig(count=0)))
    return [
        Column(name + suffix, EnvConfig(course=course, obstacles=obst),
               list(range(args.first_seed, args.first_seed + n)))
        for suffix, obst in settings
        for name, course, n in courses
        if n > 0
    ]  # fmt: skip


def driver(name: str, model_dir: Path | None, env: EnvConfig) -> BatchPolicy:
    """The batch policy of one row on one column's env."""
    if name == EXPERT:
        return expert_batch_policy(env)
    if name == FTG:
        ftg = FollowTheGap(env)
        return lambda obs, venv: np.stack([ftg(o) for o in obs])
    from trainers.export import load_policy

    policy = load_policy(model_dir)  # type: ignore[arg-type]
    if policy.n_beams != env.lidar.n_beams:
        raise SystemExit(
            f"{model_dir} reads {policy.n_beams} beams; the env has {env.lidar.n_beams}."
        )
    return lambda obs, venv: policy(obs)


def run_cell(policy: BatchPolicy, column: Column, name: str, num_envs: int) -> dict[str, Any]:
    """Drive one row on one column; per-seed outcomes and the column's figures."""
    with tempfile.TemporaryDirectory() as tmp:
        results = drive_seeds(
            policy, column.seeds, Path(tmp), column.env, "test", name, num_envs,
            record=False, progress=False,
        )  # fmt: skip
    return {
        "success": {r["seed"]: bool(r["success"]) for r in results},
        "lap_s": {r["seed"]: r["metrics"]["duration_s"] for r in results if r["success"]},
        "speed": float(np.mean([r["metrics"]["mean_speed_mps"] for r in results])),
        "reasons": dict(Counter(r["reason"] for r in results)),
    }


def format_cell(cell: dict[str, Any], expert: dict[str, Any] | None) -> str:
    """``success% · speed m/s · lap`` where lap is seconds for the expert, else x expert's."""
    rate = np.mean(list(cell["success"].values()))
    text = f"{rate:.0%} · {cell['speed']:.2f} m/s"
    if expert is None:
        if cell["lap_s"]:
            text += f" · {np.mean(list(cell['lap_s'].values())):.1f} s"
        return text
    both = [s for s in cell["lap_s"] if s in expert["lap_s"]]
    if both:
        ratio = np.mean([cell["lap_s"][s] / expert["lap_s"][s] for s in both])
        text += f" · ×{ratio:.2f}"
    return text


def format_table(rows: list[str], columns: list[Column], cells: dict) -> str:
    """A markdown table: one line per row, one column per :class:`Column`."""
    head = "| driver | " + " | ".join(f"{c.name} ({len(c.seeds)})" for c in columns) + " |"
    lines = [head, "|---|" + "---:|" * len(columns)]
    for row in rows:
        texts = [
            format_cell(cells[row, c.name], None if row == EXPERT else cells[EXPERT, c.name])
            for c in columns
        ]
        lines.append(f"| {row} | " + " | ".join(texts) + " |")
    return "\n".join(lines)


def update_readme(text: str, readme: Path = Path("README.md")) -> None:
    """Replace what lies between the generalisation-table markers in ``readme`` (atomically)."""
    doc = readme.read_text()
    if README_START not in doc or README_END not in doc:
        raise SystemExit(f"{readme} lacks the markers {README_START} ... {README_END}.")
    head, rest = doc.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    atomic_write_text(readme, f"{head}{README_START}\n{text}\n{README_END}{tail}")


def main(args: Args) -> str:
    """Run every row on every column; print (and optionally write) the table and return it."""
    if args.quick:
        args = dataclasses.replace(
            args, default_episodes=1, family_courses=1, map_episodes=1, maps=("hairpins",)
        )
    learned = parse_models(args.models)
    unknown = set(args.baselines) - {EXPERT, FTG}
    if unknown:
        raise SystemExit(f"unknown baseline(s) {sorted(unknown)}; choose from {EXPERT}, {FTG}.")
    rows = [name for name, _ in learned] + [EXPERT] + [b for b in args.baselines if b == FTG]
    dirs: dict[str, Path | None] = {**dict(learned), EXPERT: None, FTG: None}
    cells: dict[tuple[str, str], dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        columns = make_columns(args, build_maps(args.maps, Path(tmp), short=args.quick))
        for column in columns:
            for row in [EXPERT] + [r for r in rows if r != EXPERT]:
                t0 = time.perf_counter()
                policy = driver(row, dirs[row], column.env)
                cells[row, column.name] = cell = run_cell(policy, column, row, args.num_envs)
                print(
                    f"{column.name:<36} {row:<16} {format_cell(cell, None)}"
                    f"  {cell['reasons']}  ({time.perf_counter() - t0:.0f} s)",
                    flush=True,
                )
    table = format_table(rows, columns, cells)
    print(table)
    if args.update_readme:
        update_readme(table)
    return table


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main(tyro.cli(Args))
