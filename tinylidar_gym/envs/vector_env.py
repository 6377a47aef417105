"""A native vector env: N cars stepped in one compiled (parallel) call.

Gymnasium 0.29 semantics: a finished sub-env is reset inside the same ``step`` call; the
observation returned for it is the first of its new episode, and the last observation and info of
the finished episode are in ``infos["final_observation"][i]`` / ``infos["final_info"][i]``
(with boolean masks ``infos["_final_observation"]`` / ``infos["_final_info"]``).

Sub-env ``i`` behaves exactly like ``TinyLidarEnv`` reset with seed ``seed + i`` (and later resets
without a seed, continuing its own generator): the results are bit-identical. To run a fixed list
of seeds (evaluation), put the seeds after the first ``num_envs`` in ``seed_queue``: autoresets
take them in order, and ``episode_seeds[i]`` tells which seed sub-env ``i`` is running.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any

import numpy as np
from gymnasium.utils import seeding
from gymnasium.vector import VectorEnv

from tinylidar_gym.envs.action import action_space, validate_actions
from tinylidar_gym.envs.info import batch_done, batch_info, car_info
from tinylidar_gym.envs.observation import observation_space
from tinylidar_gym.envs.tinylidar_env import resolve_config
from tinylidar_gym.sim.config import EnvConfig
from tinylidar_gym.sim.world import World
from tinylidar_gym.tracks.layout import Layout, draw_layout

if TYPE_CHECKING:
    from tinylidar_gym.envs.rendering import TopDownRenderer


class TinyLidarVectorEnv(VectorEnv):
    """``num_envs`` independent cars sharing one config.

    Args:
        num_envs: number of cars.
        config: as for ``TinyLidarEnv``.
        parallel: step the cars on all cores (numba threads); results do not depend on it.
        render_mode: None or "rgb_array" (renders sub-env 0).
        **overrides: top-level :class:`EnvConfig` fields to replace.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 40, "autoreset": True}

    def __init__(
        self,
        num_envs: int,
        config: EnvConfig | dict[str, Any] | None = None,
        parallel: bool = True,
        render_mode: str | None = None,
        max_episode_steps: int | None = None,
        **overrides: Any,
    ) -> None:
        # gym.make_vec(..., vectorization_mode="custom") always passes the spec's
        # max_episode_steps (None for TinyLidar-v0: episodes end via max_episode_time_s).
        if max_episode_steps is not None:
            raise ValueError("max_episode_steps is not supported; set max_episode_time_s instead.")
        if not isinstance(num_envs, int) or num_envs < 1:
            raise ValueError(f"num_envs must be an integer >= 1, got {num_envs!r}.")
        self.config = resolve_config(config, overrides)
        super().__init__(num_envs, observation_space(self.config.lidar), action_space())
        self.render_mode = render_mode
        self.world = World(self.config, n_cars=num_envs, parallel=parallel)
        self.layouts: list[Layout | None] = [None] * num_envs
        self._rngs: list[np.random.Generator] = [seeding.np_random()[0] for _ in range(num_envs)]
        self.seed_queue: deque[int] = deque()
        """Seeds for the next autoresets, taken in order (empty: continue each generator)."""
        self.episode_seeds: list[int | None] = [None] * num_envs
        """The seed each sub-env's current episode was reset with (None: unseeded)."""
        self._renderer: TopDownRenderer | None = None
        self._needs_reset = True

    # ------------------------------------------------------------------ sub-env helpers

    def _reset_one(self, i: int, seed: int | None) -> None:
        self.episode_seeds[i] = seed
        if seed is not None:
            self._rngs[i], _ = seeding.np_random(seed)
        layout = draw_layout(self.config, self._rngs[i])
        self.layouts[i] = layout
        self.world.set_layout(i, layout.course, layout.obstacles)
        self.world.reset_car(i, layout.noise_seed, time_limit_s=layout.time_limit_s)

    # ------------------------------------------------------------------ gymnasium API

    def reset(
        self,
        *,
        seed: int | list[int | None] | None = None,
        options: dict[str, Any] | None = None,
    ) -> tuple[np.ndarray, dict[str, Any]]:
        if seed is None or isinstance(seed, int):
            seeds = [None if seed is None else seed + i for i in range(self.num_envs)]
        else:
            seeds = list(seed)
            if len(seeds) != self.num_envs:
                raise ValueError(f"expected {self.num_envs} seeds, got {len(seeds)}.")
        for i, s in enumerate(seeds):
            self._reset_one(i, s)
        self._needs_reset = False
        return self.world.scans.copy(), batch_info(self.world)

    def step(
        self, actions: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        if self._needs_reset:
            raise RuntimeError("step() called before reset(); call reset() first.")
        self.world.step(validate_actions(actions, self.num_envs))
        terminated, truncated = batch_done(self.world)
        rewards = self.world.rewards.copy()
        done = np.flatnonzero(terminated | truncated)
        final_obs = np.full(self.num_envs, None, dtype=object)
        final_info = np.full(self.num_envs, None, dtype=object)
        for i in done:
            final_obs[i] = self.world.scans[i].copy()
            final_info[i] = car_info(self.world, int(i))
            self._reset_one(int(i), self.seed_queue.popleft() if self.seed_queue else None)
        # After the resets: a reset sub-env reports its new episode's info (as SyncVectorEnv).
        infos = batch_info(self.world)
        if done.size:
            mask = np.zeros(self.num_envs, dtype=bool)
            mask[done] = True
            infos["final_observation"] = final_obs
            infos["_final_observation"] = mask
            infos["final_info"] = final_info
            infos["_final_info"] = mask.copy()
        return self.world.scans.copy(), rewards, terminated, truncated, infos

    def render(self) -> np.ndarray | None:
        """Top-down picture of sub-env 0."""
        if self.render_mode != "rgb_array":
            return None
        if self._renderer is None:
            from tinylidar_gym.envs.rendering import TopDownRenderer  # Pillow: only when drawn

            self._renderer = TopDownRenderer()
        return self._renderer.render(self.world, 0)
