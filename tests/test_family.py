"""The race-track family: deterministic, within its stated ranges, drivable and never
self-overlapping; reachable from the env config and drawn from the episode seed."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest

from tinylidar_gym.sim.config import ConfigError, CourseConfig, FamilyConfig, VehicleConfig
from tinylidar_gym.sim.course import curvature
from tinylidar_gym.tracks.family import family_course
from tinylidar_gym.tracks.wall_widths import widths_from_walls

FAMILY = CourseConfig(kind="family")
SEEDS = range(24)


@pytest.fixture(scope="module")
def courses():
    return [family_course(FAMILY, np.random.default_rng(s)) for s in SEEDS]


def signed_curvature(points: np.ndarray) -> np.ndarray:
    a, c = np.roll(points, 1, axis=0), np.roll(points, -1, axis=0)
    cross = (points - a)[:, 0] * (c - a)[:, 1] - (points - a)[:, 1] * (c - a)[:, 0]
    return np.sign(cross) * curvature(points)


def crossing_pairs(segs_a: np.ndarray, segs_b: np.ndarray) -> np.ndarray:
    """(A, B) bool: do the segments properly cross (interiors intersect)?"""
    p, r = segs_a[:, None, :2], segs_a[:, None, 2:] - segs_a[:, None, :2]
    q, s = segs_b[None, :, :2], segs_b[None, :, 2:] - segs_b[None, :, :2]

    def cross(u, v):
        return u[..., 0] * v[..., 1] - u[..., 1] * v[..., 0]

    denom = cross(r, s)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = cross(q - p, s) / denom
        u = cross(q - p, r) / denom
    return (np.abs(denom) > 1e-12) & (t > 1e-9) & (t < 1 - 1e-9) & (u > 1e-9) & (u < 1 - 1e-9)


def test_same_seed_same_course_other_seed_other_course():
    a = family_course(FAMILY, np.random.default_rng(5))
    b = family_course(FAMILY, np.random.default_rng(5))
    c = family_course(FAMILY, np.random.default_rng(6))
    assert np.array_equal(a.centerline, b.centerline) and np.array_equal(a.walls, b.walls)
    assert np.array_equal(a.half_width_left, b.half_width_left)
    assert a.n_points != c.n_points or not np.allclose(a.centerline, c.centerline)


def test_lengths_widths_and_radii_within_the_family(courses):
    fam = FAMILY.family
    for course in courses:
        assert fam.length_range_m[0] <= course.length_m <= fam.length_range_m[1]
        width = course.half_width_left + course.half_width_right
        assert width.min() >= 2 * fam.half_width_range_m[0] - 1e-9
        assert width.max() <= 2 * fam.half_width_range_m[1] + 1e-9
        assert 1.0 / course.curvature.max() >= 0.97 * fam.min_radius_m
        # The inner wall of every bend keeps a positive radius (walls never fold).
        kappa = signed_curvature(course.centerline)
        inner = np.where(kappa > 0, course.half_width_left, course.half_width_right)
        assert np.all(inner * np.abs(kappa) < 1.0)
        closed = np.concatenate([course.centerline, course.centerline[:1]])
        step = np.hypot(*np.diff(closed, axis=0).T)
        assert np.allclose(step, fam.point_spacing_m, atol=0.03)  # the closing step too


def test_the_family_covers_real_track_features(courses):
    lengths = [c.length_m for c in courses]
    assert min(lengths) < 200 and max(lengths) > 400
    radii = [1.0 / c.curvature.max() for c in courses]
    assert min(radii) < 1.6  # hairpins near the 1.3 m limit
    widths = [(c.half_width_left + c.half_width_right) for c in courses]
    assert min(w.min() for w in widths) < 2.0 and max(w.max() for w in widths) > 2.8
    assert all(w.max() - w.min() > 0.2 for w in widths)  # widths vary along each lap

    def longest_straight_m(c):
        straight = np.concatenate([c.curvature, c.curvature]) < 1e-3
        run = best = 0
        for flag in straight:
            run = run + 1 if flag else 0
            best = max(best, run)
        return min(best, c.n_points) * c.length_m / c.n_points

    assert max(longest_straight_m(c) for c in courses) > 30.0
    # A chicane: left and right bends tighter than 6 m within 8 m of each other.
    chicanes = 0
    for c in courses:
        k = signed_curvature(c.centerline)
        left, right = np.flatnonzero(k > 1 / 6), np.flatnonzero(k < -1 / 6)
        gap = np.abs(left[:, None] - right[None, :]).min() * c.length_m / c.n_points
        chicanes += gap < 8.0
    assert chicanes >= len(courses) // 2


def test_walls_never_cross(courses):
    for course in courses[:6]:
        walls = course.walls
        n = len(walls)
        for k in range(0, n, 800):
            hits = crossing_pairs(walls[k : k + 800], walls)
            assert not hits.any(), course.length_m


def test_curvature_smooth_enough_for_the_steering_rate(courses):
    """Curvature ramps in over about a metre, never steps: at most the tightest curvature per
    metre (with 30% for the three-point estimate), which needs 0.33 m x 1 / m2 x v ~ 1 rad/s
    of steering at 3 m/s, a third of the car's steering rate."""
    for course in courses:
        kappa = signed_curvature(course.centerline)
        dk = np.abs(np.diff(kappa)) / FAMILY.family.point_spacing_m
        assert dk.max() < 1.3 / FAMILY.family.min_radius_m


