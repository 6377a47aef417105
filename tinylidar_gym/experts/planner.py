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
    turning_radius_margin: float = 1.15
    """The path's tightest radius is kept at this multiple of the car's turning radius; where the
    clearances would force a tighter path, the path gives up clearance (down to none)."""
    steer_rate_share: float = 0.6
    """Speed is limited so that following the path's curvature changes needs at most this share
    of the car's steering rate."""
    tight_speed_mps: float = 2.0
    """Speed where the path keeps no clearance at all; it grows by ``tight_speed_gain_per_s`` per
    metre of clearance up to the minimum clearances (it only binds in passages tighter than
    the planner's minimum clearances)."""
    tight_speed_gain_per_s: float = 25.0
    """See ``tight_speed_mps`` (m/s of speed per m of clearance)."""


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
    # Where the footprint's side touches (no clearance): the last resort of a tight passage.
    touch_lo = lower - cfg.wall_clearance_m
    touch_hi = upper + cfg.wall_clearance_m

    for corners in obstacles.corners:
        _bound_obstacle(course, corners, s, lower, upper, touch_lo, touch_hi, vehicle, cfg)

    feasible = bool(np.all(lower <= upper))
    mid = 0.5 * (lower + upper)
    lo = np.minimum(lower, mid)
    hi = np.maximum(upper, mid)
    offset = np.clip(np.zeros(n), lo, hi)
    for _ in range(cfg.smoothing_iterations):
        offset = 0.25 * np.roll(offset, 1) + 0.5 * offset + 0.25 * np.roll(offset, -1)
        np.clip(offset, lo, hi, out=offset)

    normal = np.stack([-np.sin(yaw), np.cos(yaw)], axis=1)
    max_curv = 1.0 / (cfg.turning_radius_margin * vehicle.min_turning_radius_m)
    offset = _limit_curvature(offset, pos, normal, touch_lo, touch_hi, max_curv)
    xy = pos + offset[:, None] * normal
    cap = np.minimum(
        _steer_rate_speed(xy, vehicle, cfg),
        _tight_speed(offset, lower, upper, touch_lo, touch_hi, cfg),
    )
    speed = _speed_profile(xy, cfg, cap)
    return Plan(s, offset, lower, upper, xy, speed, lap, feasible)


def _bound_obstacle(
    course: Course,
    corners: np.ndarray,
    s: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    touch_lo: np.ndarray,
    touch_hi: np.ndarray,
    vehicle: VehicleConfig,
    cfg: PlannerConfig,
) -> None:
    """Tighten the offset bounds (M,) in place where one obstacle (its (4, 2) corners) is
    passed, on the side with the wider gap."""
    lap = course.length_m
    half_w = vehicle.width_m / 2.0
    front = vehicle.length_m - vehicle.rear_overhang_m  # rear axle to front bumper
    rear = vehicle.rear_overhang_m
    cs, cd = project_points(course, corners)
    # Unwrap corner arc lengths around the first one (an obstacle may straddle the start).
    cs = cs[0] + (np.mod(cs - cs[0] + lap / 2, lap) - lap / 2)
    s_lo = cs.min() - front - cfg.longitudinal_buffer_m
    s_hi = cs.max() + rear + cfg.longitudinal_buffer_m
    mask = _cyclic_mask(s, s_lo, s_hi, lap)
    if not mask.any():
        return
    gap_left = (upper[mask] + half_w + cfg.wall_clearance_m).min() - cd.max()
    gap_right = cd.min() - (lower[mask] - half_w - cfg.wall_clearance_m).max()
    # The preferred clearance where the passage allows it, never less than the minimum.
    if gap_left >= gap_right:
        room = upper[mask].min() - (cd.max() + half_w)
        clear = max(cfg.obstacle_clearance_m, min(cfg.preferred_obstacle_clearance_m, room))
        lower[mask] = np.maximum(lower[mask], cd.max() + half_w + clear)
        touch_lo[mask] = np.maximum(touch_lo[mask], cd.max() + half_w)
    else:
        room = (cd.min() - half_w) - lower[mask].max()
        clear = max(cfg.obstacle_clearance_m, min(cfg.preferred_obstacle_clearance_m, room))
        upper[mask] = np.minimum(upper[mask], cd.min() - half_w - clear)
        touch_hi[mask] = np.minimum(touch_hi[mask], cd.min() - half_w)


