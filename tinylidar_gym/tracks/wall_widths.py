"""Corridor widths measured from the walls themselves.

A map's centerline CSV states widths (``w_tr_left_m``, ``w_tr_right_m``) that are often wider
than the occupancy grid's walls the car actually hits; anything that keeps clear of walls (the
obstacle generator, the expert's planner) must use what the walls say.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

_RUN = 32
"""Centerline points searched together."""
_NEAR_M = 4.0
"""Walls searched first: those within this distance of a run's bounding box."""


@njit(cache=True, nogil=True)
def _nearest_per_side(
    points: np.ndarray, tangents: np.ndarray, walls: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    n = points.shape[0]
    left = np.full(n, np.inf)
    right = np.full(n, np.inf)
    for i in range(n):
        px, py = points[i, 0], points[i, 1]
        tx, ty = tangents[i, 0], tangents[i, 1]
        for k in range(walls.shape[0]):
            ax, ay = walls[k, 0], walls[k, 1]
            ex, ey = walls[k, 2] - ax, walls[k, 3] - ay
            ee = ex * ex + ey * ey
            u = 0.0
            if ee > 0.0:
                u = ((px - ax) * ex + (py - ay) * ey) / ee
                u = min(max(u, 0.0), 1.0)
            dx = ax + u * ex - px
            dy = ay + u * ey - py
            d = math.sqrt(dx * dx + dy * dy)
            if tx * dy - ty * dx > 0.0:
                if d < left[i]:
                    left[i] = d
            elif d < right[i]:
                right[i] = d
    return left, right


def widths_from_walls(
    centerline: np.ndarray, walls: np.ndarray, fallback_m: float = 1e-3
) -> tuple[np.ndarray, np.ndarray]:
    """Distance from each centerline point to the nearest wall on its left and on its right.

    Args:
        centerline: (P, 2) closed centerline in driving order, metres.
        walls: (S, 4) wall segments ``ax, ay, bx, by``, metres.
        fallback_m: width reported on a side with no wall at all (an open map edge).

    Returns:
        half_width_left (P,), half_width_right (P,) metres: the largest lateral offset a point
        can have on that side without touching a wall (the nearest wall point in any direction
        on that side, so a wall that closes in ahead or behind counts too).
    """
    cl = np.ascontiguousarray(centerline, dtype=np.float64)
    walls = np.ascontiguousarray(walls, dtype=np.float64)
    tangent = np.roll(cl, -1, axis=0) - np.roll(cl, 1, axis=0)
    tangent /= np.maximum(np.linalg.norm(tangent, axis=1, keepdims=True), 1e-12)
    left = np.full(len(cl), np.inf)
    right = np.full(len(cl), np.inf)
    # Search each run of points among the walls near it first; any wall within _NEAR_M of a
    # point is among them, so only a side with nothing that near needs the full search.
    seg_lo = np.minimum(walls[:, :2], walls[:, 2:])
    seg_hi = np.maximum(walls[:, :2], walls[:, 2:])
    for k in range(0, len(cl), _RUN):
        pts = cl[k : k + _RUN]
        lo, hi = pts.min(axis=0) - _NEAR_M, pts.max(axis=0) + _NEAR_M
        near = np.all((seg_hi >= lo) & (seg_lo <= hi), axis=1)
        left[k : k + _RUN], right[k : k + _RUN] = _nearest_per_side(
            pts, tangent[k : k + _RUN], walls[near]
        )
    far = (left > _NEAR_M) | (right > _NEAR_M)
    if far.any():
        left[far], right[far] = _nearest_per_side(cl[far], tangent[far], walls)
    left[~np.isfinite(left)] = fallback_m
    right[~np.isfinite(right)] = fallback_m
    return np.maximum(left, fallback_m), np.maximum(right, fallback_m)
