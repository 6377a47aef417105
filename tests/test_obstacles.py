"""Obstacle placement: every promise of the generator checked geometrically over many seeds."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tinylidar_gym.sim.config import (
    ConfigError,
    CourseConfig,
    LidarConfig,
    ObstacleConfig,
    VehicleConfig,
    kart_preset,
)
from tinylidar_gym.sim.course import Course
from tinylidar_gym.sim.lidar import scan_from_pose
from tinylidar_gym.sim.obstacles import Obstacles, box_corners, generate_obstacles
from tinylidar_gym.tracks.procedural import default_course, procedural_course

# --------------------------------------------------------------------------- geometry oracles


def cross2(a, b):
    return a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]


def point_segment_distance(p, a, b):
    """Broadcasting distance from points p to segments a -> b (all (..., 2))."""
    e = b - a
    ee = np.sum(e * e, axis=-1)
    u = np.clip(np.sum((p - a) * e, axis=-1) / np.where(ee > 0, ee, 1.0), 0.0, 1.0)
    return np.linalg.norm(a + u[..., None] * e - p, axis=-1)


def segment_segment_distance(a1, b1, a2, b2):
    """Exact broadcasting distance between segments: 0 if they cross, else an endpoint case."""
    d1 = cross2(b1 - a1, a2 - a1)
    d2 = cross2(b1 - a1, b2 - a1)
    d3 = cross2(b2 - a2, a1 - a2)
    d4 = cross2(b2 - a2, b1 - a2)
    crossing = (d1 * d2 <= 0) & (d3 * d4 <= 0)
    ends = np.minimum(
        np.minimum(point_segment_distance(a1, a2, b2), point_segment_distance(b1, a2, b2)),
        np.minimum(point_segment_distance(a2, a1, b1), point_segment_distance(b2, a1, b1)),
    )
    return np.where(crossing, 0.0, ends)


def boxes_to_walls_distance(corners: np.ndarray, walls: np.ndarray) -> np.ndarray:
    """(K,) distance from each box (K, 4, 2) to the nearest of the wall segments (S, 4).

    The boxes are known to contain no wall vertex (checked separately via winding numbers), so
    the polygon-segment distance is the minimum over the box's edges.
    """
    if len(walls) == 0:
        return np.full(len(corners), np.inf)
    a1 = corners[:, :, None, :]
    b1 = np.roll(corners, -1, axis=1)[:, :, None, :]
    a2 = walls[None, None, :, 0:2]
    b2 = walls[None, None, :, 2:4]
    return segment_segment_distance(a1, b1, a2, b2).min(axis=(1, 2))


def winding_numbers(points: np.ndarray, segments: np.ndarray) -> np.ndarray:
    a = segments[None, :, 0:2] - points[:, None, :]
    b = segments[None, :, 2:4] - points[:, None, :]
    return np.arctan2(cross2(a, b), np.sum(a * b, axis=-1)).sum(axis=1) / (2 * np.pi)


def inside_convex(points: np.ndarray, corners: np.ndarray) -> np.ndarray:
    """(M, K): is point m strictly inside the CCW convex quad k?"""
    a = corners[None, :, :, :]
    b = np.roll(corners, -1, axis=1)[None, :, :, :]
    p = points[:, None, None, :]
    return np.all(cross2(b - a, p - a) > 0, axis=-1)


def polyline_frame(course: Course, s: np.ndarray):
    """Point, unit tangent and left normal of the closed centerline polyline at arc length s."""
    cl = course.centerline
    nxt = np.roll(cl, -1, axis=0)
    seg_len = np.linalg.norm(nxt - cl, axis=1)
    cum = np.concatenate([[0.0], np.cumsum(seg_len)])
    s = np.mod(s, cum[-1])
    k = np.clip(np.searchsorted(cum, s, side="right") - 1, 0, len(cl) - 1)
    tangent = (nxt[k] - cl[k]) / seg_len[k, None]
    point = cl[k] + tangent * (s - cum[k])[:, None]
    normal = np.stack([-tangent[:, 1], tangent[:, 0]], axis=1)
    return point, tangent, normal


def split_walls(course: Course) -> tuple[np.ndarray, np.ndarray]:
    """(left-side walls, right-side walls), classified by which side of the centerline they lie."""
    walls = course.walls
    mid = 0.5 * (walls[:, 0:2] + walls[:, 2:4])
    cl = course.centerline
    nxt = np.roll(cl, -1, axis=0)
    dist = point_segment_distance(mid[:, None, :], cl[None, :, :], nxt[None, :, :])
    k = np.argmin(dist, axis=1)
    side = cross2(nxt[k] - cl[k], mid - cl[k])
    return walls[side > 0], walls[side < 0]


def check_layout(
    course: Course,
    obs: Obstacles,
    cfg: ObstacleConfig,
    vehicle: VehicleConfig,
    sides: tuple[np.ndarray, np.ndarray] | None = None,
) -> None:
    """Check one layout; ``sides`` = split_walls(course), passed in to save time."""
    k = obs.count
    assert k == cfg.count_for(course.length_m)
    assert obs.boxes.shape == (k, 5) and obs.arc_s.shape == (k,) and obs.lateral.shape == (k,)
    if k == 0:
        return
    boxes = obs.boxes
    lap = course.length_m

    # Sizes within the configured ranges.
    assert np.all((boxes[:, 3] >= cfg.length_range_m[0]) & (boxes[:, 3] <= cfg.length_range_m[1]))
    assert np.all((boxes[:, 4] >= cfg.width_range_m[0]) & (boxes[:, 4] <= cfg.width_range_m[1]))

    # arc_s / lateral describe the centre: the polyline point at s, offset along its left normal.
    s = obs.arc_s
    assert np.all((s >= 0) & (s < lap))
    point, tangent, normal = polyline_frame(course, s)
    np.testing.assert_allclose(boxes[:, :2], point + obs.lateral[:, None] * normal, atol=1e-9)
    # Boxes are aligned with the course.
    assert np.all(np.cos(boxes[:, 2] - np.arctan2(tangent[:, 1], tangent[:, 0])) > math.cos(0.05))

    # Circular spacing along the centerline, start exclusion, lateral bound.
    s_sorted = np.sort(s)
    gaps = np.diff(np.concatenate([s_sorted, [s_sorted[0] + lap]]))
    assert gaps.min() >= cfg.min_spacing_m - 1e-9
    assert np.all(np.minimum(s, lap - s) >= cfg.start_exclusion_m - 1e-9)
    assert np.all(np.abs(obs.lateral) <= cfg.max_lateral_offset_m + 1e-12)

    # Every corner inside the corridor; no wall vertex inside a box; wall_margin to the walls.
    corners = box_corners(boxes)
    np.testing.assert_allclose(
        winding_numbers(corners.reshape(-1, 2), course.walls), 1.0, atol=1e-6
    )
    assert not np.any(inside_convex(course.walls[:, 0:2], corners))
    left, right = sides if sides is not None else split_walls(course)
    # Walls farther than (half diagonal + need) from every centre cannot decide any of the
    # inequalities below (their distance to a box exceeds need), so only nearby walls are kept.
    need = vehicle.width_m + cfg.passage_margin_m
    reach = (0.5 * np.hypot(boxes[:, 3], boxes[:, 4]) + need + 0.1)[:, None]

    def near(walls):
        d = point_segment_distance(boxes[:, None, :2], walls[None, :, 0:2], walls[None, :, 2:4])
        return walls[np.any(d <= reach, axis=0)]

    d_left = boxes_to_walls_distance(corners, near(left))
    d_right = boxes_to_walls_distance(corners, near(right))
    assert np.all(np.minimum(d_left, d_right) >= cfg.wall_margin_m - 1e-9)

    # A passage for the car on at least one side: the narrowest gap between box and wall.
    assert np.all(np.maximum(d_left, d_right) >= need - 1e-9)

    # Boxes keep clear of each other too.
    if k > 1:
        others = boxes_to_walls_distance(
            corners, np.concatenate([obs.segments[4 * j : 4 * j + 4] for j in range(1, k)])
        )
        assert others[0] > 0


# --------------------------------------------------------------------------- boxes


def test_box_corners_and_segments_analytic():
    boxes = np.array([[1.0, 2.0, 0.0, 4.0, 2.0], [0.0, 0.0, math.pi / 2, 2.0, 1.0]])
    corners = box_corners(boxes)
    assert corners.shape == (2, 4, 2)
    expect0 = {(3.0, 1.0), (3.0, 3.0), (-1.0, 3.0), (-1.0, 1.0)}
    assert {tuple(np.round(c, 12)) for c in corners[0]} == expect0
    # Rotated by 90 deg: the length now runs along y.
    expect1 = {(0.5, 1.0), (-0.5, 1.0), (-0.5, -1.0), (0.5, -1.0)}
    assert {tuple(np.round(c, 12) + 0.0) for c in corners[1]} == expect1
    # Counter-clockwise: positive signed area = length * width.
    for k, (_, _, _, ln, wd) in enumerate(boxes):
        c = corners[k]
        area = 0.5 * np.sum(cross2(c, np.roll(c, -1, axis=0)))
        assert area == pytest.approx(ln * wd)


def test_obstacle_segments_are_closed_clockwise_with_outside_on_the_left():
    rng = np.random.default_rng(0)
    boxes = np.column_stack(
        [rng.uniform(-5, 5, (6, 2)), rng.uniform(-3, 3, 6), rng.uniform(0.2, 2, (6, 2))]
    )
    obs = Obstacles.from_boxes(boxes)
    segs = obs.segments
    assert segs.shape == (24, 4)
    for k in range(6):
        ring = segs[4 * k : 4 * k + 4]
        np.testing.assert_array_equal(ring[:, 2:4], np.roll(ring[:, 0:2], -1, axis=0))
        centre = boxes[k, :2]
        assert np.all(cross2(ring[:, 2:4] - ring[:, 0:2], centre - ring[:, 0:2]) < 0)
    assert np.isnan(obs.arc_s).all() and np.isnan(obs.lateral).all()


def test_lidar_sees_the_front_face_of_an_obstacle_box():
    obs = Obstacles.from_boxes([[6.0, 1.0, 0.0, 1.0, 4.0]])  # front face x = 5.5, y in [-1, 3]
    cfg = LidarConfig(n_beams=361, fov_deg=180.0)
    r = scan_from_pose(0.0, 0.0, 0.0, obs.segments, cfg)
    ang = np.radians(np.linspace(-90.0, 90.0, 361))
    y = 5.5 * np.tan(ang)
    on_face = (y >= -1 + 1e-9) & (y <= 3 - 1e-9) & (np.abs(ang) < math.pi / 2)
    np.testing.assert_allclose(r[on_face], 5.5 / np.cos(ang[on_face]), atol=1e-6)
    off = (y < -1 - 1e-6) | (y > 3 + 1e-6)
    assert np.all(r[off] == cfg.max_range_m)


@pytest.mark.parametrize(
    "bad", [[[0, 0, 0, 0.0, 1.0]], [[0, 0, 0, 1.0, -1.0]], [[np.nan, 0, 0, 1.0, 1.0]]]
)
def test_from_boxes_rejects_bad_boxes(bad):
    with pytest.raises(ValueError):
        Obstacles.from_boxes(np.array(bad, dtype=float))


def test_empty_obstacles():
    obs = Obstacles.empty()
    assert obs.count == 0
    assert obs.segments.shape == (0, 4)
    course = default_course()
    none = generate_obstacles(
        course, ObstacleConfig(count=0), VehicleConfig(), np.random.default_rng(0)
    )
    assert none.count == 0


# --------------------------------------------------------------------------- generator


def test_default_course_over_200_seeds():
    course = default_course()
    cfg, vehicle = ObstacleConfig(), VehicleConfig()
    sides = split_walls(course)
    for seed in range(200):
        obs = generate_obstacles(course, cfg, vehicle, np.random.default_rng(seed))
        check_layout(course, obs, cfg, vehicle, sides)


@pytest.mark.parametrize("course_seed", [0, 1, 5, 9, 12])
def test_procedural_courses(course_seed):
    course = procedural_course(
        CourseConfig(kind="procedural", curviness=0.8), np.random.default_rng(course_seed)
    )
    cfg = ObstacleConfig(count=12, length_range_m=(0.3, 1.2), max_lateral_offset_m=1.5)
    vehicle = VehicleConfig()
    sides = split_walls(course)
    for seed in range(40):
        obs = generate_obstacles(course, cfg, vehicle, np.random.default_rng(seed))
        check_layout(course, obs, cfg, vehicle, sides)


def test_reversed_procedural_course():
    course = procedural_course(
        CourseConfig(kind="procedural", reverse=True), np.random.default_rng(4)
    )
    cfg, vehicle = ObstacleConfig(), VehicleConfig()
    sides = split_walls(course)
    for seed in range(40):
        obs = generate_obstacles(course, cfg, vehicle, np.random.default_rng(seed))
        check_layout(course, obs, cfg, vehicle, sides)


def test_kart_preset():
    env = kart_preset()
    course = default_course(env.course, env.vehicle)
    sides = split_walls(course)
    for seed in range(30):
        obs = generate_obstacles(course, env.obstacles, env.vehicle, np.random.default_rng(seed))
        check_layout(course, obs, env.obstacles, env.vehicle, sides)


def test_tightly_packed_layout_still_keeps_spacing():
    course = default_course()
    length = course.length_m
    cfg = ObstacleConfig(count=int((length - 12.0) // 5.0))  # slot just above min_spacing_m
    vehicle = VehicleConfig()
    sides = split_walls(course)
    for seed in range(20):
        obs = generate_obstacles(course, cfg, vehicle, np.random.default_rng(seed))
        check_layout(course, obs, cfg, vehicle, sides)


def test_zero_wall_margin_and_wide_lateral_range():
    course = default_course()
    cfg = ObstacleConfig(wall_margin_m=0.0, max_lateral_offset_m=5.0, passage_margin_m=0.0)
    vehicle = VehicleConfig()
    sides = split_walls(course)
    for seed in range(40):
        obs = generate_obstacles(course, cfg, vehicle, np.random.default_rng(seed))
        check_layout(course, obs, cfg, vehicle, sides)


def test_same_seed_same_layout_other_seed_other_layout():
    course = default_course()
    cfg, vehicle = ObstacleConfig(), VehicleConfig()
    a = generate_obstacles(course, cfg, vehicle, np.random.default_rng(7))
    b = generate_obstacles(course, cfg, vehicle, np.random.default_rng(7))
    c = generate_obstacles(course, cfg, vehicle, np.random.default_rng(8))
    np.testing.assert_array_equal(a.boxes, b.boxes)
    np.testing.assert_array_equal(a.arc_s, b.arc_s)
    np.testing.assert_array_equal(a.lateral, b.lateral)
    assert not np.allclose(a.boxes, c.boxes)


def test_count_that_does_not_fit_is_a_clear_config_error():
    course = default_course()  # about 90 m: (90 - 12) / 5 = 15.6 slots
    with pytest.raises(ConfigError, match=r"ObstacleConfig\.count=16") as err:
        generate_obstacles(
            course, ObstacleConfig(count=16), VehicleConfig(), np.random.default_rng(0)
        )
    assert "min_spacing_m" in str(err.value)
    generate_obstacles(course, ObstacleConfig(count=15), VehicleConfig(), np.random.default_rng(0))


def test_obstacle_too_wide_for_the_corridor_is_a_clear_config_error():
    course = default_course()
    cfg = ObstacleConfig(width_range_m=(2.5, 2.5))
    with pytest.raises(ConfigError, match=r"ObstacleConfig\.width_range_m"):
        generate_obstacles(course, cfg, VehicleConfig(), np.random.default_rng(0))