def _limit_curvature(
    offset: np.ndarray,
    pos: np.ndarray,
    normal: np.ndarray,
    touch_lo: np.ndarray,
    touch_hi: np.ndarray,
    max_curv: float,
    iterations: int = 300,
) -> np.ndarray:
    """Smooth the offset (M,) only where the path bends tighter than ``max_curv`` (1/m), within
    the no-clearance bounds: a path the car can turn, trading clearance where it must."""
    for _ in range(iterations):
        # Over about a wheelbase's worth of grid: a one-point kink is grid noise the tracker
        # smooths anyway.
        curv = _smoothed(curvature(pos + offset[:, None] * normal))
        bad = curv > max_curv
        if not bad.any():
            break
        for shift in (-3, -2, -1, 1, 2, 3):  # widen: the kink's neighbours move too
            bad |= np.roll(curv > max_curv, shift)
        smooth = 0.25 * np.roll(offset, 1) + 0.5 * offset + 0.25 * np.roll(offset, -1)
        lo, hi = np.minimum(touch_lo, touch_hi), np.maximum(touch_lo, touch_hi)
        offset = np.where(bad, np.clip(smooth, lo, hi), offset)
    return offset


def _steer_rate_speed(xy: np.ndarray, vehicle: VehicleConfig, cfg: PlannerConfig) -> np.ndarray:
    """(M,) speed at which following the path's curvature changes needs ``steer_rate_share`` of
    the steering rate: steer = atan(L k), so d steer / dt = L v (dk/ds) / (1 + (L k)^2)."""
    curv = _smoothed(_signed_curvature(xy))
    step = np.hypot(*(np.roll(xy, -1, axis=0) - xy).T)
    dk = np.abs(np.roll(curv, -1) - np.roll(curv, 1)) / np.maximum(2.0 * step, 1e-6)
    wb = vehicle.wheelbase_m
    rate = cfg.steer_rate_share * vehicle.max_steer_rate_radps
    return rate * (1.0 + (wb * curv) ** 2) / np.maximum(wb * dk, 1e-9)


def _tight_speed(
    offset: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    touch_lo: np.ndarray,
    touch_hi: np.ndarray,
    cfg: PlannerConfig,
) -> np.ndarray:
    """(M,) speed cap where the path keeps less room than the planner's bounds asked for
    (crossed bounds, or clearance given up for the turning radius): slow through such a
    passage rather than clip it. Infinite elsewhere."""
    short = (offset < lower - 1e-6) | (offset > upper + 1e-6)
    room = np.minimum(offset - touch_lo, touch_hi - offset)
    cap = cfg.tight_speed_mps + cfg.tight_speed_gain_per_s * np.maximum(room, 0.0)
    return np.where(short, cap, np.inf)


def _signed_curvature(xy: np.ndarray) -> np.ndarray:
    a, c = np.roll(xy, 1, axis=0), np.roll(xy, -1, axis=0)
    cross = (xy - a)[:, 0] * (c - a)[:, 1] - (xy - a)[:, 1] * (c - a)[:, 0]
    return np.sign(cross) * curvature(xy)


def _smoothed(values: np.ndarray) -> np.ndarray:
    """Cyclic 7-point moving average (grid noise must not dent a profile)."""
    return np.convolve(np.concatenate([values[-3:], values, values[:3]]), np.ones(7) / 7, "same")[
        3:-3
    ]


def _speed_profile(xy: np.ndarray, cfg: PlannerConfig, cap: np.ndarray) -> np.ndarray:
    """(M,) speed: top speed, lateral acceleration and ``cap`` (M,), then what braking and
    accelerating can follow."""
    curv = _smoothed(curvature(xy))
    v = np.minimum(cfg.max_speed_mps, np.sqrt(cfg.max_lateral_accel_mps2 / np.maximum(curv, 1e-6)))
    return _accel_limits(np.minimum(v, cap), xy, cfg)


def _accel_limits(v: np.ndarray, xy: np.ndarray, cfg: PlannerConfig) -> np.ndarray:
    """The largest profile at or below ``v`` (M,) that braking and accelerating can follow."""
    v = v.copy()
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
