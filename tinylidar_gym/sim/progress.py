"""Progress along the centerline: local projection, lap unwrapping, checkpoints."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def project_local(
    x: float,
    y: float,
    centerline: np.ndarray,
    n_points: int,
    idx_hint: int,
    window: int,
) -> tuple[int, float, float]:
    """Project (x, y) onto the closed centerline near point ``idx_hint``.

    Args:
        centerline: (P, 3) rows ``x_m, y_m, s_m`` (s = arc length at the point); the segment
            from the last point back to point 0 ends at the lap length stored in row ``n_points``.
        window: how many segments either side of the hint to search. A local search keeps the
            projection on the right branch where the course passes close to itself.

    Returns:
        (segment index, arc length s in [0, lap), squared distance).
    """
    best_d2 = np.inf
    best_idx = idx_hint
    best_s = 0.0
    for o in range(-window, window + 1):
        j = (idx_hint + o) % n_points
        k = j + 1
        ax = centerline[j, 0]
        ay = centerline[j, 1]
        if k == n_points:
            bx = centerline[0, 0]
            by = centerline[0, 1]
        else:
            bx = centerline[k, 0]
            by = centerline[k, 1]
        ex = bx - ax
        ey = by - ay
        ee = ex * ex + ey * ey
        u = 0.0
        if ee > 0.0:
            u = ((x - ax) * ex + (y - ay) * ey) / ee
            u = 0.0 if u < 0.0 else (1.0 if u > 1.0 else u)
        dx = ax + u * ex - x
        dy = ay + u * ey - y
        d2 = dx * dx + dy * dy
        if d2 < best_d2:
            best_d2 = d2
            best_idx = j
            best_s = centerline[j, 2] + u * (centerline[k, 2] - centerline[j, 2])
    return best_idx, best_s, best_d2


def project_global(x: float, y: float, centerline: np.ndarray, n_points: int) -> tuple[int, float]:
    """Project onto the whole centerline (used once at reset); returns (index, s)."""
    idx, s, _ = project_local(x, y, centerline, n_points, 0, n_points // 2 + 1)
    return int(idx), float(s)


@njit(cache=True, nogil=True)
def unwrap_delta(s_new: float, s_old: float, lap_m: float) -> float:
    """Signed progress between two lap positions, taking the shorter way round."""
    ds = s_new - s_old
    half = 0.5 * lap_m
    if ds > half:
        ds -= lap_m
    elif ds < -half:
        ds += lap_m
    return ds


def checkpoint_positions(lap_m: float, n_checkpoints: int, laps: int) -> np.ndarray:
    """(n_checkpoints,) unwrapped arc lengths of the gates, evenly spaced; last = finish."""
    total = lap_m * laps
    return total * np.arange(1, n_checkpoints + 1) / n_checkpoints
