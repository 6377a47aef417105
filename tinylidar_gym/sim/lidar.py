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
BLIND_MARGIN_RAD = 1e-6
"""Segments are culled as behind the sensor only when this far inside the unseen sector (far more
than the 1e-9 beam tolerance of the sweep, so culling never drops a beam's hit)."""

# atan(t) ~ t * P(t^2) on [0, 1] (least squares on Chebyshev nodes); its largest error is
# ATAN_MAX_ERROR_RAD (a test checks it on a dense grid).
_ATAN_P = (
    0.002834098978107082, -0.016005224976212443, 0.042588030193958154, -0.0749549234825554,
    0.10636782950116941, -0.14202580381248536, 0.19992485341784974, -0.3333306692043511,
    0.9999999842746237,
)  # fmt: skip
ATAN_MAX_ERROR_RAD = 1.2e-8
SAFE_MARGIN_RAD = 1e-6
"""The fast beam range is used only when every decision it makes is this far from its threshold
(about 80x the angle error): it then picks exactly the beams that the exact atan2 would."""


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
def atan2_fast(y: float, x: float) -> float:
    """atan2 within ATAN_MAX_ERROR_RAD, in [-pi, pi]; NaN for (0, 0)."""
    ax = abs(x)
    ay = abs(y)
    if ay > ax:
        t = ax / ay
    else:
        t = ay / ax
    z = t * t
    p = _ATAN_P[0]
    for c in _ATAN_P[1:]:
        p = p * z + c
    r = t * p
    if ay > ax:
        r = 0.5 * math.pi - r
    if x < 0.0:
        r = math.pi - r
    return -r if y < 0.0 else r


@njit(cache=True, nogil=True)
def beam_range_exact(
    ta: float, tb: float, base: float, inc: float, n_beams: int
) -> tuple[int, int, int, int]:
    """Beams inside the angular span ta -> tb (counter-clockwise; world angles, exact atan2s):
    ``(lo, hi, lo2, hi2)``, two inclusive index ranges (the second where the span wraps past
    the first beam; empty ranges have hi < lo)."""
    span = tb - ta
    if span < 0.0:
        span += TWO_PI
    start = ta - base
    start = start - TWO_PI * math.floor(start / TWO_PI)
    lo = int(math.ceil(start / inc - 1e-9))
    hi = min(int(math.floor((start + span) / inc + 1e-9)), n_beams - 1)
    if lo >= n_beams:
        hi = -1
    lo2 = 0
    hi2 = -1
    if start + span >= TWO_PI:
        start2 = start - TWO_PI
        lo2 = max(int(math.ceil(start2 / inc - 1e-9)), 0)
        hi2 = min(int(math.floor((start2 + span) / inc + 1e-9)), n_beams - 1)
    return lo, hi, lo2, hi2


@njit(cache=True, nogil=True)
def endpoint_index(theta: float, base: float, inc: float) -> tuple[float, bool]:
    """Fractional beam index of world angle ``theta`` (an atan2_fast value): (theta - base)
    wrapped into [0, 2 pi), in beams. ``ok`` is False when a rounding decision of the exact
    computation lies within SAFE_MARGIN_RAD (near the atan2 branch cut, the wrap, or a beam)."""
    if math.pi - abs(theta) < SAFE_MARGIN_RAD:  # fast and exact angles may differ by 2 pi
        return 0.0, False
    d = theta - base
    turns = d * (1.0 / TWO_PI)
    whole = math.floor(turns)
    frac = turns - whole
    m = SAFE_MARGIN_RAD / TWO_PI
    x = (d - TWO_PI * whole) * (1.0 / inc)
    near_beam = abs(x - math.floor(x + 0.5)) < SAFE_MARGIN_RAD / inc
    return x, m < frac < 1.0 - m and not near_beam


