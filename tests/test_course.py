"""Courses: closed corridors whose walls keep the free space on their left; config validation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tinylidar_gym.sim.config import (
    ConfigError,
    CourseConfig,
    EnvConfig,
    LidarConfig,
    ObstacleConfig,
    VehicleConfig,
    config_from_dict,
)
from tinylidar_gym.sim.course import course_from_centerline
from tinylidar_gym.tracks.procedural import default_course, procedural_course

# --------------------------------------------------------------------------- geometry oracles


def cross2(a, b):
    return a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]


def winding_numbers(points: np.ndarray, segments: np.ndarray) -> np.ndarray:
    """Winding number of a set of closed, oriented chains around each point (M, 2) -> (M,)."""
    a = segments[None, :, 0:2] - points[:, None, :]
    b = segments[None, :, 2:4] - points[:, None, :]
    ang = np.arctan2(cross2(a, b), np.sum(a * b, axis=-1))
    return ang.sum(axis=1) / (2 * np.pi)


def point_segment_distances(points: np.ndarray, segments: np.ndarray) -> np.ndarray:
    """(M, S) Euclidean distances from points to segments."""
    a = segments[None, :, 0:2]
    e = segments[None, :, 2:4] - a
    p = points[:, None, :]
    ee = np.sum(e * e, axis=-1)
    u = np.clip(np.sum((p - a) * e, axis=-1) / np.where(ee > 0, ee, 1.0), 0.0, 1.0)
    return np.linalg.norm(a + u[..., None] * e - p, axis=-1)


def crossing_pairs(segments: np.ndarray) -> np.ndarray:
    """Index pairs (i < j) of segments that touch or cross without sharing an endpoint."""
    a, b = segments[:, None, 0:2], segments[:, None, 2:4]
    c, d = segments[None, :, 0:2], segments[None, :, 2:4]
    o1 = np.sign(cross2(b - a, c - a))
    o2 = np.sign(cross2(b - a, d - a))
    o3 = np.sign(cross2(d - c, a - c))
    o4 = np.sign(cross2(d - c, b - c))
    general = (o1 * o2 <= 0) & (o3 * o4 <= 0)
    # Collinear pieces only meet if their projections overlap (the orientation test alone
    # would flag every pair on one line).
    collinear = (o1 == 0) & (o2 == 0)
    lo1, hi1 = np.minimum(a, b), np.maximum(a, b)
    lo2, hi2 = np.minimum(c, d), np.maximum(c, d)
    overlap = np.all((lo1 <= hi2) & (lo2 <= hi1), axis=-1)
    meet = np.where(collinear, overlap, general)
    ends1 = np.stack([segments[:, 0:2], segments[:, 2:4]], axis=1)  # (S, 2, 2)
    shared = np.zeros_like(meet)
    for e1 in range(2):
        for e2 in range(2):
            diff = ends1[:, None, e1, :] - ends1[None, :, e2, :]
            shared |= np.all(np.abs(diff) < 1e-12, axis=-1)
    i, j = np.nonzero(np.triu(meet & ~shared, k=1))
    return np.stack([i, j], axis=1)


def circumradius(points: np.ndarray) -> np.ndarray:
    """Radius of the circle through each closed-polyline point and its two neighbours."""
    a, b, c = np.roll(points, 1, axis=0), points, np.roll(points, -1, axis=0)
    la = np.linalg.norm(b - c, axis=1)
    lb = np.linalg.norm(a - c, axis=1)
    lc = np.linalg.norm(a - b, axis=1)
    area2 = np.abs(cross2(b - a, c - a))
    with np.errstate(divide="ignore"):
        return np.where(area2 > 0, la * lb * lc / (2.0 * area2), np.inf)


def signed_area(points: np.ndarray) -> float:
    nxt = np.roll(points, -1, axis=0)
    return 0.5 * float(np.sum(cross2(points, nxt)))


def check_corridor(course, spacing_m: float, vehicle: VehicleConfig | None = None) -> None:
    """Every geometric promise a course makes, checked from first principles."""
    cl = course.centerline
    walls = course.walls
    p = len(cl)
    assert cl.shape == (p, 2) and walls.shape == (2 * p, 4)
    assert np.all(np.isfinite(cl)) and np.all(np.isfinite(walls))
    hl, hr = course.half_width_left, course.half_width_right
    assert hl.shape == (p,) and hr.shape == (p,) and np.all(hl > 0) and np.all(hr > 0)

    # Closed loop: the closing segment is as long as the others; no doubled points.
    seg = np.linalg.norm(np.roll(cl, -1, axis=0) - cl, axis=1)
    assert seg.min() > 0.9 * spacing_m and seg.max() < 1.1 * spacing_m
    assert course.arc_length[-1] == pytest.approx(seg.sum(), rel=1e-12)

    # Walls form closed chains: each segment's end is exactly some other segment's start.
    starts = {tuple(r) for r in walls[:, 0:2]}
    ends = {tuple(r) for r in walls[:, 2:4]}
    assert starts == ends and len(starts) == 2 * p

    # Free space on the left of every wall: just left of a wall midpoint is inside the corridor
    # (winding number 1 over all walls), just right of it is outside (winding number 0).
    mid = 0.5 * (walls[:, 0:2] + walls[:, 2:4])
    d = walls[:, 2:4] - walls[:, 0:2]
    left = np.stack([-d[:, 1], d[:, 0]], axis=1) / np.linalg.norm(d, axis=1, keepdims=True)
    eps = 1e-3
    np.testing.assert_allclose(winding_numbers(mid + eps * left, walls), 1.0, atol=1e-6)
    np.testing.assert_allclose(winding_numbers(mid - eps * left, walls), 0.0, atol=1e-6)
    np.testing.assert_allclose(winding_numbers(cl, walls), 1.0, atol=1e-6)

    # The nearest centerline point of each wall segment is on its left.
    dist = point_segment_distances(cl, walls)  # (P, 2P)
    nearest = np.argmin(dist, axis=0)
    assert np.all(cross2(d, cl[nearest] - walls[:, 0:2]) > 0)

    # Walls never touch or cross each other (apart from neighbours sharing an endpoint).
    assert crossing_pairs(walls).size == 0

    # Each centerline point is (about) its narrower half width from the nearest wall.
    nearest_wall = dist.min(axis=1)
    narrow = np.minimum(hl, hr)
    assert np.all(nearest_wall <= narrow + 1e-9)
    assert np.all(nearest_wall >= 0.98 * narrow)

    # Drivable: no corner tighter than the car's turning radius (with margin) or the corridor.
    if vehicle is not None:
        radius = circumradius(cl)
        min_turn = vehicle.wheelbase_m / math.tan(vehicle.max_steer_rad)
        assert np.all(radius >= 1.3 * min_turn * (1 - 1e-9))
        assert np.all(radius >= 1.25 * np.maximum(hl, hr) * (1 - 1e-9))


# --------------------------------------------------------------------------- course_from_centerline


def circle_points(radius: float, n: int, ccw: bool = True) -> np.ndarray:
    th = 2 * np.pi * np.arange(n) / n
    pts = radius * np.stack([np.cos(th), np.sin(th)], axis=1)
    return pts if ccw else pts[::-1].copy()


def split_by_radius(walls: np.ndarray, radius: float) -> tuple[np.ndarray, np.ndarray]:
    """Wall segments of an origin-centred ring course: (outside the centerline, inside it)."""
    r = np.hypot(walls[:, 0], walls[:, 1])
    return walls[r > radius], walls[r < radius]


def assert_same_points(got: np.ndarray, expect: np.ndarray) -> None:
    """The two (N, 2) point sets are equal up to order."""
    assert len(got) == len(expect)
    d = np.linalg.norm(got[:, None, :] - expect[None, :, :], axis=-1)
    assert np.all(d.min(axis=1) < 1e-9) and np.all(d.min(axis=0) < 1e-9)


def test_circle_course_is_exact():
    radius, n = 10.0, 64
    cl = circle_points(radius, n)
    course = course_from_centerline(cl, 1.0, 2.0, name="ring")
    assert course.name == "ring"
    assert course.n_points == n
    chord = 2 * radius * math.sin(math.pi / n)
    assert course.length_m == pytest.approx(n * chord, rel=1e-12)
    np.testing.assert_allclose(course.arc_length, chord * np.arange(n + 1), atol=1e-9)
    # CCW loop: left is inwards. Wall vertices sit on concentric circles, one per point.
    outer, inner = split_by_radius(course.walls, radius)
    assert len(outer) == n and len(inner) == n
    assert_same_points(outer[:, 0:2], cl * (radius + 2.0) / radius)
    assert_same_points(inner[:, 0:2], cl * (radius - 1.0) / radius)
    # The right (outer) wall runs with the course (CCW), the left (inner) one against it.
    assert np.all(cross2(outer[:, 0:2], outer[:, 2:4]) > 0)
    assert np.all(cross2(inner[:, 0:2], inner[:, 2:4]) < 0)
    # Tangent and start pose: the tangent of a circle at angle th is th + pi/2.
    th = 2 * np.pi * np.arange(n) / n
    np.testing.assert_allclose(np.cos(course.tangent_yaw - th - np.pi / 2), 1.0, atol=1e-12)
    x, y, yaw = course.start_pose()
    assert (x, y) == pytest.approx((radius, 0.0))
    assert yaw == pytest.approx(math.pi / 2)
    check_corridor(course, chord)


def test_clockwise_circle_puts_the_left_wall_outside():
    radius, n = 10.0, 64
    cl = circle_points(radius, n, ccw=False)
    course = course_from_centerline(cl, 1.0, 2.0)
    outer, inner = split_by_radius(course.walls, radius)
    assert_same_points(outer[:, 0:2], cl * (radius + 1.0) / radius)
    assert_same_points(inner[:, 0:2], cl * (radius - 2.0) / radius)
    # Clockwise loop: the right (inner) wall runs with it (CW), the left (outer) one against it.
    assert np.all(cross2(outer[:, 0:2], outer[:, 2:4]) > 0)
    assert np.all(cross2(inner[:, 0:2], inner[:, 2:4]) < 0)
    check_corridor(course, 2 * radius * math.sin(math.pi / n))


def test_per_point_widths_are_used():
    radius, n = 12.0, 80
    cl = circle_points(radius, n)
    phase = 2 * np.pi * np.arange(n) / n
    hl = 1.0 + 0.3 * np.sin(3 * phase)
    hr = 1.5 + 0.2 * np.cos(2 * phase)
    course = course_from_centerline(cl, hl, hr)
    np.testing.assert_array_equal(course.half_width_left, hl)
    np.testing.assert_array_equal(course.half_width_right, hr)
    outer, inner = split_by_radius(course.walls, radius)
    assert_same_points(outer[:, 0:2], cl * ((radius + hr) / radius)[:, None])
    assert_same_points(inner[:, 0:2], cl * ((radius - hl) / radius)[:, None])
    check_corridor(course, 2 * radius * math.sin(math.pi / n))


def test_interpolate_on_a_circle():
    radius, n = 5.0, 40
    course = course_from_centerline(circle_points(radius, n), 0.5, 0.5)
    chord = 2 * radius * math.sin(math.pi / n)
    k = np.arange(n)
    cl = course.centerline
    nxt = np.roll(cl, -1, axis=0)
    for lap in (0, 1, -2):
        pos, _, _ = course.interpolate(k * chord + lap * course.length_m)
        np.testing.assert_allclose(pos, cl, atol=1e-9)
        pos, yaw, idx = course.interpolate((k + 0.3) * chord + lap * course.length_m)
        np.testing.assert_allclose(pos, cl + 0.3 * (nxt - cl), atol=1e-9)
        np.testing.assert_array_equal(idx, k)
        # Chord k points along th_k + pi/2 + pi/n.
        th = 2 * np.pi * k / n + np.pi / 2 + np.pi / n
        np.testing.assert_allclose(np.cos(yaw - th), 1.0, atol=1e-9)
    # Halfway along a chord is the chord midpoint.
    pos, _, idx = course.interpolate(2.5 * chord)
    np.testing.assert_allclose(pos, 0.5 * (course.centerline[2] + course.centerline[3]), atol=1e-9)
    assert int(idx) == 2


@pytest.mark.parametrize(
    ("centerline", "hl", "hr", "match"),
    [
        (np.zeros((3, 2)), 1.0, 1.0, "shape"),
        (np.zeros((10, 3)), 1.0, 1.0, "shape"),
        (circle_points(5.0, 20), 0.0, 1.0, "half widths"),
        (circle_points(5.0, 20), 1.0, -np.ones(20), "half widths"),
    ],
)
def test_course_from_centerline_rejects_bad_input(centerline, hl, hr, match):
    with pytest.raises(ValueError, match=match):
        course_from_centerline(centerline, hl, hr)


# --------------------------------------------------------------------------- procedural courses

PROCEDURAL_CASES = [
    (CourseConfig(kind="procedural"), [0, 1, 2, 7, 11]),
    (CourseConfig(kind="procedural", curviness=1.0, width_variation=0.5), [0, 4, 5]),
    (CourseConfig(kind="procedural", curviness=0.0, width_variation=0.0), [0, 9]),
    (CourseConfig(kind="procedural", reverse=True), [0, 3]),
    (CourseConfig(kind="procedural", length_m=150.0, half_width_m=2.0, point_spacing_m=0.7), [1]),
    (CourseConfig(kind="procedural", length_m=400.0, half_width_m=4.5, point_spacing_m=1.0), [2]),
]


@pytest.mark.parametrize(
    ("cfg", "seed"), [(cfg, seed) for cfg, seeds in PROCEDURAL_CASES for seed in seeds]
)
def test_procedural_course_is_a_valid_corridor(cfg, seed):
    vehicle = VehicleConfig()
    course = procedural_course(cfg, np.random.default_rng(seed), vehicle)
    assert course.length_m == pytest.approx(cfg.length_m, rel=0.005)
    check_corridor(course, cfg.point_spacing_m, vehicle)
    # Half widths stay within the configured variation.
    hw = np.concatenate([course.half_width_left, course.half_width_right])
    assert np.all(hw >= cfg.half_width_m * (1 - cfg.width_variation) - 1e-12)
    assert np.all(hw <= cfg.half_width_m * (1 + cfg.width_variation) + 1e-12)


def test_procedural_course_respects_a_large_vehicle():
    kart = VehicleConfig(wheelbase_m=1.087, length_m=1.9, width_m=1.3, max_steer_rad=0.367)
    cfg = CourseConfig(kind="procedural", length_m=400.0, half_width_m=4.5, point_spacing_m=1.0)
    course = procedural_course(cfg, np.random.default_rng(5), kart)
    check_corridor(course, 1.0, kart)


def test_procedural_course_is_deterministic_by_seed():
    cfg = CourseConfig(kind="procedural")
    a = procedural_course(cfg, np.random.default_rng(42))
    b = procedural_course(cfg, np.random.default_rng(42))
    c = procedural_course(cfg, np.random.default_rng(43))
    for field in ("centerline", "half_width_left", "half_width_right", "walls"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert a.centerline.shape != c.centerline.shape or not np.allclose(a.centerline, c.centerline)


def test_reversed_course_is_the_same_loop_driven_the_other_way():
    fwd = procedural_course(CourseConfig(kind="procedural"), np.random.default_rng(8))
    rev = procedural_course(CourseConfig(kind="procedural", reverse=True), np.random.default_rng(8))
    assert np.sign(signed_area(fwd.centerline)) == -np.sign(signed_area(rev.centerline))
    assert rev.length_m == pytest.approx(fwd.length_m, rel=1e-9)
    # Same set of centerline points.
    key = np.lexsort(fwd.centerline.T)
    key_rev = np.lexsort(rev.centerline.T)
    np.testing.assert_allclose(fwd.centerline[key], rev.centerline[key_rev], atol=1e-9)


def test_start_is_on_a_calm_stretch_facing_along_the_course():
    course = procedural_course(CourseConfig(kind="procedural"), np.random.default_rng(1))
    x, y, yaw = course.start_pose()
    cl = course.centerline
    assert (x, y) == (cl[0, 0], cl[0, 1])
    ahead = cl[1] - cl[-1]
    assert math.cos(yaw - math.atan2(ahead[1], ahead[0])) == pytest.approx(1.0, abs=1e-12)
    # The first metres are gentler than the loop's median curvature.
    radius = circumradius(cl)
    assert np.median(1 / radius[:5]) <= np.median(1 / radius)


def test_impossible_procedural_course_raises_naming_the_field():
    cfg = CourseConfig(kind="procedural", length_m=20.0, half_width_m=5.0)
    with pytest.raises(ValueError, match=r"CourseConfig\.half_width_m"):
        procedural_course(cfg, np.random.default_rng(0), max_tries=10)


def test_default_course_is_fixed_and_valid():
    a = default_course()
    b = default_course(CourseConfig())
    assert a.name == "default"
    np.testing.assert_array_equal(a.centerline, b.centerline)
    np.testing.assert_array_equal(a.walls, b.walls)
    assert a.length_m == pytest.approx(CourseConfig().length_m, rel=0.005)
    check_corridor(a, CourseConfig().point_spacing_m, VehicleConfig())
    longer = default_course(CourseConfig(length_m=120.0))
    assert longer.length_m == pytest.approx(120.0, rel=0.005)


# --------------------------------------------------------------------------- config validation


@pytest.mark.parametrize(
    ("cls", "kwargs", "field"),
    [
        (LidarConfig, {"n_beams": 1}, "LidarConfig.n_beams"),
        (LidarConfig, {"n_beams": 100.5}, "LidarConfig.n_beams"),
        (LidarConfig, {"fov_deg": 400.0}, "LidarConfig.fov_deg"),
        (LidarConfig, {"max_range_m": 0.0}, "LidarConfig.max_range_m"),
        (LidarConfig, {"noise_std_m": -0.01}, "LidarConfig.noise_std_m"),
        (LidarConfig, {"mount_offset_m": float("inf")}, "LidarConfig.mount_offset_m"),
        (CourseConfig, {"kind": "oval"}, "CourseConfig.kind"),
        (CourseConfig, {"half_width_m": 0.0}, "CourseConfig.half_width_m"),
        (CourseConfig, {"width_variation": 0.95}, "CourseConfig.width_variation"),
        (CourseConfig, {"curviness": 1.5}, "CourseConfig.curviness"),
        (CourseConfig, {"length_m": 5.0}, "CourseConfig.length_m"),
        (CourseConfig, {"point_spacing_m": -1.0}, "CourseConfig.point_spacing_m"),
        (CourseConfig, {"kind": "map"}, "CourseConfig.map_yaml"),
        (ObstacleConfig, {"count": -1}, "ObstacleConfig.count"),
        (ObstacleConfig, {"width_range_m": (0.5, 0.2)}, "ObstacleConfig.width_range_m"),
        (ObstacleConfig, {"length_range_m": (0.0, 0.2)}, "ObstacleConfig.length_range_m"),
        (ObstacleConfig, {"min_spacing_m": 0.5}, "ObstacleConfig.min_spacing_m"),
        (ObstacleConfig, {"wall_margin_m": -0.1}, "ObstacleConfig.wall_margin_m"),
        (VehicleConfig, {"width_m": -0.3}, "VehicleConfig.width_m"),
        (VehicleConfig, {"min_speed_mps": 0.5}, "VehicleConfig.min_speed_mps"),
        (EnvConfig, {"substeps": 0}, "EnvConfig.substeps"),
        (EnvConfig, {"control_dt_s": 0.0}, "EnvConfig.control_dt_s"),
        (EnvConfig, {"max_speed_command_mps": 50.0}, "EnvConfig.max_speed_command_mps"),
    ],
)
def test_config_errors_name_the_field(cls, kwargs, field):
    with pytest.raises(ConfigError) as err:
        cls(**kwargs)
    assert field in str(err.value)
    assert isinstance(err.value, ValueError)


def test_config_from_dict_rejects_unknown_fields_with_a_hint():
    with pytest.raises(ConfigError, match=r"CourseConfig has no field 'lenght_m'.*length_m"):
        config_from_dict(CourseConfig, {"lenght_m": 50.0})
    cfg = config_from_dict(EnvConfig, {"course": {"length_m": 50.0}, "lidar": {"n_beams": 9}})
    assert cfg.course.length_m == 50.0 and cfg.lidar.n_beams == 9
    with pytest.raises(ConfigError, match=r"LidarConfig\.n_beams"):
        config_from_dict(EnvConfig, {"lidar": {"n_beams": 0}})
