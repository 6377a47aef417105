"""Wrappers for data collection."""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np


class ActionNoise(gym.ActionWrapper):
    """Perturb executed actions with temporally correlated (Ornstein-Uhlenbeck) noise.

    Used to collect expert data that also covers recovery (DART-style): the expert's clean action
    is what a recorder *outside* this wrapper stores as the label, while the car executes the
    perturbed one and drifts off the expert's path, so the data shows how to get back.
    The noise is seeded from the episode seed, so noisy episodes replay bit for bit.

    Args:
        env: the env.
        std: (2,) stationary standard deviation per action dimension, action units.
        correlation_s: time constant of the noise; 0 gives white noise.
    """

    def __init__(self, env: gym.Env, std: tuple[float, float], correlation_s: float = 0.3) -> None:
        super().__init__(env)
        self.std = np.asarray(std, dtype=np.float64)
        dt = env.unwrapped.config.control_dt_s  # type: ignore[attr-defined]
        self._decay = math.exp(-dt / correlation_s) if correlation_s > 0 else 0.0
        self._state = np.zeros(2)
        self._rng = np.random.default_rng(0)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        obs, info = self.env.reset(seed=seed, options=options)
        # Its own stream, derived from the episode's: the env's draws stay untouched.
        self._rng = np.random.default_rng(
            None if seed is None else [seed, 0x6E6F6973]  # "nois"
        )
        self._state = self._rng.normal(0.0, 1.0, 2) * self.std
        return obs, info

    def action(self, action: np.ndarray) -> np.ndarray:
        innovation = math.sqrt(1.0 - self._decay**2)
        self._state = (
            self._decay * self._state + innovation * self._rng.normal(0.0, 1.0, 2) * self.std
        )
        return np.clip(np.asarray(action, dtype=np.float64) + self._state, -1.0, 1.0)
