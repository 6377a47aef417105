"""The expert on courses like real tracks: the race-track family and F1TENTH-format maps.

Runs the privileged expert with default-density obstacles (10 per 90 m) on N held-out family
courses (episode seeds from the test split, 2,000,000 on: each draws its own course and
obstacles) and on F1TENTH maps built here in a temporary directory from held-out family courses
(occupancy PNG + YAML + centerline CSV whose widths overstate the walls by 0.1 m, as real maps'
often do; one has hairpins under 2 m radius, one is 1.9 m wide, one has 1.0-1.2 m bends).
Prints success, end reasons, mean speed and lap time per set. The LiDAR is cut to 61 beams:
the expert does not read it.

    uv run python benchmarks/expert_courses.py [--family-episodes 200] [--map-episodes 100]
"""

from __future__ import annotations

import collections
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tyro

from tinylidar_gym import TinyLidarEnv
from tinylidar_gym.data.rollout import run_episode
from tinylidar_gym.data.seeds import SPLITS
from tinylidar_gym.experts import Expert
from tinylidar_gym.sim.config import CourseConfig, FamilyConfig
from tinylidar_gym.tracks.family import family_course
from tinylidar_gym.tracks.map_export import write_f1tenth_map

TEST_SEED = SPLITS["test"].first


@dataclass
class Args:
    family_episodes: int = 200
    """Held-out family courses (one episode each)."""
    map_episodes: int = 100
    """Episodes (obstacle layouts) per built map."""
    first_seed: int = TEST_SEED
    """First episode seed (the test split: nothing is tuned on these)."""
    walls: str = "curves"
    """Family walls: 'curves' or 'grid'."""


def run_set(name: str, env: TinyLidarEnv, seeds: range) -> dict:
    expert = Expert(env.config)
    results = []
    t0 = time.perf_counter()
    for seed in seeds:
        results.append(run_episode(env, expert.policy_for(env), seed=seed))
    wall = time.perf_counter() - t0
    ok = [r for r in results if r["is_success"]]
    reasons = collections.Counter(r["end_reason"] for r in results)
    lengths = [env.layout.course.length_m] if env.config.course.kind == "map" else []
    line = (
        f"{name:<28} success {len(ok)}/{len(results)} ({len(ok) / len(results):.1%})  "
        f"mean speed {np.mean([r['mean_speed_mps'] for r in ok]) if ok else float('nan'):.2f} m/s"
        f"  lap time {np.mean([r['time_s'] for r in ok]) if ok else float('nan'):.1f} s"
        f"  ends {dict(reasons)}  ({wall:.0f} s wall)"
    )
    if lengths:
        line += f"  lap {lengths[0]:.0f} m"
    print(line, flush=True)
    failed = [
        (r["seed"], r["end_reason"], round(r["progress_m"], 1))
        for r in results
        if not ok or r not in ok
    ]
    if failed:
        print(f"    failures (seed, reason, progress m): {failed[:20]}")
    return {"success": len(ok), "episodes": len(results)}


def build_maps(directory: Path) -> list[tuple[str, Path]]:
    """Four maps from held-out family courses: hairpins under 2 m radius, a narrow 1.9 m
    track, a long one with coarse 0.1 m cells, and one with bends of 1.0-1.2 m radius."""
    specs = [
        (
            "hairpins",
            FamilyConfig(min_radius_m=1.3, hairpin_share=0.5),
            0.05,
            lambda c: 1 / c.curvature.max() < 2.0,
        ),
        ("narrow", FamilyConfig(half_width_range_m=(0.95, 0.95)), 0.05, lambda c: True),
        ("long", FamilyConfig(length_range_m=(450.0, 600.0)), 0.1, lambda c: True),
        (
            "tight",  # beyond the family: 1.0 m bends, 1.35 x the car's turning radius
            FamilyConfig(min_radius_m=1.0, half_width_range_m=(0.9, 1.1), hairpin_share=0.5),
            0.05,
            lambda c: 1 / c.curvature.max() < 1.2,
        ),
    ]
    maps = []
    for name, fam, res, accept in specs:
        seed = TEST_SEED
        while True:
            course = family_course(
                CourseConfig(kind="family", family=fam), np.random.default_rng(seed)
            )
            if accept(course):
                break
            seed += 1
        path = write_f1tenth_map(course, directory, name, resolution_m=res, csv_width_excess_m=0.1)
        maps.append((f"map '{name}' (r_min {1 / course.curvature.max():.2f} m)", path))
    return maps


def time_generation(first_seed: int) -> None:
    """Median time to draw one family course (the per-episode cost in collection)."""
    for walls, n in (("curves", 50), ("grid", 5)):
        cfg = CourseConfig(kind="family", family=FamilyConfig(walls=walls))  # type: ignore[arg-type]
        family_course(cfg, np.random.default_rng(first_seed))  # numba kernels loaded
        times = []
        for seed in range(first_seed, first_seed + n):
            t0 = time.perf_counter()
            family_course(cfg, np.random.default_rng(seed))
            times.append(time.perf_counter() - t0)
        print(f"family course draw ({walls} walls): median {1e3 * np.median(times):.0f} ms")


def main(args: Args) -> None:
    time_generation(args.first_seed)
    print("Expert with default-density obstacles (10 per 90 m); 61-beam LiDAR (unused by it).")
    seeds = range(args.first_seed, args.first_seed + args.family_episodes)
    if args.family_episodes:
        env = TinyLidarEnv(
            course={"kind": "family", "family": {"walls": args.walls}}, lidar={"n_beams": 61}
        )
        run_set(f"family ({args.walls} walls)", env, seeds)
    with tempfile.TemporaryDirectory() as tmp:
        for name, yaml_path in build_maps(Path(tmp)):
            env = TinyLidarEnv(
                course={"kind": "map", "map_yaml": str(yaml_path), "point_spacing_m": 0.25},
                lidar={"n_beams": 61},
            )
            if args.map_episodes:
                run_set(name, env, range(args.first_seed, args.first_seed + args.map_episodes))


if __name__ == "__main__":
    main(tyro.cli(Args))
