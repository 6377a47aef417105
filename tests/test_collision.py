"""Footprint collision primitives against exact geometry written independently in the test."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinylidar_gym.sim.collision import (
    box_segment_distance,
    point_segment_distance,
    segment_hits_box,
)

PROPERTY = settings(max_examples=300, deadline=None, derandomize=True, database=None)


# --------------------------------------------------------------------------- oracles


def to_box_frame(points, cx, cy, yaw):
    """Points (N, 2) in world coordinates -> the frame of a box centred at (cx, cy)."""
    p = np.asarray(points, dtype=np.float64) - [cx, cy]
    c, s = math.cos(yaw), math.sin(yaw)
    return np.stack([c * p[:, 0] + s * p[:, 1], -s * p[:, 0] + c * p[:, 1]], axis=1)


def sat_gap(seg, cx, cy, yaw, hl, hw) -> float:
    """Largest separation of segment and box over the separating axes (SAT).

    > 0: disjoint (by at least this much along some axis); <= 0: they touch or overlap.
    """
    a, b = to_box_frame(np.reshape(seg, (2, 2)), cx, cy, yaw)
    gaps = [
        min(a[0], b[0]) - hl,
        -hl - max(a[0], b[0]),
        min(a[1], b[1]) - hw,
        -hw - max(a[1], b[1]),
    ]
    e = b - a
    norm = math.hypot(e[0], e[1])
    if norm > 0:
        n = np.array([-e[1], e[0]]) / norm
        box_extent = hl * abs(n[0]) + hw * abs(n[1])
        gaps.append(abs(float(n @ a)) - box_extent)
    return max(gaps)


def exact_distance(seg, cx, cy, yaw, hl, hw, iters: int = 100) -> float:
    """min over t of dist(a + t (b - a), box): a convex function of t, so golden-section it."""
    a, b = to_box_frame(np.reshape(seg, (2, 2)), cx, cy, yaw)

    def f(t: float) -> float:
        p = a + t * (b - a)
        return math.hypot(max(abs(p[0]) - hl, 0.0), max(abs(p[1]) - hw, 0.0))

    lo, hi = 0.0, 1.0
    g = (math.sqrt(5) - 1) / 2
    x1, x2 = hi - g * (hi - lo), lo + g * (hi - lo)
    f1, f2 = f(x1), f(x2)
    for _ in range(iters):
        if f1 <= f2:
            hi, x2, f2 = x2, x1, f1
            x1 = hi - g * (hi - lo)
            f1 = f(x1)
        else:
            lo, x1, f1 = x1, x2, f2
            x2 = lo + g * (hi - lo)
            f2 = f(x2)
    return min(f(0.0), f(1.0), f1, f2)


def hits(seg, cx, cy, yaw, hl, hw) -> bool:
    s = np.asarray(seg, dtype=np.float64)
    return bool(segment_hits_box(s, cx, cy, math.cos(yaw), math.sin(yaw), hl, hw))


def dist(seg, cx, cy, yaw, hl, hw) -> float:
    s = np.asarray(seg, dtype=np.float64)
    return float(box_segment_distance(s, cx, cy, math.cos(yaw), math.sin(yaw), hl, hw))


def world_seg(local_a, local_b, cx, cy, yaw):
    """A segment given in the box frame, expressed in world coordinates."""
    c, s = math.cos(yaw), math.sin(yaw)
    out = []
    for x, y in (local_a, local_b):
        out += [cx + c * x - s * y, cy + s * x + c * y]
    return np.array(out)


# --------------------------------------------------------------------------- point-segment


@pytest.mark.parametrize(
    ("p", "seg", "expect"),
    [
        ((0.0, 1.0), (-1.0, 0.0, 1.0, 0.0), 1.0),  # perpendicular foot inside
        ((0.5, -2.0), (-1.0, 0.0, 1.0, 0.0), 2.0),
        ((3.0, 4.0), (-1.0, 0.0, 0.0, 0.0), 5.0),  # beyond endpoint b
        ((-4.0, -3.0), (0.0, 0.0, 1.0, 0.0), 5.0),  # beyond endpoint a
        ((0.3, 0.0), (-1.0, 0.0, 1.0, 0.0), 0.0),  # on the segment
        ((2.0, 0.0), (-1.0, 0.0, 1.0, 0.0), 1.0),  # on the line, past the end
        ((1.0, 1.0), (0.0, 0.0, 0.0, 0.0), math.sqrt(2)),  # degenerate segment
        ((1.0, 0.0), (0.0, 0.0, 2.0, 2.0), math.sqrt(0.5)),  # diagonal
    ],
)
def test_point_segment_distance_cases(p, seg, expect):
    d = point_segment_distance(p[0], p[1], np.array(seg, dtype=np.float64))
    assert d == pytest.approx(expect, abs=1e-12)


coords = st.floats(-20.0, 20.0, allow_nan=False, allow_infinity=False)


@PROPERTY
@given(px=coords, py=coords, seg=st.tuples(coords, coords, coords, coords))
def test_point_segment_distance_is_the_minimum_over_the_segment(px, py, seg):
    s = np.array(seg, dtype=np.float64)
    d = point_segment_distance(px, py, s)
    # Dense sampling gives an upper bound within half the sample step.
    t = np.linspace(0.0, 1.0, 4001)
    pts = s[:2] + t[:, None] * (s[2:] - s[:2])
    sampled = np.hypot(pts[:, 0] - px, pts[:, 1] - py).min()
    step = math.hypot(s[2] - s[0], s[3] - s[1]) / 4000
    assert d <= sampled + 1e-9
    assert d >= sampled - step / 2 - 1e-9
    # Symmetric in the segment direction.
    assert point_segment_distance(px, py, s[[2, 3, 0, 1]]) == pytest.approx(d, abs=1e-9)


# --------------------------------------------------------------------------- segment vs box

HL, HW = 0.29, 0.155  # half sizes of the default F1TENTH footprint


@pytest.mark.parametrize("yaw", [0.0, 0.3, math.pi / 2, -2.0, math.pi])
@pytest.mark.parametrize(
    ("local_a", "local_b", "touch"),
    [
        ((-1.0, 0.0), (1.0, 0.0), True),  # crosses through the centre
        ((0.0, -1.0), (0.0, 1.0), True),  # crosses the short way
        ((-0.1, 0.05), (0.1, -0.05), True),  # entirely inside
        ((0.0, 0.0), (5.0, 3.0), True),  # starts inside, leaves
        ((-1.0, 0.3), (1.0, 0.3), False),  # parallel, clear of the long side
        ((0.5, -1.0), (0.5, 1.0), False),  # parallel, clear of the short side
        ((0.4, 0.0), (1.0, 0.0), False),  # collinear with the axis, ahead of the box
        # Diagonals x + y = c near the corner (HL, HW), where x + y = 0.445.
        ((0.16, 0.3), (0.46, 0.0), False),  # c = 0.46: passes outside the corner
        ((0.1, 0.3), (0.4, 0.0), True),  # c = 0.40: cuts the corner
        ((-1.0, HW + 1e-6), (1.0, HW + 1e-6), False),  # grazing, just outside
        ((-1.0, HW - 1e-6), (1.0, HW - 1e-6), True),  # grazing, just inside
        ((HL + 1e-6, -1.0), (HL + 1e-6, 1.0), False),
        ((HL - 1e-6, -1.0), (HL - 1e-6, 1.0), True),
        ((0.0, HW + 0.2), (0.0, HW + 0.01), False),  # points at the box, stops short
        ((0.0, HW + 0.2), (0.0, HW - 0.01), True),  # points at the box, reaches it
        ((0.1, 0.0), (0.1, 0.0), True),  # degenerate segment inside
        ((1.0, 1.0), (1.0, 1.0), False),  # degenerate segment outside
    ],
)
def test_segment_hits_box_cases(yaw, local_a, local_b, touch):
    cx, cy = 3.0, -7.0
    seg = world_seg(local_a, local_b, cx, cy, yaw)
    # Sanity of the expectation itself, against the separating-axis oracle.
    assert (sat_gap(seg, cx, cy, yaw, HL, HW) <= 0) == touch
    assert hits(seg, cx, cy, yaw, HL, HW) == touch
    assert hits(seg[[2, 3, 0, 1]], cx, cy, yaw, HL, HW) == touch
    d = dist(seg, cx, cy, yaw, HL, HW)
    if touch:
        assert d == 0.0
    else:
        assert d > 0.0
        assert d == pytest.approx(exact_distance(seg, cx, cy, yaw, HL, HW), abs=1e-9)


def test_exactly_touching_an_axis_aligned_side_counts_as_hit():
    # Representable exactly: the segment lies on the box's top side y = +0.5.
    seg = np.array([-2.0, 0.5, 2.0, 0.5])
    assert hits(seg, 0.0, 0.0, 0.0, 1.0, 0.5)
    assert dist(seg, 0.0, 0.0, 0.0, 1.0, 0.5) == 0.0
    # Ending exactly on a corner.
    assert hits(np.array([2.0, 1.5, 1.0, 0.5]), 0.0, 0.0, 0.0, 1.0, 0.5)
    assert not hits(np.array([2.0, 1.5, 1.0, 0.5 + 1e-9]), 0.0, 0.0, 0.0, 1.0, 0.5)


def test_box_segment_distance_analytic():
    # Axis-aligned 2 x 1 box at the origin.
    assert dist([-5.0, 3.0, 5.0, 3.0], 0.0, 0.0, 0.0, 1.0, 0.5) == pytest.approx(2.5)
    assert dist([4.0, -5.0, 4.0, 5.0], 0.0, 0.0, 0.0, 1.0, 0.5) == pytest.approx(3.0)
    # Nearest to a corner: (1, 0.5) to the point (4, 4.5).
    assert dist([4.0, 4.5, 9.0, 4.5], 0.0, 0.0, 0.0, 1.0, 0.5) == pytest.approx(5.0)
    # A diagonal segment x + y = 3 passes the corner (1, 0.5) at 1.5 / sqrt(2).
    assert dist([3.0, 0.0, 0.0, 3.0], 0.0, 0.0, 0.0, 1.0, 0.5) == pytest.approx(1.5 / math.sqrt(2))
    # The same, with the box rotated by 90 deg (long axis along y) and shifted.
    assert dist([10.0, 2.0, 10.0, 9.0], 7.0, 5.0, math.pi / 2, 1.0, 0.5) == pytest.approx(2.5)


@st.composite
def box_and_segment(draw):
    cx, cy = draw(coords), draw(coords)
    yaw = draw(st.floats(-math.pi, math.pi))
    hl = draw(st.floats(0.05, 3.0))
    hw = draw(st.floats(0.05, 3.0))
    span = 3.0 * max(hl, hw)
    local = [draw(st.floats(-span, span)) for _ in range(4)]
    seg = world_seg(local[:2], local[2:], cx, cy, yaw)
    return seg, cx, cy, yaw, hl, hw


@PROPERTY
@given(case=box_and_segment())
def test_segment_hits_box_matches_separating_axis_oracle(case):
    seg, cx, cy, yaw, hl, hw = case
    gap = sat_gap(seg, cx, cy, yaw, hl, hw)
    got = hits(seg, cx, cy, yaw, hl, hw)
    if gap > 1e-9:
        assert not got
    elif gap < -1e-9:
        assert got


@PROPERTY
@given(case=box_and_segment())
def test_box_segment_distance_matches_exact_minimisation(case):
    seg, cx, cy, yaw, hl, hw = case
    d = dist(seg, cx, cy, yaw, hl, hw)
    ref = exact_distance(seg, cx, cy, yaw, hl, hw)
    assert d >= 0.0
    assert d == pytest.approx(ref, abs=1e-7)
    # Consistency with the hit test: distance 0 iff touching (away from the boundary).
    if ref > 1e-7:
        assert not hits(seg, cx, cy, yaw, hl, hw)
    # Invariant under reversing the segment.
    assert dist(seg[[2, 3, 0, 1]], cx, cy, yaw, hl, hw) == pytest.approx(d, abs=1e-9)


@PROPERTY
@given(case=box_and_segment(), turns=st.integers(-3, 3))
def test_box_is_symmetric_under_half_turns(case, turns):
    """A box rotated by a multiple of pi is the same box."""
    seg, cx, cy, yaw, hl, hw = case
    yaw2 = yaw + turns * math.pi
    assert dist(seg, cx, cy, yaw2, hl, hw) == pytest.approx(
        dist(seg, cx, cy, yaw, hl, hw), abs=1e-9
    )
    if abs(sat_gap(seg, cx, cy, yaw, hl, hw)) > 1e-9:
        assert hits(seg, cx, cy, yaw2, hl, hw) == hits(seg, cx, cy, yaw, hl, hw)
