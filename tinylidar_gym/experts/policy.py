"""The expert as a policy object: SB3-style ``predict`` and imitation's rollout callable.

The expert is privileged: it ignores the observations and reads the true state of the env it is
bound to. Bind it to the env that produces the observations:

- a vector env with a ``world`` (``TinyLidarVectorEnv``, ``trainers.vec_env.TinyLidarSB3VecEnv``),
- an SB3 ``DummyVecEnv`` of ``TinyLidar-v0`` envs (wrapped or not),
- or a single ``TinyLidar-v0`` env.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tinylidar_gym.experts.expert import Expert, ExpertConfig
from tinylidar_gym.sim.world import World


class ExpertPolicy:
    """``predict(obs) -> (actions, None)`` and ``policy(obs, state, episode_start)`` for
    ``imitation.data.rollout``; deterministic, batch-shaped like the bound env."""

    def __init__(self, env: Any, cfg: ExpertConfig | None = None) -> None:
        self._cars = _cars_of(env)
        self.expert = Expert(self._cars[0][0].cfg, cfg)
        self._batched = hasattr(env, "num_envs")

    def _actions(self) -> np.ndarray:
        return np.stack([self.expert.act(world, i) for world, i in self._cars])

    def predict(
        self,
        observation: np.ndarray,
        state: Any = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = True,
    ) -> tuple[np.ndarray, None]:
        """SB3-style: actions for the bound env's current states (``observation`` unused)."""
        actions = self._actions()
        return (actions if self._batched else actions[0]), None

    def __call__(
        self, observations: np.ndarray, states: Any = None, episode_starts: Any = None
    ) -> tuple[np.ndarray, None]:
        """imitation's ``PolicyCallable``."""
        return self.predict(observations, states, episode_starts)


def _cars_of(env: Any) -> list[tuple[World, int]]:
    world = getattr(env, "world", None)
    if isinstance(world, World):
        return [(world, i) for i in range(world.n_cars)]
    if hasattr(env, "envs"):  # SB3 DummyVecEnv of single envs
        return [(e.unwrapped.world, 0) for e in env.envs]
    unwrapped = getattr(env, "unwrapped", None)
    if unwrapped is not None and isinstance(getattr(unwrapped, "world", None), World):
        return [(unwrapped.world, 0)]
    raise TypeError(
        f"cannot find the simulator behind {type(env).__name__}; bind the expert to a "
        "TinyLidar-v0 env, a TinyLidarVectorEnv, a TinyLidarSB3VecEnv or a DummyVecEnv of them."
    )
