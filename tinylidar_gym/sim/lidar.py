"""Exact 2D LiDAR: ray casting against line segments, swept per segment.

Instead of marching every beam through the map, each visible segment is visited once and only the
beams inside its angular span are intersected with it. A scan then costs about one
ray-segment division per beam and depth layer, plus a cheap pass over the segments.

Conventions (as ROS ``LaserScan`` and f1tenth_gym): beam 0 at ``angle_min`` (to the right),
angles grow counter-clockwise, the middle beam of an odd count points straight ahead.
Segments follow the course convention: free space on the left of ``a -> b``; a segment seen from
its back is skipped (it is always hidden behind a front face of the same closed boundary).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from tinylidar_gym.sim.config import LidarConfig

TWO_PI = 2.0 * math.pi


def beam_angles(cfg: LidarConfig) -> np.ndarray:
    """(n_beams,) beam angles relative to the sensor heading, radians."""
    return cfg.angle_min_rad + np.arange(cfg.n_beams) * cfg.angle_increment_rad


def beam_directions(cfg: LidarConfig) -> tuple[np.ndarray, np.ndarray]:
    """Cosines and sines of the beam angles in the sensor frame, each (n_beams,)."""
    ang = beam_angles(cfg)
    return np.cos(ang), np.sin(ang)


@njit(cache=True, nogil=True)
def _sweep(
    out: np.ndarray,
    i_lo: int,
    i_hi: int,
    beam_cos: np.ndarray,
    beam_sin: np.ndarray,
    ex: float,
    ey: float,
    num: float,
) -> None:
    for j in range(i_lo, i_hi + 1):
        denom = beam_cos[j] * ey - beam_sin[j] * ex
        if denom > 1e-15:
            t = num / denom
            if 0.0 <= t < out[j]:
                out[j] = t


@njit(cache=True, nogil=True)
def cast_scan(
    px: float,
    py: float,
    heading: float,
    segments: np.ndarray,
    n_segments: int,
    beam_cos: np.ndarray,
    beam_sin: np.ndarray,
    angle_min: float,
    angle_inc: float,
    max_range: float,
    out: np.ndarray,
) -> None:
    """Fill ``out`` (n_beams,) with ranges in metres from pose (px, py, heading).

    Args:
        segments: (S, >=4) rows ``ax, ay, bx, by``; only the first ``n_segments`` are used.
        beam_cos, beam_sin: (n_beams,) beam directions in the sensor frame.
        out: (n_beams,) float64; beams that hit nothing read ``max_range``.
    """
    n_beams = out.shape[0]
    for j in range(n_beams):
        out[j] = max_range
    ch = math.cos(heading)
    sh = math.sin(heading)
    r2 = max_range * max_range
    base = heading + angle_min
    # Consecutive wall segments share endpoints: reuse the previous end angle (one atan2 less).
    prev_k = -2
    prev_tb = 0.0
    for k in range(n_segments):
        ax = segments[k, 0] - px
        ay = segments[k, 1] - py
        bx = segments[k, 2] - px
        by = segments[k, 3] - py
        ex = bx - ax
        ey = by - ay
        # The sensor is on the free (left) side of a->b iff cross(a - p, e) > 0; back faces are
        # always hidden behind a front face of the same closed boundary, so skip them.
        num = ax * ey - ay * ex
        if num <= 0.0:
            continue
        # Range cull on the nearest point of the segment (only needed when an end is far).
        if ax * ax + ay * ay > r2 or bx * bx + by * by > r2:
            ee = ex * ex + ey * ey
            u = -(ax * ex + ay * ey) / ee
            u = 0.0 if u < 0.0 else (1.0 if u > 1.0 else u)
            cx = ax + u * ex
            cy = ay + u * ey
            if cx * cx + cy * cy > r2:
                continue
        if (
            prev_k == k - 1
            and segments[k, 0] == segments[k - 1, 2]
            and segments[k, 1] == segments[k - 1, 3]
        ):
            ta = prev_tb
        else:
            ta = math.atan2(ay, ax)
        tb = math.atan2(by, bx)
        prev_k = k
        prev_tb = tb
        span = tb - ta
        if span < 0.0:
            span += TWO_PI
        start = ta - base
        start = start - TWO_PI * math.floor(start / TWO_PI)
        # Along beam d (sensor frame): t = cross(a, e) / cross(d, e); cross(a, e) = num is
        # rotation-invariant, so only e is rotated into the sensor frame.
        lex = ch * ex + sh * ey
        ley = -sh * ex + ch * ey
        i_lo = int(math.ceil(start / angle_inc - 1e-9))
        i_hi = int(math.floor((start + span) / angle_inc + 1e-9))
        if i_lo < n_beams:
            _sweep(out, i_lo, min(i_hi, n_beams - 1), beam_cos, beam_sin, lex, ley, num)
        if start + span >= TWO_PI:
            start2 = start - TWO_PI
            i_lo2 = int(math.ceil(start2 / angle_inc - 1e-9))
            if i_lo2 < 0:
                i_lo2 = 0
            i_hi2 = int(math.floor((start2 + span) / angle_inc + 1e-9))
            if i_hi2 > n_beams - 1:
                i_hi2 = n_beams - 1
            # A full-circle scan could reach the same beams twice; the min makes that harmless.
            _sweep(out, i_lo2, i_hi2, beam_cos, beam_sin, lex, ley, num)


def scan_from_pose(
    x_m: float,
    y_m: float,
    heading_rad: float,
    segments: np.ndarray,
    cfg: LidarConfig,
) -> np.ndarray:
    """Convenience: one noiseless scan (n_beams,) float64 from a sensor pose against segments."""
    segments = np.asarray(segments, dtype=np.float64)
    segments = np.ascontiguousarray(segments.reshape(-1, segments.shape[-1])[:, :4])
    cos_b, sin_b = beam_directions(cfg)
    out = np.empty(cfg.n_beams, dtype=np.float64)
    cast_scan(
        float(x_m),
        float(y_m),
        float(heading_rad),
        segments,
        segments.shape[0],
        cos_b,
        sin_b,
        cfg.angle_min_rad,
        cfg.angle_increment_rad,
        cfg.max_range_m,
        out,
    )
    return out
