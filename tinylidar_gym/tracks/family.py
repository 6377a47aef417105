"""The race-track family: laps like scaled F1 circuits, one per seed.

A lap is a cyclic sequence of straights and bends, ordered so the heading winds steadily once
round (like a circuit, rarely crossing itself). Bends are drawn by kind: hairpins (150-190
deg, radius ``min_radius_m`` to 3 m), corners (40-120 deg, 2-8 m), kinks (10-40 deg, 5-25 m) and
chicanes (two opposite 25-60 deg bends of 1.8-5 m back to back); they turn left more often than
right and add up to exactly one turn (360 deg, counter-clockwise). Straights are short (2-12 m)
or long (20-45 m). The curvature profile is smoothed over about a metre (clothoid-like entries,
so the steering rate can follow), integrated into a centerline, and closed exactly by
lengthening or shortening the straights (a least-squares change, weighted by their lengths).
Widths vary slowly along the lap within ``half_width_range_m`` and narrow on the inside of a
tight bend so the inner wall keeps a radius of at least 0.35 m.

A draw is rejected and redrawn (from the same generator, so still deterministic) when the lap
falls outside ``length_range_m``, a straight would need a negative length, or two parts of the
lap come closer than their walls allow.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from tinylidar_gym.sim.config import ConfigError, CourseConfig, FamilyConfig, VehicleConfig
from tinylidar_gym.sim.course import Course, course_from_centerline

_DS = 0.05
"""Integration step of the curvature profile, metres."""
_SMOOTH_M = 1.0
"""Curvature smoothing window, metres."""
_MIN_STRAIGHT_M = 1.5
"""Shortest straight after closing the lap."""
_INNER_WALL_RADIUS_M = 0.35
"""Smallest radius of the inside wall of a bend."""
_WALL_GAP_M = 0.5
"""Smallest distance between the walls of two different parts of the lap."""


def family_course(
    cfg: CourseConfig,
    rng: np.random.Generator,
    vehicle: VehicleConfig | None = None,
    max_tries: int = 1000,
) -> Course:
    """Draw one course of the family ``cfg.family`` from ``rng`` (deterministic per state).

    Returns:
        A Course named 'family' whose centerline (P, 2) is sampled every
        ``family.point_spacing_m`` metres, starting mid-way along the longest straight and
        running counter-clockwise (clockwise with ``cfg.reverse``); walls are offset curves or
        occupancy-grid cell edges (``family.walls``).

    Raises:
        ConfigError: the family's tightest bend is below the car's turning radius, or no valid
            lap was found in ``max_tries`` draws.
    """
    fam = cfg.family
    vehicle = vehicle or VehicleConfig()
    if fam.min_radius_m < 1.3 * vehicle.min_turning_radius_m:
        raise ConfigError(
            f"FamilyConfig.min_radius_m={fam.min_radius_m} is below 1.3 x the car's turning "
            f"radius ({vehicle.min_turning_radius_m:.2f} m): raise it to at least "
            f"{1.3 * vehicle.min_turning_radius_m:.2f}."
        )
    for _ in range(max_tries):
        drawn = _draw_centerline(fam, rng)
        if drawn is None:
            continue
        centerline, kappa = drawn
        hl, hr = _draw_widths(fam, rng, centerline, kappa)
        if np.any(hl + hr < 2.0 * fam.half_width_range_m[0] - 1e-9):
            continue  # squeezed below the narrowest allowed track
        if not _parts_keep_apart(centerline, hl, hr, fam.point_spacing_m):
            continue
        if cfg.reverse:
            centerline = np.roll(centerline[::-1], 1, axis=0)
            hl, hr = np.roll(hr[::-1], 1), np.roll(hl[::-1], 1)
        course = course_from_centerline(centerline, hl, hr, name="family")
        if fam.walls == "grid":
            from tinylidar_gym.tracks.corridor_grid import with_grid_walls

            course = with_grid_walls(course, fam.grid_resolution_m)
        return course
    raise ConfigError(
        f"Could not draw a valid family course in {max_tries} tries: widen "
        "FamilyConfig.length_range_m or lower half_width_range_m."
    )


# --------------------------------------------------------------------------- the bends


def _draw_bends(fam: FamilyConfig, rng: np.random.Generator, target_m: float) -> list[list]:
    """Bend groups: each a list of (signed angle rad, radius m, gap m to the next part or -1 for
    'a free straight follows')."""
    n = max(4, int(round(target_m / fam.corner_spacing_m)))
    kinds = rng.choice(
        3,
        size=n,
        p=[fam.hairpin_share, fam.chicane_share, 1.0 - fam.hairpin_share - fam.chicane_share],
    )
    groups: list[list] = []
    for kind in kinds:
        if kind == 0:  # hairpin
            sign = 1.0 if rng.uniform() < 0.75 else -1.0
            angle = math.radians(rng.uniform(150.0, 190.0))
            radius = rng.uniform(fam.min_radius_m, max(fam.min_radius_m, 3.0))
            groups.append([(sign * angle, radius, -1.0)])
        elif kind == 1:  # chicane
            sign = 1.0 if rng.uniform() < 0.5 else -1.0
            angle = math.radians(rng.uniform(25.0, 60.0))
            r1, r2 = rng.uniform(max(fam.min_radius_m, 1.8), max(fam.min_radius_m, 5.0), 2)
            groups.append([(sign * angle, r1, rng.uniform(0.0, 2.0)), (-sign * angle, r2, -1.0)])
        elif rng.uniform() < 0.6:  # corner
            sign = 1.0 if rng.uniform() < 0.7 else -1.0
            angle = math.radians(rng.uniform(40.0, 120.0))
            groups.append([(sign * angle, rng.uniform(max(fam.min_radius_m, 2.0), 8.0), -1.0)])
        else:  # kink
            sign = 1.0 if rng.uniform() < 0.5 else -1.0
            angle = math.radians(rng.uniform(10.0, 40.0))
            groups.append([(sign * angle, rng.uniform(5.0, 25.0), -1.0)])
    # Exactly one counter-clockwise turn: add left corners or right corners until the total
    # is within 40 deg, then share the rest out over the left bends.
    for _ in range(50):
        total = sum(a for g in groups for a, _, _ in g)
        short = 2.0 * math.pi - total
        if abs(short) <= math.radians(40.0):
            break
        angle = min(abs(short), math.radians(rng.uniform(60.0, 120.0)))
        radius = rng.uniform(max(fam.min_radius_m, 2.0), 8.0)
        pos = int(rng.integers(0, len(groups) + 1))
        groups.insert(pos, [(math.copysign(angle, short), radius, -1.0)])
    total = sum(a for g in groups for a, _, _ in g)
    left = sum(a for g in groups for a, _, _ in g if a > 0)
    scale = 1.0 + (2.0 * math.pi - total) / left
    return [[(a * scale if a > 0 else a, r, gap) for a, r, gap in g] for g in groups]


def _draw_centerline(
    fam: FamilyConfig, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray] | None:
    """Closed centerline (P, 2) every ``point_spacing_m`` and its signed curvature (P,) 1/m, or
    None when this draw cannot be closed within the length range."""
    target = rng.uniform(*fam.length_range_m)
    groups = _draw_bends(fam, rng, target)
    arcs = [(a, r) for g in groups for a, r, _ in g]
    if any(abs(a) > math.radians(200.0) for a, _ in arcs):
        return None
    is_long = rng.uniform(size=len(groups)) < fam.long_straight_share
    straights = np.where(
        is_long, rng.uniform(20.0, 45.0, len(groups)), rng.uniform(2.0, 12.0, len(groups))
    )
    fixed = sum(abs(a) * r for a, r in arcs) + sum(max(gap, 0.0) for g in groups for *_, gap in g)
    free = target - fixed
    if free < _MIN_STRAIGHT_M * len(groups):
        return None
    straights *= free / straights.sum()
    groups, straights = _wind_evenly(groups, straights, rng)
    for _ in range(2):  # the second pass only removes the discretisation residue
        kappa, straight_mid = _curvature_profile(groups, straights)
        heading = np.cumsum(kappa) * _DS
        heading = np.concatenate([[0.0], heading[:-1]])
        step = np.stack([np.cos(heading), np.sin(heading)], axis=1) * _DS
        gap = step.sum(axis=0)  # end minus start
        # Lengthening straight i by x moves the end by x along its heading.
        dirs = np.stack([np.cos(heading[straight_mid]), np.sin(heading[straight_mid])], axis=0)
        w = straights
        lam = np.linalg.lstsq((dirs * w) @ dirs.T, -gap, rcond=None)[0]
        delta = w * (dirs.T @ lam)
        straights = straights + delta
        if np.any(straights < _MIN_STRAIGHT_M):
            return None
    pts = np.cumsum(step, axis=0)
    pts = np.concatenate([[np.zeros(2)], pts[:-1]])
    # Remove what is left of the closing gap (below a few centimetres) linearly along the lap.
    residue = pts[-1] + step[-1] - pts[0]
    pts -= residue[None, :] * (np.arange(len(pts)) / len(pts))[:, None]
    length = len(pts) * _DS
    if not fam.length_range_m[0] <= length <= fam.length_range_m[1]:
        return None
    # Start mid-way along the longest straight; sample every point_spacing_m.
    start = int(straight_mid[int(np.argmax(straights))])
    pts = np.roll(pts, -start, axis=0)
    kappa = np.roll(kappa, -start)
    # Uniform spacing all round, the closing segment included: the curve has unit speed, so
    # arc length is the step index times _DS.
    n = max(8, int(round(length / fam.point_spacing_m)))
    s = np.arange(n) * (length / n)
    arc = np.arange(len(pts) + 1) * _DS
    closed = np.concatenate([pts, pts[:1]])
    out = np.stack([np.interp(s, arc, closed[:, k]) for k in range(2)], axis=1)
    return out, kappa[np.minimum((s / _DS).astype(int), len(kappa) - 1)]


def _wind_evenly(
    groups: list[list], straights: np.ndarray, rng: np.random.Generator
) -> tuple[list[list], np.ndarray]:
    """Reorder the bends (each with the straight after it) so the heading follows a steady
    turn of 360 deg per lap, with some randomness: the lap then winds once round like a circuit
    instead of crossing itself."""
    lengths = np.array(
        [sum(abs(a) * r + max(gap, 0.0) for a, r, gap in g) for g in groups]
    ) + np.asarray(straights)
    angles = np.array([sum(a for a, _, _ in g) for g in groups])
    total = lengths.sum()
    left = list(range(len(groups)))
    order = []
    pos = heading = 0.0
    while left:
        ends = 2.0 * np.pi * (pos + lengths[left]) / total
        miss = np.abs(heading + angles[left] - ends) + rng.uniform(0.0, 0.6, len(left))
        k = left.pop(int(np.argmin(miss)))
        order.append(k)
        pos += lengths[k]
        heading += angles[k]
    return [groups[k] for k in order], np.asarray(straights)[order]


def _curvature_profile(groups: list[list], straights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Signed curvature per ``_DS`` step (N,), smoothed; and the step index mid-way along each
    straight (G,). Each arc integrates to its exact angle whatever its step count."""
    pieces: list[np.ndarray] = []
    mids = []
    pos = 0
    for g, straight in zip(groups, straights, strict=True):
        for angle, radius, gap in g:
            n = max(1, int(round(abs(angle) * radius / _DS)))
            pieces.append(np.full(n, angle / (n * _DS)))
            pos += n
            if gap > 0:
                m = int(round(gap / _DS))
                pieces.append(np.zeros(m))
                pos += m
        m = max(1, int(round(straight / _DS)))
        mids.append(pos + m // 2)
        pieces.append(np.zeros(m))
        pos += m
    kappa = np.concatenate(pieces)
    k = int(round(_SMOOTH_M / _DS)) | 1
    padded = np.concatenate([kappa[-k:], kappa, kappa[:k]])
    smooth = np.convolve(padded, np.ones(k) / k, mode="same")[k:-k]
    return smooth, np.asarray(mids)


# --------------------------------------------------------------------------- widths and checks


def _draw_widths(
    fam: FamilyConfig, rng: np.random.Generator, centerline: np.ndarray, kappa: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Half widths left/right (P,) metres: slow waves within the range, narrowed on the inside
    of tight bends and where another part of the lap runs close by (hairpin legs)."""
    lo, hi = fam.half_width_range_m
    n = len(kappa)
    s = np.arange(n) / n
    caps = _proximity_caps(centerline, fam.point_spacing_m, 2.0 * hi + _WALL_GAP_M)
    out = []
    for side, cap in zip((1.0, -1.0), caps, strict=True):
        base = rng.uniform(lo, hi)
        waves = np.zeros(n)
        for _ in range(3):
            waves += rng.uniform(-1.0, 1.0) * np.sin(
                2 * np.pi * (int(rng.integers(2, 12)) * s + rng.uniform())
            )
        hw = np.clip(base + 0.25 * (hi - lo) * waves, lo, hi)
        inside = np.where(side * kappa > 1e-9, 1.0 / np.maximum(side * kappa, 1e-9), np.inf)
        limit = np.minimum(np.maximum(inside - _INNER_WALL_RADIUS_M, 0.1), cap)
        out.append(np.minimum(hw, _smooth_limit(limit, fam.point_spacing_m)))
    return out[0], out[1]


def _proximity_caps(
    centerline: np.ndarray, spacing_m: float, reach_m: float
) -> tuple[np.ndarray, np.ndarray]:
    """Largest left/right half width (P,) that keeps ``_WALL_GAP_M`` to the walls of another part
    of the lap passing within ``reach_m`` (the gap between them shared equally)."""
    every = max(1, int(round(1.0 / spacing_m)))
    p = np.ascontiguousarray(centerline[::every])
    tangent = np.roll(p, -1, axis=0) - np.roll(p, 1, axis=0)
    skip = math.pi * reach_m / 2.0 + 2.0
    left, right = _caps_kernel(p, tangent, spacing_m * every, skip, reach_m, _WALL_GAP_M + 0.1)
    n = len(p)
    pick = np.minimum(np.round(np.arange(len(centerline)) / every).astype(int), n - 1)
    both = []
    for c in (left, right):
        # A sample's cap holds for the points either side of it too.
        c = np.minimum(c, np.minimum(np.roll(c, 1), np.roll(c, -1)))
        both.append(c[pick])
    return both[0], both[1]


@njit(cache=True, nogil=True)
def _caps_kernel(
    p: np.ndarray, tangent: np.ndarray, step_m: float, skip_m: float, reach_m: float, gap_m: float
) -> tuple[np.ndarray, np.ndarray]:
    n = p.shape[0]
    left = np.full(n, np.inf)
    right = np.full(n, np.inf)
    for i in range(n):
        for j in range(n):
            along = abs(i - j)
            along = min(along, n - along) * step_m
            if along <= skip_m:
                continue
            dx = p[j, 0] - p[i, 0]
            dy = p[j, 1] - p[i, 1]
            dist = math.sqrt(dx * dx + dy * dy)
            if dist >= reach_m:
                continue
            cap = (dist - gap_m) / 2.0
            if tangent[i, 0] * dy - tangent[i, 1] * dx > 0.0:
                left[i] = min(left[i], cap)
            else:
                right[i] = min(right[i], cap)
    return left, right


@njit(cache=True, nogil=True)
def _too_close_kernel(
    p: np.ndarray,
    tangent: np.ndarray,
    hl: np.ndarray,
    hr: np.ndarray,
    step_m: float,
    gap_m: float,
) -> bool:
    n = p.shape[0]
    for i in range(n):
        for j in range(i + 1, n):
            dx = p[j, 0] - p[i, 0]
            dy = p[j, 1] - p[i, 1]
            fi = hl[i] if tangent[i, 0] * dy - tangent[i, 1] * dx > 0.0 else hr[i]
            fj = hl[j] if tangent[j, 0] * -dy - tangent[j, 1] * -dx > 0.0 else hr[j]
            need = fi + fj + gap_m
            along = min(j - i, n - (j - i)) * step_m
            # Neighbours along the lap are naturally close; beyond half a turn around the
            # walls they must not be.
            if along > math.pi * need / 2.0 + 2.0 and dx * dx + dy * dy < need * need:
                return True
    return False


def _smooth_limit(limit: np.ndarray, spacing_m: float) -> np.ndarray:
    """A smooth curve everywhere at or below ``limit`` (cyclic): a minimum filter, then a moving
    average over half its window (each average only sees minima over windows covering it)."""
    k = max(1, int(round(1.0 / spacing_m)))
    idx = np.arange(-k, k + 1)
    lowest = np.min(np.stack([np.roll(limit, j) for j in idx]), axis=0)
    h = k // 2
    return np.mean(np.stack([np.roll(lowest, j) for j in range(-h, h + 1)]), axis=0)


def _parts_keep_apart(
    centerline: np.ndarray, hl: np.ndarray, hr: np.ndarray, spacing_m: float
) -> bool:
    """No two parts of the lap closer than their facing walls plus ``_WALL_GAP_M``, checked on
    points about a metre apart (sampling overstates a distance of ~2 m by under 0.1 m)."""
    every = max(1, int(round(1.0 / spacing_m)))
    p = np.ascontiguousarray(centerline[::every])
    tangent = np.roll(p, -1, axis=0) - np.roll(p, 1, axis=0)
    return not _too_close_kernel(
        p,
        tangent,
        np.ascontiguousarray(hl[::every]),
        np.ascontiguousarray(hr[::every]),
        spacing_m * every,
        _WALL_GAP_M,
    )