@njit(cache=True, nogil=True)
def beam_range_fast(
    x_a: float, x_b: float, inc: float, n_beams: int
) -> tuple[bool, int, int, int, int]:
    """:func:`beam_range_exact` from the endpoint indices of :func:`endpoint_index` (both ok).

    ``ok`` is False when the span is within SAFE_MARGIN_RAD of empty or of a full turn; else
    the ranges equal the exact ones.
    """
    period = TWO_PI / inc
    margin = SAFE_MARGIN_RAD / inc
    diff = x_b - x_a
    if abs(diff) < margin or abs(abs(diff) - period) < margin:
        return False, 0, -1, 0, -1
    lo = int(math.ceil(x_a))
    if diff > 0.0:  # the span does not pass the wrap angle
        hi = min(int(math.floor(x_b)), n_beams - 1) if lo < n_beams else -1
        return True, lo, hi, 0, -1
    hi = n_beams - 1 if lo < n_beams else -1
    return True, lo, hi, 0, min(int(math.floor(x_b)), n_beams - 1)


@njit(cache=True, nogil=True)
def _in_cone(x: float, y: float, cos_axis: float, sin_axis: float, tan_half: float) -> bool:
    """Is (x, y) strictly inside the cone around (cos_axis, sin_axis), half-angle atan(tan_half)?"""
    u = cos_axis * x + sin_axis * y
    return u > 0.0 and abs(sin_axis * x - cos_axis * y) < u * tan_half


@njit(cache=True, nogil=True)
def _out_of_range(ax: float, ay: float, bx: float, by: float, r2: float) -> bool:
    """Is the whole segment a -> b (sensor frame) farther than sqrt(r2) from the sensor?"""
    if ax * ax + ay * ay <= r2 and bx * bx + by * by <= r2:
        return False  # both ends in range (the common case: no projection needed)
    ex = bx - ax
    ey = by - ay
    u = -(ax * ex + ay * ey) / (ex * ex + ey * ey)
    u = 0.0 if u < 0.0 else (1.0 if u > 1.0 else u)
    cx = ax + u * ex
    cy = ay + u * ey
    return cx * cx + cy * cy > r2


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
    # The unseen sector behind a wide (> 180 deg) field of view is a convex cone: a segment
    # with both ends inside it is wholly inside, and no beam can reach it.
    fov = (n_beams - 1) * angle_inc
    half_blind = math.pi - 0.5 * fov - BLIND_MARGIN_RAD
    cull_blind = 0.0 < half_blind < 0.5 * math.pi
    tan_blind = math.tan(half_blind) if cull_blind else 0.0
    behind = base + 0.5 * fov + math.pi
    bc = math.cos(behind)
    bs = math.sin(behind)
    # Consecutive wall segments share endpoints: reuse the previous end angle (one atan2 less).
    prev_k = -2
    prev_x = 0.0
    prev_ok = False
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
        if (
            cull_blind
            and _in_cone(ax, ay, bc, bs, tan_blind)
            and _in_cone(bx, by, bc, bs, tan_blind)
        ):
            continue
        if _out_of_range(ax, ay, bx, by, r2):
            continue
        if (
            prev_k == k - 1
            and segments[k, 0] == segments[k - 1, 2]
            and segments[k, 1] == segments[k - 1, 3]
        ):
            x_a, ok_a = prev_x, prev_ok
        else:
            x_a, ok_a = endpoint_index(atan2_fast(ay, ax), base, angle_inc)
        x_b, ok_b = endpoint_index(atan2_fast(by, bx), base, angle_inc)
        prev_k = k
        prev_x = x_b
        prev_ok = ok_b
        ok = False
        if ok_a and ok_b:
            ok, lo, hi, lo2, hi2 = beam_range_fast(x_a, x_b, angle_inc, n_beams)
        if not ok:  # a decision too close to call with the fast angles: exact atan2s
            lo, hi, lo2, hi2 = beam_range_exact(
                math.atan2(ay, ax), math.atan2(by, bx), base, angle_inc, n_beams
            )
        # Along beam d (sensor frame): t = cross(a, e) / cross(d, e); cross(a, e) = num is
        # rotation-invariant, so only e is rotated into the sensor frame.
        lex = ch * ex + sh * ey
        ley = -sh * ex + ch * ey
        _sweep(out, lo, hi, beam_cos, beam_sin, lex, ley, num)
        # A full-circle scan could reach the same beams twice; the min makes that harmless.
        _sweep(out, lo2, hi2, beam_cos, beam_sin, lex, ley, num)


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
