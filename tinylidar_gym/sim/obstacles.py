"""Seeded placement of static box obstacles along a course.

Constraints, each guaranteed by construction rather than by rejection:
- centres at least ``min_spacing_m`` apart along the centerline (jittered slots);
- no centre within ``start_exclusion_m`` of the start line, on either side;
- lateral centre offset within ``max_lateral_offset_m`` of the centerline;
- the whole box inside the corridor, ``wall_margin_m`` from the walls;
- on at least one side, a free passage of ``vehicle width + passage_margin_m``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinylidar_gym.sim.config import ConfigError, ObstacleConfig, VehicleConfig
from tinylidar_gym.sim.course import Course, project_points
from tinylidar_gym.sim.errors import UserError


@dataclass(frozen=True)
class Obstacles:
    """Box obstacles.

    Attributes:
        boxes: (K, 5) rows of ``[x_m, y_m, yaw_rad, length_m, width_m]`` (centre, heading, size).
        arc_s: (K,) arc length of each box centre along the centerline, metres.
        lateral: (K,) signed offset of each centre from the centerline (left positive), metres.
    """

    boxes: np.ndarray
    arc_s: np.ndarray
    lateral: np.ndarray

    @property
    def count(self) -> int:
        return int(self.boxes.shape[0])

    @property
    def corners(self) -> np.ndarray:
        """(K, 4, 2) corners in counter-clockwise order."""
        return box_corners(self.boxes)

    @property
    def segments(self) -> np.ndarray:
        """(4K, 4) edges oriented clockwise, so free space (outside) is on each edge's left."""
        corners = self.corners[:, ::-1, :]
        nxt = np.roll(corners, -1, axis=1)
        return np.ascontiguousarray(np.concatenate([corners, nxt], axis=2).reshape(-1, 4))

    @staticmethod
    def empty() -> Obstacles:
        return Obstacles(np.zeros((0, 5)), np.zeros(0), np.zeros(0))

    @staticmethod
    def from_boxes(boxes: np.ndarray) -> Obstacles:
        """Obstacles from explicit boxes (e.g. a replayed layout); arc positions unknown.

        Raises:
            ObstacleError: ``boxes`` is not (K, 5) finite rows with positive length and width.
        """
        boxes = boxes_array(boxes)
        nan = np.full(len(boxes), np.nan)
        return Obstacles(boxes.copy(), nan, nan.copy())


class ObstacleError(UserError, ValueError):
    """Given obstacle boxes are malformed or not a valid layout for the course."""


BOX_COLUMNS = "[x_m, y_m, yaw_rad, length_m, width_m]"


