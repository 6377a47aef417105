"""The action type: ``Box(-1, 1, (2,))`` = [steering, speed command], mapped to physical units.

- ``steering_rad = action[0] * vehicle.max_steer_rad`` (positive = left).
- ``speed_cmd_mps = min_speed_command_mps + (action[1] + 1) / 2 * (max - min)``; with the
  default config -1 commands 0 m/s and +1 commands 8 m/s.

Out-of-range actions are clipped to [-1, 1]; NaN/inf or a wrong shape raise ``ValueError``.
The vehicle then tracks the commands within its rate and acceleration limits.
"""

from __future__ import annotations

import math

import numpy as np
from gymnasium import spaces

from tinylidar_gym.sim.config import EnvConfig
from tinylidar_gym.sim.vehicle import command_from_action


def action_space() -> spaces.Box:
    """``Box(-1, 1, (2,), float32)``: [steering, speed command]."""
    return spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)


def validate_action(action: np.ndarray | list[float] | tuple[float, float]) -> np.ndarray:
    """Return ``action`` as float64 (2,); raise ``ValueError`` on a wrong shape or NaN/inf."""
    a = action.astype(np.float64) if type(action) is np.ndarray else np.asarray(action, np.float64)
    if a.shape != (2,):
        raise ValueError(
            f"action must have shape (2,) = [steering, speed] in [-1, 1], got shape {a.shape}."
        )
    if not (math.isfinite(a[0]) and math.isfinite(a[1])):
        raise ValueError(f"action must be finite, got {a.tolist()}.")
    return a


def validate_actions(actions: np.ndarray, n_envs: int) -> np.ndarray:
    """Batched :func:`validate_action`: returns float64 (n_envs, 2)."""
    a = np.asarray(actions, dtype=np.float64)
    if a.shape != (n_envs, 2):
        raise ValueError(f"actions must have shape ({n_envs}, 2), got {a.shape}.")
    if not np.isfinite(a).all():
        bad = np.flatnonzero(~np.isfinite(a).all(axis=1)).tolist()
        raise ValueError(f"actions must be finite; non-finite rows: {bad}.")
    return a


def to_physical(action: np.ndarray, cfg: EnvConfig) -> tuple[float, float]:
    """(steering_rad, speed_cmd_mps) that ``action`` commands (after clipping)."""
    a = np.asarray(action, dtype=np.float64)
    steer, speed = command_from_action(
        float(a[0]), float(a[1]), cfg.vehicle.max_steer_rad,
        cfg.min_speed_command_mps, cfg.max_speed_command_mps,
    )  # fmt: skip
    return float(steer), float(speed)


def from_physical(steering_rad: float, speed_mps: float, cfg: EnvConfig) -> np.ndarray:
    """The action (float32 (2,), clipped to [-1, 1]) that commands the given steering and speed."""
    lo, hi = cfg.min_speed_command_mps, cfg.max_speed_command_mps
    a0 = steering_rad / cfg.vehicle.max_steer_rad
    a1 = 2.0 * (speed_mps - lo) / (hi - lo) - 1.0
    return np.clip(np.array([a0, a1], dtype=np.float32), -1.0, 1.0)
