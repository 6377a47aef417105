"""Privileged path planning: a smooth, collision-free lateral offset profile along the course.

The plan is a lateral offset ``d(s)`` from the centerline (left positive) on a fine arc-length
grid. Walls and obstacles become bounds ``lo(s) <= d(s) <= hi(s)`` for the rear axle; each
obstacle is passed on the side with the wider gap. Repeated smoothing followed by projection onto
the bounds yields a smooth path that hugs the constraints only where it must. A speed profile
bounded by lateral acceleration and by braking/acceleration limits completes the plan.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinylidar_gym.sim.config import VehicleConfig
from tinylidar_gym.sim.course import Course, curvature, project_points
from tinylidar_gym.sim.obstacles import Obstacles


@dataclass(frozen=True)
class PlannerConfig:
    """Tuning of the path planner and speed profile."""

    grid_step_m: float = 0.2
    """Arc-length spacing of the plan."""
    wall_clearance_m: float = 0.15
    """Kept between the footprint side and a wall."""
    obstacle_clearance_m: float = 0.14
    """Smallest gap kept between the footprint side and an obstacle."""
    preferred_obstacle_clearance_m: float = 0.4
    """Gap kept where the passage is wide enough (more margin for a learner copying the path)."""
    longitudinal_buffer_m: float = 0.35
    """Extra arc length before/after an obstacle where its lateral bound already holds."""
    smoothing_iterations: int = 400
    """Smoothing/projection rounds (more = smoother, closer to the bounds' limits)."""
    max_speed_mps: float = 7.0
    """Top speed of the speed profile."""
    max_lateral_accel_mps2: float = 6.0
    """Speed is limited to sqrt(a_lat / curvature)."""
    max_accel_mps2: float = 5.0
    """Acceleration used when planning the speed profile."""
    max_decel_mps2: float = 6.0
    """Braking used when planning the speed profile."""


@dataclass(frozen=True)
class Plan:
    """A planned path on the course.

    Attributes:
        s: (M,) arc length of the grid along the centerline, metres (cyclic, lap length ``lap_m``).
        offset: (M,) lateral offset of the rear axle from the centerline, metres (left positive).
        lower, upper: (M,) the bounds the offset had to respect.
        xy: (M, 2) path points, metres.
        speed: (M,) target speed, m/s.
        feasible: False when the bounds crossed somewhere (the path is then a best effort).
    """

    s: np.ndarray
    offset: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    xy: np.ndarray
    speed: np.ndarray
    lap_m: float
    feasible: bool


def _cyclic_mask(s_grid: np.ndarray, lo: float, hi: float, lap: float) -> np.ndarray:
    """Grid points within the cyclic interval [lo, hi]."""
    rel = np.mod(s_grid - lo, lap)
    return rel <= (hi - lo)


def plan_path(
    course: Course,
    obstacles: Obstacles,
    vehicle: VehicleConfig,
    cfg: PlannerConfig | None = None,
) -> Plan:
    """Plan a smooth collision-free path and its speed profile (deterministic)."""
    cfg = cfg or PlannerConfig()
    lap = course.length_m
    n = max(16, int(round(lap / cfg.grid_step_m)))
    s = np.linspace(0.0, lap, n, endpoint=False)
    pos, yaw, idx = course.interpolate(s)
    half_w = vehicle.width_m / 2.0
    lower = -course.half_width_right[idx] + half_w + cfg.wall_clearance_m
    upper = course.half_width_left[idx] - half_w - cfg.wall_clearance_m

    front = vehicle.length_m - vehicle.rear_overhang_m  # rear axle to front bumper
    rear = vehicle.rear_overhang_m
    for corners in obstacles.corners:
        cs, cd = project_points(course, corners)
        # Unwrap corner arc lengths around the first one (an obstacle may straddle the start).
        cs = cs[0] + (np.mod(cs - cs[0] + lap / 2, lap) - lap / 2)
        s_lo = cs.min() - front - cfg.longitudinal_buffer_m
        s_hi = cs.max() + rear + cfg.longitudinal_buffer_m
        mask = _cyclic_mask(s, s_lo, s_hi, lap)
        if not mask.any():
            continue
        gap_left = (upper[mask] + half_w + cfg.wall_clearance_m).min() - cd.max()
        gap_right = cd.min() - (lower[mask] - half_w - cfg.wall_clearance_m).max()
        # The preferred clearance where the passage allows it, never less than the minimum.
        if gap_left >= gap_right:
            room = upper[mask].min() - (cd.max() + half_w)
            clear = max(cfg.obstacle_clearance_m, min(cfg.preferred_obstacle_clearance_m, room))
            lower[mask] = np.maximum(lower[mask], cd.max() + half_w + clear)
        else:
            room = (cd.min() - half_w) - lower[mask].max()
            clear = max(cfg.obstacle_clearance_m, min(cfg.preferred_obstacle_clearance_m, room))
            upper[mask] = np.minimum(upper[mask], cd.min() - half_w - clear)

    feasible = bool(np.all(lower <= upper))
    mid = 0.5 * (lower + upper)
    lo = np.minimum(lower, mid)
    hi = np.maximum(upper, mid)
    offset = np.clip(np.zeros(n), lo, hi)
    for _ in range(cfg.smoothing_iterations):
        offset = 0.25 * np.roll(offset, 1) + 0.5 * offset + 0.25 * np.roll(offset, -1)
        np.clip(offset, lo, hi, out=offset)

    normal = np.stack([-np.sin(yaw), np.cos(yaw)], axis=1)
    xy = pos + offset[:, None] * normal
    speed = _speed_profile(xy, cfg)
    return Plan(s, offset, lower, upper, xy, speed, lap, feasible)


def _speed_profile(xy: np.ndarray, cfg: PlannerConfig) -> np.ndarray:
    curv = curvature(xy)
    # Smooth curvature a little so grid noise does not dent the profile.
    curv = np.convolve(np.concatenate([curv[-3:], curv, curv[:3]]), np.ones(7) / 7, "same")[3:-3]
    v = np.minimum(cfg.max_speed_mps, np.sqrt(cfg.max_lateral_accel_mps2 / np.maximum(curv, 1e-6)))
    step = np.hypot(*(np.roll(xy, -1, axis=0) - xy).T)
    n = len(v)
    for _ in range(2):  # twice round the loop settles the cyclic boundary
        for i in range(n - 1, -1, -1):
            j = (i + 1) % n
            v[i] = min(v[i], np.sqrt(v[j] ** 2 + 2.0 * cfg.max_decel_mps2 * step[i]))
        for i in range(n):
            j = (i - 1) % n
            v[i] = min(v[i], np.sqrt(v[j] ** 2 + 2.0 * cfg.max_accel_mps2 * step[j]))
    return v
