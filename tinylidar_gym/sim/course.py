"""Closed-loop courses: a centerline with widths, and the wall segments around it.

Every wall is stored as a segment ``(ax, ay, bx, by)`` oriented so that free space lies on its
*left* (``cross(b - a, p - a) > 0`` for a point ``p`` on the track). The LiDAR uses this to skip
back faces, and occupancy-grid maps follow the same convention.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np


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
        return curvature(self.centerline)

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


def project_points(course: Course, pts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Arc length (K,) and signed lateral offset (K,) of points (K, 2) on the centerline, metres
    (left positive), by a global nearest-segment search."""
    a = course.centerline
    e = np.roll(a, -1, axis=0) - a
    ee = np.maximum((e**2).sum(axis=1), 1e-12)
    rel = pts[:, None, :] - a[None, :, :]
    u = np.clip((rel * e[None]).sum(axis=2) / ee[None], 0.0, 1.0)
    closest = a[None] + u[..., None] * e[None]
    d2 = ((pts[:, None, :] - closest) ** 2).sum(axis=2)
    j = np.argmin(d2, axis=1)
    k = np.arange(len(pts))
    s = course.arc_length[j] + u[k, j] * np.sqrt(ee[j])
    side = e[j, 0] * rel[k, j, 1] - e[j, 1] * rel[k, j, 0]
    return s, np.copysign(np.sqrt(d2[k, j]), side)


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


def resample_closed(points: np.ndarray, spacing_m: float) -> np.ndarray:
    """Resample a closed polyline at (nearly) uniform arc length."""
    d = np.diff(points, axis=0, append=points[:1])
    arc = np.concatenate([[0.0], np.cumsum(np.hypot(d[:, 0], d[:, 1]))])
    n = max(8, int(round(arc[-1] / spacing_m)))
    s = np.linspace(0.0, arc[-1], n, endpoint=False)
    closed = np.concatenate([points, points[:1]])
    return np.stack([np.interp(s, arc, closed[:, 0]), np.interp(s, arc, closed[:, 1])], axis=1)


def curvature(points: np.ndarray) -> np.ndarray:
    """Unsigned curvature (1/m) of a closed polyline by the circumscribed circle of neighbours."""
    a = np.roll(points, 1, axis=0)
    b = points
    c = np.roll(points, -1, axis=0)
    ab = np.linalg.norm(b - a, axis=1)
    bc = np.linalg.norm(c - b, axis=1)
    ca = np.linalg.norm(a - c, axis=1)
    cross = np.abs((b - a)[:, 0] * (c - a)[:, 1] - (b - a)[:, 1] * (c - a)[:, 0])
    return 2.0 * cross / np.maximum(ab * bc * ca, 1e-12)
