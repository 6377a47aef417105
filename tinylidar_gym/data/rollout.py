"""Run one episode of a policy in an env and summarise it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np

Policy = Callable[[np.ndarray], np.ndarray]
"""Maps one observation (n_beams,) to one action (2,)."""


def run_episode(
    env: gym.Env,
    policy: Policy,
    seed: int | None = None,
    options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Drive ``policy`` in ``env`` until the episode ends; returns the final info plus
    ``seed``, ``steps``, ``return`` and ``mean_speed_mps``."""
    obs, info = env.reset(seed=seed, options=options)
    total, steps = 0.0, 0
    while True:
        obs, reward, terminated, truncated, info = env.step(policy(obs))
        total += float(reward)
        steps += 1
        if terminated or truncated:
            break
    time_s = info["time_s"]
    return {
        **info,
        "seed": seed,
        "steps": steps,
        "return": total,
        "mean_speed_mps": info["distance_m"] / time_s if time_s > 0 else 0.0,
    }