def test_grid_walls_are_cell_edges_and_widths_come_from_them():
    cfg = CourseConfig(kind="family", family=FamilyConfig(walls="grid", grid_resolution_m=0.05))
    grid = family_course(cfg, np.random.default_rng(2))
    curves = family_course(FAMILY, np.random.default_rng(2))
    assert np.array_equal(grid.centerline, curves.centerline)
    ends = np.concatenate([grid.walls[:, :2], grid.walls[:, 2:]])
    dirs = grid.walls[:, 2:] - grid.walls[:, :2]
    assert np.all((np.abs(dirs[:, 0]) < 1e-9) | (np.abs(dirs[:, 1]) < 1e-9))  # axis-aligned
    cells = (ends - ends.min(axis=0)) / 0.05
    assert np.allclose(cells, np.round(cells), atol=1e-6)
    hl, hr = widths_from_walls(grid.centerline, grid.walls)
    assert np.array_equal(grid.half_width_left, hl) and np.array_equal(grid.half_width_right, hr)
    assert np.abs(grid.half_width_left - curves.half_width_left).max() < 0.1


def test_reverse_drives_the_other_way():
    fwd = family_course(FAMILY, np.random.default_rng(3))
    rev = family_course(CourseConfig(kind="family", reverse=True), np.random.default_rng(3))
    assert np.allclose(rev.centerline[0], fwd.centerline[0])
    assert math.isclose(rev.length_m, fwd.length_m, rel_tol=1e-9)
    np.testing.assert_allclose(rev.half_width_left[1:], fwd.half_width_right[1:][::-1])


def test_tighter_than_the_car_is_refused():
    cfg = CourseConfig(kind="family", family=FamilyConfig(min_radius_m=1.3))
    with pytest.raises(ConfigError, match="turning radius"):
        family_course(cfg, np.random.default_rng(0), VehicleConfig(wheelbase_m=0.6))


def test_env_draws_a_family_course_from_each_episode_seed():
    env = gym.make(
        "TinyLidar-v0",
        course={"kind": "family", "family": {"length_range_m": [150.0, 250.0]}},
        lidar={"n_beams": 61},
    )
    env.reset(seed=1)
    first = env.unwrapped.layout
    env.reset(seed=2)
    second = env.unwrapped.layout
    env.reset(seed=1)
    again = env.unwrapped.layout
    assert first.course is again.course  # cached: the same seed rebuilds nothing
    assert first.course_seed == again.course_seed != second.course_seed
    assert first.course.length_m != second.course.length_m
    assert 150.0 <= second.course.length_m <= 250.0
    assert first.obstacles.count == round(100 / 9 * first.course.length_m / 100)
    assert first.time_limit_s == pytest.approx(60.0 * first.course.length_m / 90.0)


def test_family_config_from_cli_flags_and_episode_yaml():
    import tyro

    from tinylidar_gym.sim.config import EnvConfig, config_from_dict, config_to_dict

    cfg = tyro.cli(
        EnvConfig,
        args=[
            "--course.kind",
            "family",
            "--course.family.walls",
            "grid",
            "--course.family.length-range-m",
            "200",
            "300",
        ],
    )
    assert cfg.course.family == FamilyConfig(walls="grid", length_range_m=(200.0, 300.0))
    assert config_from_dict(EnvConfig, config_to_dict(cfg)) == cfg
