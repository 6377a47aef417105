"""The observation type: one LiDAR scan, ranges in metres, float32 of shape (n_beams,)."""

from __future__ import annotations

import numpy as np
from gymnasium import spaces

from tinylidar_gym.sim.config import LidarConfig


def observation_space(cfg: LidarConfig) -> spaces.Box:
    """``Box(0, max_range_m, (n_beams,), float32)``; beam 0 at -fov/2 (right), CCW order."""
    return spaces.Box(0.0, cfg.max_range_m, shape=(cfg.n_beams,), dtype=np.float32)
