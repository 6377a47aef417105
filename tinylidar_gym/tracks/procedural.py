"""The procedural course family and the built-in default course (a fixed member of it).

A course is a star-shaped closed curve with random harmonics, scaled to a lap length, with
left/right widths that vary along the lap. Shapes tighter than the car can turn or whose walls
would overlap are rejected and redrawn, so every course drawn is drivable.
"""

from __future__ import annotations

import numpy as np

from tinylidar_gym.sim.config import CourseConfig, VehicleConfig
from tinylidar_gym.sim.course import Course, course_from_centerline, curvature, resample_closed

DEFAULT_COURSE_SEED = 3
"""Seed of the built-in default course (a fixed member of the procedural family)."""


def _is_valid_corridor(course: Course, min_radius_m: float) -> bool:
    """Walls neither fold (curvature) nor approach another part of the course."""
    cl = course.centerline
    curv = curvature(cl)
    hw = np.maximum(course.half_width_left, course.half_width_right)
    if np.any(curv * np.maximum(hw * 1.25, min_radius_m) > 1.0):
        return False
    # Non-neighbouring parts of the loop must stay two corridors apart.
    diff = cl[:, None, :] - cl[None, :, :]
    dist = np.hypot(diff[..., 0], diff[..., 1])
    arc = course.arc_length[:-1]
    ds = np.abs(arc[:, None] - arc[None, :])
    ds = np.minimum(ds, course.length_m - ds)
    clearance = hw[:, None] + hw[None, :] + 0.5
    far_along = ds > 2.0 * clearance + 2.0
    return not np.any(far_along & (dist < clearance))


def procedural_course(
    cfg: CourseConfig,
    rng: np.random.Generator,
    vehicle: VehicleConfig | None = None,
    max_tries: int = 200,
) -> Course:
    """Draw a random closed course: a star-shaped curve with random harmonics.

    Rejects shapes whose corners are tighter than the vehicle can turn (with margin) or whose
    walls would overlap, so every course drawn is drivable.
    """
    min_radius = 1.3 * (vehicle or VehicleConfig()).min_turning_radius_m
    theta = np.linspace(0.0, 2.0 * np.pi, 720, endpoint=False)
    for _ in range(max_tries):
        n_harm = 4
        amp = rng.uniform(0.0, 1.0, n_harm) * (0.05 + 0.25 * cfg.curviness) / np.arange(1, 5)
        phase = rng.uniform(0.0, 2.0 * np.pi, n_harm)
        radius = np.ones_like(theta)
        for k in range(n_harm):
            radius += amp[k] * np.cos((k + 2) * theta + phase[k])
        aspect = rng.uniform(1.0, 1.0 + 0.6 * cfg.curviness)
        pts = np.stack([aspect * radius * np.cos(theta), radius * np.sin(theta)], axis=1)
        seg = np.diff(pts, axis=0, append=pts[:1])
        pts *= cfg.length_m / np.hypot(seg[:, 0], seg[:, 1]).sum()
        pts = resample_closed(pts, cfg.point_spacing_m)
        # Start on the straightest part of the loop so the first metres are calm.
        start = int(np.argmin(_smoothed_curvature(pts)))
        pts = np.roll(pts, -start, axis=0)
        if cfg.reverse:
            pts = pts[::-1].copy()
        n = len(pts)
        s_frac = np.arange(n) / n
        wphase = rng.uniform(0.0, 2.0 * np.pi, 2)
        var = cfg.width_variation
        hl = cfg.half_width_m * (1.0 + var * np.sin(2.0 * np.pi * 2 * s_frac + wphase[0]))
        hr = cfg.half_width_m * (1.0 + var * np.sin(2.0 * np.pi * 3 * s_frac + wphase[1]))
        course = course_from_centerline(pts, hl, hr, name="procedural")
        if _is_valid_corridor(course, min_radius):
            return course
    raise ValueError(
        "Could not draw a valid course in "
        f"{max_tries} tries: CourseConfig.half_width_m={cfg.half_width_m} is too wide for "
        f"length_m={cfg.length_m} at curviness={cfg.curviness}; lower half_width_m or curviness, "
        "or raise length_m."
    )


def _smoothed_curvature(points: np.ndarray, window: int = 15) -> np.ndarray:
    curv = curvature(points)
    kernel = np.ones(window) / window
    padded = np.concatenate([curv[-window:], curv, curv[:window]])
    return np.convolve(padded, kernel, mode="same")[window:-window]


def default_course(cfg: CourseConfig | None = None, vehicle: VehicleConfig | None = None) -> Course:
    """The built-in course: a fixed member of the procedural family (same for everyone)."""
    cfg = cfg or CourseConfig()
    course = procedural_course(cfg, np.random.default_rng(DEFAULT_COURSE_SEED), vehicle)
    return Course(
        course.centerline,
        course.half_width_left,
        course.half_width_right,
        course.walls,
        name="default",
    )
