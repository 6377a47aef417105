"""The expert as a teacher for any course: family courses and F1TENTH-format maps, with
default-density obstacles. (benchmarks/expert_courses.py measures it on hundreds of courses.)"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tinylidar_gym import TinyLidarEnv
from tinylidar_gym.data.rollout import run_episode
from tinylidar_gym.experts import Expert
from tinylidar_gym.sim.config import CourseConfig, FamilyConfig
from tinylidar_gym.sim.course import project_points
from tinylidar_gym.tracks.family import family_course
from tinylidar_gym.tracks.map_export import write_f1tenth_map

SHORT = {"length_range_m": [150.0, 220.0]}


def test_expert_finishes_family_courses_with_obstacles():
    env = TinyLidarEnv(course={"kind": "family", "family": SHORT}, lidar={"n_beams": 61})
    expert = Expert(env.config)
    results = [run_episode(env, expert.policy_for(env), seed=s) for s in range(3)]
    assert all(r["is_success"] for r in results), [r["end_reason"] for r in results]
    assert env.layout.obstacles.count == round(env.layout.course.length_m / 9.0)  # 10 per 90 m
    assert np.mean([r["mean_speed_mps"] for r in results]) > 4.5


@pytest.fixture(scope="module")
def hairpin_map(tmp_path_factory) -> tuple[Path, object]:
    """A map with hairpins under 2 m radius whose CSV overstates the widths by 0.1 m."""
    fam = FamilyConfig(hairpin_share=0.6, chicane_share=0.2, **SHORT)
    seed = 0
    while True:
        course = family_course(CourseConfig(kind="family", family=fam), np.random.default_rng(seed))
        if 1.0 / course.curvature.max() < 2.0:
            break
        seed += 1
    directory = tmp_path_factory.mktemp("maps")
    return write_f1tenth_map(course, directory, "hairpins", csv_width_excess_m=0.1), course


def test_map_widths_come_from_the_walls_not_the_csv(hairpin_map):
    yaml_path, family = hairpin_map
    env = TinyLidarEnv(
        course={"kind": "map", "map_yaml": str(yaml_path), "point_spacing_m": 0.25},
        lidar={"n_beams": 61},
    )
    env.reset(seed=0)
    course = env.layout.course
    # The CSV says family width + 0.1 m; the walls are within a cell of the family's.
    _, d = project_points(family, course.centerline)
    assert np.abs(d).max() < 0.01
    excess = np.median(course.half_width_left) - np.median(family.half_width_left)
    assert abs(excess) < 0.05
    # Every generated obstacle keeps off the occupancy walls (not just the CSV's).
    corners = env.layout.obstacles.corners.reshape(-1, 2)
    walls = course.walls
    a, e = walls[:, :2], walls[:, 2:] - walls[:, :2]
    rel = corners[:, None, :] - a[None]
    u = np.clip((rel * e).sum(-1) / np.maximum((e * e).sum(-1), 1e-12), 0, 1)
    dist = np.linalg.norm(rel - u[..., None] * e, axis=-1).min(axis=1)
    assert dist.min() >= env.config.obstacles.wall_margin_m - 0.02


def test_expert_finishes_a_hairpin_map_with_obstacles(hairpin_map):
    yaml_path, _ = hairpin_map
    env = TinyLidarEnv(
        course={"kind": "map", "map_yaml": str(yaml_path), "point_spacing_m": 0.25},
        lidar={"n_beams": 61},
    )
    expert = Expert(env.config)
    results = [run_episode(env, expert.policy_for(env), seed=s) for s in range(3)]
    assert all(r["is_success"] for r in results), [r["end_reason"] for r in results]