def boxes_array(boxes: object) -> np.ndarray:
    """``boxes`` as a (K, 5) float64 array of rows ``[x_m, y_m, yaw_rad, length_m, width_m]``.

    An empty sequence is zero boxes. Anything else must already have shape (K, 5): a flat or
    transposed array is refused rather than silently regrouped into other boxes.

    Raises:
        ObstacleError: wrong shape, non-numeric or non-finite values, length or width <= 0.
    """
    try:
        arr = np.asarray(boxes, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ObstacleError(
            f"obstacle boxes must be numbers in (K, 5) rows {BOX_COLUMNS}: {exc}."
        ) from exc
    if arr.size == 0 and arr.ndim <= 2 and (arr.ndim < 2 or arr.shape[1] in (0, 5)):
        return np.zeros((0, 5))
    if arr.ndim != 2 or arr.shape[1] != 5:
        raise ObstacleError(
            f"obstacle boxes must have shape (K, 5), one row {BOX_COLUMNS} per box; got shape "
            f"{arr.shape}. Pass a list of 5-number rows (an empty list for no obstacles)."
        )
    if not np.all(np.isfinite(arr)):
        raise ObstacleError("obstacle boxes contain non-finite values (nan or inf).")
    if np.any(arr[:, 3:5] <= 0):
        raise ObstacleError("obstacle boxes need length_m > 0 and width_m > 0 on every row.")
    return arr


def box_corners(boxes: np.ndarray) -> np.ndarray:
    """(K, 4, 2) counter-clockwise corners of boxes given as (K, 5) ``[x, y, yaw, l, w]`` (one
    box may be given as a (5,) row)."""
    boxes = np.atleast_2d(np.asarray(boxes, dtype=np.float64))
    if boxes.shape[-1] != 5 or boxes.ndim != 2:
        raise ObstacleError(f"boxes must have shape (K, 5) or (5,), got {boxes.shape}.")
    half = np.array([[1, -1], [1, 1], [-1, 1], [-1, -1]], dtype=np.float64) * 0.5
    local = half[None, :, :] * boxes[:, None, 3:5]
    c, s = np.cos(boxes[:, 2])[:, None], np.sin(boxes[:, 2])[:, None]
    x = boxes[:, None, 0] + c * local[..., 0] - s * local[..., 1]
    y = boxes[:, None, 1] + s * local[..., 0] + c * local[..., 1]
    return np.stack([x, y], axis=-1)


def _local_extremes(
    course: Course, s_lo: np.ndarray, s_hi: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Smallest left/right half width and largest curvature over arc-length intervals (K,)."""
    arc = course.arc_length
    frac = np.linspace(0.0, 1.0, 9)
    s = np.mod(s_lo[:, None] + (s_hi - s_lo)[:, None] * frac[None, :], arc[-1])
    idx = np.clip(np.searchsorted(arc, s, side="right") - 1, 0, course.n_points - 1)
    idx = np.concatenate([idx, (idx + 1) % course.n_points], axis=1)
    return (
        course.half_width_left[idx].min(axis=1),
        course.half_width_right[idx].min(axis=1),
        course.curvature[idx].max(axis=1),
    )


def generate_obstacles(
    course: Course,
    cfg: ObstacleConfig,
    vehicle: VehicleConfig,
    rng: np.random.Generator,
) -> Obstacles:
    """Place ``cfg.count_for(course.length_m)`` boxes on ``course`` using ``rng``
    (deterministic for a given state)."""
    k = cfg.count_for(course.length_m)
    if k == 0:
        return Obstacles.empty()
    avail = course.length_m - 2.0 * cfg.start_exclusion_m
    slot = avail / k
    if slot < cfg.min_spacing_m:
        raise ConfigError(
            f"{k} obstacles (ObstacleConfig.count={cfg.count}, per_100m={cfg.per_100m:.3g}) do "
            "not fit: count * min_spacing_m "
            f"({k * cfg.min_spacing_m:.1f} m) must be <= course length - "
            f"2 * start_exclusion_m ({avail:.1f} m). Lower count, per_100m or min_spacing_m."
        )
    # Jittered slots: consecutive centres are >= min_spacing_m apart by construction.
    s = cfg.start_exclusion_m + np.arange(k) * slot + rng.uniform(0.0, slot - cfg.min_spacing_m, k)
    length = rng.uniform(*cfg.length_range_m, k)
    width = rng.uniform(*cfg.width_range_m, k)
    pick = rng.uniform(0.0, 1.0, k)
    hl, hr, curv = _local_extremes(course, s - length / 2, s + length / 2)
    # A straight box on a curve sticks out by its sagitta on the outside and by its corners on
    # the inside; pad both sides by that much.
    pad = curv * (length / 2) ** 2 / 2.0 + curv * length * width / 4.0
    need = vehicle.width_m + cfg.passage_margin_m
    lo = np.maximum(-hr + cfg.wall_margin_m + width / 2 + pad, -cfg.max_lateral_offset_m)
    hi = np.minimum(hl - cfg.wall_margin_m - width / 2 - pad, cfg.max_lateral_offset_m)
    # Free passage on the left needs d <= left_max; on the right d >= right_min.
    left_max = np.minimum(hi, hl - width / 2 - need - pad)
    right_min = np.maximum(lo, -hr + width / 2 + need + pad)
    len_a = np.maximum(left_max - lo, 0.0)  # interval A = [lo, left_max]
    len_b = np.maximum(hi - right_min, 0.0)  # interval B = [right_min, hi]
    ok_a = left_max >= lo
    ok_b = hi >= right_min
    bad = np.flatnonzero(~(ok_a | ok_b))
    if bad.size:
        i = int(bad[0])
        raise ConfigError(
            f"No room for obstacle {i} at s={s[i]:.1f} m: the corridor (left {hl[i]:.2f} m, "
            f"right {hr[i]:.2f} m) cannot fit a {width[i]:.2f} m box plus a {need:.2f} m passage."
            " Lower ObstacleConfig.width_range_m or passage_margin_m, or widen the course."
        )
    # Overlapping intervals: sample their union [lo, hi] (every point has a passage).
    overlap = ok_a & ok_b & (left_max >= right_min)
    total = np.where(overlap, hi - lo, len_a + len_b)
    u = pick * total
    d = np.where(
        overlap,
        lo + u,
        np.where(ok_a & (u <= len_a), lo + u, right_min + (u - len_a * ok_a)),
    )
    pos, yaw, _ = course.interpolate(s)
    boxes = np.stack(
        [pos[:, 0] - d * np.sin(yaw), pos[:, 1] + d * np.cos(yaw), yaw, length, width], axis=1
    )
    return Obstacles(boxes, s, d)


def check_obstacles_fit(course: Course, obstacles: Obstacles, vehicle: VehicleConfig) -> None:
    """Refuse a given layout that a generated one could never be: a box that leaves the
    corridor or overlaps the car standing on the start line (the car would start inside it and
    the collision check, which looks for crossing edges, would never report it).

    Raises:
        ObstacleError: naming the first offending box and the fix.
    """
    if obstacles.count == 0:
        return
    corners = obstacles.corners  # (K, 4, 2)
    # Corners and points along the edges: an edge may cut the inside wall of a bend.
    frac = np.linspace(0.0, 1.0, 5, endpoint=False)[None, None, :, None]
    nxt = np.roll(corners, -1, axis=1)
    pts = (corners[:, :, None, :] * (1 - frac) + nxt[:, :, None, :] * frac).reshape(-1, 2)
    s, d = project_points(course, pts)
    arc = course.arc_length
    hl = np.interp(s, arc, np.append(course.half_width_left, course.half_width_left[0]))
    hr = np.interp(s, arc, np.append(course.half_width_right, course.half_width_right[0]))
    outside = ((d > hl + 1e-6) | (d < -hr - 1e-6)).reshape(obstacles.count, -1).any(axis=1)
    if outside.any():
        k = int(np.flatnonzero(outside)[0])
        raise ObstacleError(
            f"obstacle box {k} {obstacles.boxes[k].round(3).tolist()} reaches outside the "
            f"corridor of course '{course.name}'; replay it on the course it was recorded on, or "
            "drop it."
        )
    x, y, yaw = course.start_pose()
    centre = vehicle.length_m / 2 - vehicle.rear_overhang_m
    car = np.array(
        [x + centre * np.cos(yaw), y + centre * np.sin(yaw), yaw, vehicle.length_m, vehicle.width_m]
    )
    hit = boxes_overlap(obstacles.boxes, car)
    if hit.any():
        k = int(np.flatnonzero(hit)[0])
        raise ObstacleError(
            f"obstacle box {k} {obstacles.boxes[k].round(3).tolist()} overlaps the car on the "
            f"start line of course '{course.name}'; move it away from the start or drop it."
        )


def boxes_overlap(boxes: np.ndarray, box: np.ndarray) -> np.ndarray:
    """(K,) bool: does each of ``boxes`` (K, 5) overlap ``box`` (5,) (touching counts)?

    Separating-axis test on the four edge directions of the two rectangles.
    """
    a = box_corners(boxes)  # (K, 4, 2)
    b = box_corners(box)[0]  # (4, 2)
    yaws = np.concatenate([boxes[:, 2:3], np.full((len(boxes), 1), box[2])], axis=1)
    axes = np.concatenate(
        [np.stack([np.cos(yaws), np.sin(yaws)], -1), np.stack([-np.sin(yaws), np.cos(yaws)], -1)],
        axis=1,
    )  # (K, 4, 2)
    pa = np.einsum("kcd,kad->kac", a, axes)  # (K, axes, corners)
    pb = np.einsum("cd,kad->kac", b, axes)
    separated = (pa.max(axis=2) < pb.min(axis=2)) | (pb.max(axis=2) < pa.min(axis=2))
    return ~separated.any(axis=1)
