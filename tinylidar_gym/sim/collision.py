"""Footprint collision: the vehicle rectangle against wall and obstacle segments."""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def point_segment_distance(px: float, py: float, seg: np.ndarray) -> float:
    """Euclidean distance from a point to segment ``seg = (ax, ay, bx, by)``."""
    ax = seg[0]
    ay = seg[1]
    ex = seg[2] - ax
    ey = seg[3] - ay
    ee = ex * ex + ey * ey
    u = 0.0
    if ee > 0.0:
        u = ((px - ax) * ex + (py - ay) * ey) / ee
        u = 0.0 if u < 0.0 else (1.0 if u > 1.0 else u)
    dx = ax + u * ex - px
    dy = ay + u * ey - py
    return math.sqrt(dx * dx + dy * dy)


@njit(cache=True, nogil=True)
def segment_hits_box(
    seg: np.ndarray,
    cx: float,
    cy: float,
    cos_yaw: float,
    sin_yaw: float,
    half_len: float,
    half_wid: float,
) -> bool:
    """Does the segment touch the box centred at (cx, cy) with the given heading and half sizes?

    Liang-Barsky clipping of the segment in the box frame.
    """
    ax = seg[0] - cx
    ay = seg[1] - cy
    bx = seg[2] - cx
    by = seg[3] - cy
    x0 = cos_yaw * ax + sin_yaw * ay
    y0 = -sin_yaw * ax + cos_yaw * ay
    x1 = cos_yaw * bx + sin_yaw * by
    y1 = -sin_yaw * bx + cos_yaw * by
    dx = x1 - x0
    dy = y1 - y0
    t0 = 0.0
    t1 = 1.0
    for k in range(4):
        if k == 0:
            p, q = -dx, x0 + half_len
        elif k == 1:
            p, q = dx, half_len - x0
        elif k == 2:
            p, q = -dy, y0 + half_wid
        else:
            p, q = dy, half_wid - y0
        if p == 0.0:
            if q < 0.0:
                return False
        else:
            r = q / p
            if p < 0.0:
                if r > t1:
                    return False
                if r > t0:
                    t0 = r
            else:
                if r < t0:
                    return False
                if r < t1:
                    t1 = r
    return True


@njit(cache=True, nogil=True)
def box_segment_distance(
    seg: np.ndarray,
    cx: float,
    cy: float,
    cos_yaw: float,
    sin_yaw: float,
    half_len: float,
    half_wid: float,
) -> float:
    """Distance from the box (as in segment_hits_box) to the segment; 0 when they touch."""
    if segment_hits_box(seg, cx, cy, cos_yaw, sin_yaw, half_len, half_wid):
        return 0.0
    best = np.inf
    # Segment endpoints against the box (in the box frame)...
    for e in range(2):
        px = seg[2 * e] - cx
        py = seg[2 * e + 1] - cy
        lx = abs(cos_yaw * px + sin_yaw * py) - half_len
        ly = abs(-sin_yaw * px + cos_yaw * py) - half_wid
        d = math.sqrt(max(lx, 0.0) ** 2 + max(ly, 0.0) ** 2)
        best = min(best, d)
    # ...and box corners against the segment.
    for k in range(4):
        sx = half_len if k < 2 else -half_len
        sy = half_wid if (k == 0 or k == 3) else -half_wid
        px = cx + cos_yaw * sx - sin_yaw * sy
        py = cy + sin_yaw * sx + cos_yaw * sy
        best = min(best, point_segment_distance(px, py, seg))
    return best
