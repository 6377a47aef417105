"""Follow-the-gap: the classic F1TENTH reactive driver, from the LiDAR scan alone.

A baseline that needs no privileged information: it steers towards the deepest point of the
widest free gap after blanking a safety bubble around the nearest return.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinylidar_gym.envs.action import from_physical
from tinylidar_gym.sim.config import EnvConfig
from tinylidar_gym.sim.lidar import beam_angles


@dataclass(frozen=True)
class FollowTheGapConfig:
    """Tuning of the follow-the-gap driver."""

    lookahead_m: float = 4.0
    """Ranges are clipped to this before looking for gaps."""
    bubble_radius_m: float = 0.45
    """Radius blanked around the nearest return."""
    gap_threshold_m: float = 1.2
    """A beam belongs to a gap when its (clipped) range exceeds this."""
    fov_deg: float = 180.0
    """Only beams within +-fov/2 of the heading are considered."""
    max_speed_mps: float = 4.5
    """Speed on a straight gap."""
    min_speed_mps: float = 1.5
    """Speed at full steering lock."""


class FollowTheGap:
    """Callable policy: ``action = policy(scan)`` with scan (n_beams,) and action float32 (2,)."""

    def __init__(self, env_cfg: EnvConfig, cfg: FollowTheGapConfig | None = None) -> None:
        self.env_cfg = env_cfg
        self.cfg = cfg or FollowTheGapConfig()
        angles = beam_angles(env_cfg.lidar)
        self._sel = np.flatnonzero(np.abs(angles) <= np.radians(self.cfg.fov_deg) / 2)
        self._angles = angles[self._sel]
        self._inc = env_cfg.lidar.angle_increment_rad

    def __call__(self, scan: np.ndarray) -> np.ndarray:
        c = self.cfg
        r = np.minimum(np.asarray(scan, dtype=np.float64)[self._sel], c.lookahead_m)
        r = np.convolve(r, np.ones(5) / 5, mode="same")
        nearest = int(np.argmin(r))
        half = int(np.arctan2(c.bubble_radius_m, max(r[nearest], 1e-3)) / self._inc)
        r[max(0, nearest - half) : nearest + half + 1] = 0.0
        free = r > c.gap_threshold_m
        if not free.any():
            return from_physical(0.0, 0.0, self.env_cfg)
        # Runs of free beams: pick the longest, aim at its deepest beam.
        edges = np.flatnonzero(np.diff(np.concatenate([[0], free.astype(np.int8), [0]])))
        starts, ends = edges[::2], edges[1::2]
        longest = int(np.argmax(ends - starts))
        lo, hi = int(starts[longest]), int(ends[longest])
        target = lo + int(np.argmax(r[lo:hi]))
        # Aim between the deepest beam and the gap centre: smoother lines.
        target = (target + (lo + hi - 1) // 2) // 2
        steer = float(self._angles[target])
        max_steer = self.env_cfg.vehicle.max_steer_rad
        frac = min(abs(steer) / max_steer, 1.0)
        speed = c.max_speed_mps - frac * (c.max_speed_mps - c.min_speed_mps)
        return from_physical(steer, speed, self.env_cfg)
