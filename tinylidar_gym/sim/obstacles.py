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
from tinylidar_gym.sim.course import Course, _curvature


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
        """Obstacles from explicit boxes (e.g. a replayed layout); arc positions unknown."""
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 5)
        if np.any(boxes[:, 3:5] <= 0) or not np.all(np.isfinite(boxes)):
            raise ValueError("obstacle boxes need finite values and positive length/width.")
        nan = np.full(len(boxes), np.nan)
        return Obstacles(boxes.copy(), nan, nan.copy())


def box_corners(boxes: np.ndarray) -> np.ndarray:
    """(K, 4, 2) counter-clockwise corners of boxes given as (K, 5) ``[x, y, yaw, l, w]``."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 5)
    half = np.array([[1, -1], [1, 1], [-1, 1], [-1, -1]], dtype=np.float64) * 0.5
    local = half[None, :, :] * boxes[:, None, 3:5]
    c, s = np.cos(boxes[:, 2])[:, None], np.sin(boxes[:, 2])[:, None]
    x = boxes[:, None, 0] + c * local[..., 0] - s * local[..., 1]
    y = boxes[:, None, 1] + s * local[..., 0] + c * local[..., 1]
    return np.stack([x, y], axis=-1)


def _local_half_widths(course: Course, s_lo: float, s_hi: float) -> tuple[float, float, float]:
    """Smallest left/right half width and largest curvature over an arc-length interval."""
    arc = course.arc_length
    s = np.linspace(s_lo, s_hi, 9)
    idx = np.clip(np.searchsorted(arc, np.mod(s, arc[-1]), side="right") - 1, 0, None)
    idx = np.unique(np.concatenate([idx, (idx + 1) % course.n_points]))
    curv = _curvature(course.centerline)
    return (
        float(course.half_width_left[idx].min()),
        float(course.half_width_right[idx].min()),
        float(curv[idx].max()),
    )


def generate_obstacles(
    course: Course,
    cfg: ObstacleConfig,
    vehicle: VehicleConfig,
    rng: np.random.Generator,
) -> Obstacles:
    """Place ``cfg.count`` boxes on ``course`` using ``rng`` (deterministic for a given state)."""
    if cfg.count == 0:
        return Obstacles.empty()
    length = course.length_m
    avail = length - 2.0 * cfg.start_exclusion_m
    slot = avail / cfg.count
    if slot < cfg.min_spacing_m:
        raise ConfigError(
            f"ObstacleConfig.count={cfg.count} does not fit: count * min_spacing_m "
            f"({cfg.count * cfg.min_spacing_m:.1f} m) must be <= course length - "
            f"2 * start_exclusion_m ({avail:.1f} m). Lower count or min_spacing_m."
        )
    need = vehicle.width_m + cfg.passage_margin_m
    boxes, arc_s, lateral = [], [], []
    for i in range(cfg.count):
        s = cfg.start_exclusion_m + i * slot + rng.uniform(0.0, slot - cfg.min_spacing_m)
        obs_len = rng.uniform(*cfg.length_range_m)
        obs_wid = rng.uniform(*cfg.width_range_m)
        hl, hr, curv = _local_half_widths(course, s - obs_len / 2, s + obs_len / 2)
        # A straight box on a curve bulges by its sagitta on the outside and its corners on the
        # inside; pad both sides by that amount.
        pad = curv * (obs_len / 2) ** 2 / 2.0 + curv * obs_len * obs_wid / 4.0
        lo = max(-hr + cfg.wall_margin_m + obs_wid / 2 + pad, -cfg.max_lateral_offset_m)
        hi = min(hl - cfg.wall_margin_m - obs_wid / 2 - pad, cfg.max_lateral_offset_m)
        # Passage on the left needs d <= a; on the right needs d >= b.
        a = hl - obs_wid / 2 - need - pad
        b = -hr + obs_wid / 2 + need + pad
        intervals = [(lo, min(hi, a)), (max(lo, b), hi)]
        intervals = [(u, v) for u, v in intervals if v >= u]
        if not intervals:
            raise ConfigError(
                f"No room for obstacle {i} at s={s:.1f} m: the corridor (left {hl:.2f} m, right "
                f"{hr:.2f} m) cannot fit a {obs_wid:.2f} m box plus a {need:.2f} m passage. "
                "Lower ObstacleConfig.width_range_m or passage_margin_m, or widen the course."
            )
        if len(intervals) == 2 and intervals[0][1] >= intervals[1][0]:
            intervals = [(intervals[0][0], max(intervals[0][1], intervals[1][1]))]
        sizes = np.array([v - u for u, v in intervals])
        total = float(sizes.sum())
        pick = rng.uniform(0.0, total) if total > 0 else 0.0
        d = None
        for (u, _), size in zip(intervals, sizes, strict=True):
            if pick <= size:
                d = u + pick
                break
            pick -= size
        d = intervals[-1][1] if d is None else d
        pos, yaw, _ = course.interpolate(s)
        nx, ny = -np.sin(yaw), np.cos(yaw)
        boxes.append([pos[0] + d * nx, pos[1] + d * ny, float(yaw), obs_len, obs_wid])
        arc_s.append(s)
        lateral.append(d)
    return Obstacles(np.asarray(boxes, dtype=np.float64), np.asarray(arc_s), np.asarray(lateral))
