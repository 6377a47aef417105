"""Closed-loop courses: a centerline with widths, and the wall segments around it.

Every wall is stored as a segment ``(ax, ay, bx, by)`` oriented so that free space lies on its
*left* (``cross(b - a, p - a) > 0`` for a point ``p`` on the track). The LiDAR uses this to skip
back faces, and occupancy-grid maps follow the same convention.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from tinylidar_gym.sim.config import CourseConfig, VehicleConfig

DEFAULT_COURSE_SEED = 3
"""Seed of the built-in default course (a fixed member of the procedural family)."""


@dataclass(frozen=True)
class Course:
    """A closed corridor.

    Attributes:
        centerline: (P, 2) metres, closed implicitly (point P-1 connects to point 0).
        half_width_left: (P,) metres from the centerline to the left wall (None for maps
            whose walls come from an occupancy grid and are not parallel curves).
        half_width_right: (P,) metres to the right wall.
        walls: (S, 4) wall segments, free space on the left of each.
    """

    centerline: np.ndarray
    half_width_left: np.ndarray
    half_width_right: np.ndarray
    walls: np.ndarray
    name: str = "course"

    @property
    def n_points(self) -> int:
        return int(self.centerline.shape[0])

    @cached_property
    def arc_length(self) -> np.ndarray:
        """(P + 1,) cumulative arc length; the last entry is the lap length."""
        d = np.diff(self.centerline, axis=0, append=self.centerline[:1])
        return np.concatenate([[0.0], np.cumsum(np.hypot(d[:, 0], d[:, 1]))])

    @property
    def length_m(self) -> float:
        return float(self.arc_length[-1])

    @cached_property
    def curvature(self) -> np.ndarray:
        """(P,) unsigned curvature of the centerline at each point, 1/m."""
        return _curvature(self.centerline)

    @cached_property
    def tangent_yaw(self) -> np.ndarray:
        """(P,) heading of the centerline at each point (central difference)."""
        nxt = np.roll(self.centerline, -1, axis=0)
        prv = np.roll(self.centerline, 1, axis=0)
        d = nxt - prv
        return np.arctan2(d[:, 1], d[:, 0])

    def start_pose(self) -> tuple[float, float, float]:
        """(x, y, yaw) of the start line: centerline point 0, facing along the course."""
        return (
            float(self.centerline[0, 0]),
            float(self.centerline[0, 1]),
            float(self.tangent_yaw[0]),
        )

    def interpolate(self, s_m: float | np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Centerline position (.., 2), yaw and point index at arc length ``s_m`` (wraps)."""
        arc = self.arc_length
        s = np.mod(np.asarray(s_m, dtype=np.float64), arc[-1])
        idx = np.clip(np.searchsorted(arc, s, side="right") - 1, 0, self.n_points - 1)
        nxt = (idx + 1) % self.n_points
        seg = self.centerline[nxt] - self.centerline[idx]
        seg_len = np.hypot(seg[..., 0], seg[..., 1])
        frac = (s - arc[idx]) / np.where(seg_len > 0, seg_len, 1.0)
        pos = self.centerline[idx] + seg * frac[..., None]
        yaw = np.arctan2(seg[..., 1], seg[..., 0])
        return pos, yaw, idx


def course_from_centerline(
    centerline: np.ndarray,
    half_width_left: np.ndarray,
    half_width_right: np.ndarray,
    name: str = "course",
) -> Course:
    """Build walls as offset curves of a closed centerline (P, 2) with per-point widths."""
    centerline = np.ascontiguousarray(centerline, dtype=np.float64)
    hl = np.broadcast_to(np.asarray(half_width_left, dtype=np.float64), (len(centerline),)).copy()
    hr = np.broadcast_to(np.asarray(half_width_right, dtype=np.float64), (len(centerline),)).copy()
    if centerline.ndim != 2 or centerline.shape[1] != 2 or len(centerline) < 4:
        raise ValueError(f"centerline must have shape (P >= 4, 2), got {centerline.shape}.")
    if np.any(hl <= 0) or np.any(hr <= 0):
        raise ValueError("half widths must be > 0 everywhere.")
    nxt = np.roll(centerline, -1, axis=0)
    prv = np.roll(centerline, 1, axis=0)
    tangent = nxt - prv
    tangent /= np.linalg.norm(tangent, axis=1, keepdims=True)
    normal = np.stack([-tangent[:, 1], tangent[:, 0]], axis=1)  # points left
    left = centerline + normal * hl[:, None]
    right = centerline - normal * hr[:, None]
    # Right wall runs forward (track on its left); left wall runs backward. Rows are chained
    # (each segment starts where the previous ends), which the LiDAR exploits.
    right_segs = np.concatenate([right, np.roll(right, -1, axis=0)], axis=1)
    left_segs = np.concatenate([np.roll(left, -1, axis=0), left], axis=1)[::-1]
    walls = np.ascontiguousarray(np.concatenate([right_segs, left_segs]), dtype=np.float64)
    return Course(centerline, hl, hr, walls, name=name)


def _resample_closed(points: np.ndarray, spacing_m: float) -> np.ndarray:
    """Resample a closed polyline at (nearly) uniform arc length."""
    d = np.diff(points, axis=0, append=points[:1])
    arc = np.concatenate([[0.0], np.cumsum(np.hypot(d[:, 0], d[:, 1]))])
    n = max(8, int(round(arc[-1] / spacing_m)))
    s = np.linspace(0.0, arc[-1], n, endpoint=False)
    closed = np.concatenate([points, points[:1]])
    return np.stack([np.interp(s, arc, closed[:, 0]), np.interp(s, arc, closed[:, 1])], axis=1)


def _curvature(points: np.ndarray) -> np.ndarray:
    """Unsigned curvature (1/m) of a closed polyline by the circumscribed circle of neighbours."""
    a = np.roll(points, 1, axis=0)
    b = points
    c = np.roll(points, -1, axis=0)
    ab = np.linalg.norm(b - a, axis=1)
    bc = np.linalg.norm(c - b, axis=1)
    ca = np.linalg.norm(a - c, axis=1)
    cross = np.abs((b - a)[:, 0] * (c - a)[:, 1] - (b - a)[:, 1] * (c - a)[:, 0])
    return 2.0 * cross / np.maximum(ab * bc * ca, 1e-12)


def _is_valid_corridor(course: Course, min_radius_m: float) -> bool:
    """Walls neither fold (curvature) nor approach another part of the course."""
    cl = course.centerline
    curv = _curvature(cl)
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
        pts = _resample_closed(pts, cfg.point_spacing_m)
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
    curv = _curvature(points)
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
