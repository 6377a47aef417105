"""The native vector env with stable-baselines3's ``VecEnv`` face (for imitation and PPO).

Same core as :class:`tinylidar_gym.envs.vector_env.TinyLidarVectorEnv` (one compiled step for
every car); only the conventions differ: SB3 wants ``dones`` and a list of info dicts, with the
last observation of a finished episode in ``info["terminal_observation"]`` and
``info["TimeLimit.truncated"]`` for cut-offs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from stable_baselines3.common.vec_env import VecEnv

from tinylidar_gym.envs.info import info_row
from tinylidar_gym.envs.vector_env import TinyLidarVectorEnv
from tinylidar_gym.sim.config import EnvConfig


class TinyLidarSB3VecEnv(VecEnv):
    """``num_envs`` cars as an SB3 ``VecEnv``. ``.world`` exposes the simulator (for the expert).

    Args:
        num_envs: number of cars.
        config: env configuration (default: the f1tenth preset).
        parallel: step the cars on all cores.
        **overrides: top-level EnvConfig fields, as for ``gym.make``.
    """

    def __init__(
        self,
        num_envs: int,
        config: EnvConfig | dict[str, Any] | None = None,
        parallel: bool = True,
        **overrides: Any,
    ) -> None:
        self.venv = TinyLidarVectorEnv(num_envs, config=config, parallel=parallel, **overrides)
        super().__init__(
            num_envs, self.venv.single_observation_space, self.venv.single_action_space
        )
        self._actions: np.ndarray | None = None
        self._seed_base: int | None = None

    @property
    def world(self):  # noqa: ANN201 - the simulator's World
        return self.venv.world

    @property
    def config(self) -> EnvConfig:
        return self.venv.config

    def seed(self, seed: int | None = None) -> Sequence[int | None]:
        self._seed_base = seed
        return [None if seed is None else seed + i for i in range(self.num_envs)]

    def reset(self) -> np.ndarray:
        seed = self._seed_base if self._seed_base is not None else self._seeds[0]
        obs, infos = self.venv.reset(seed=seed)
        self._seed_base = None
        self._reset_seeds()
        self.reset_infos = [info_row(infos, i) for i in range(self.num_envs)]
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions)

    def step_wait(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[dict[str, Any]]]:
        assert self._actions is not None, "step_async() first"
        obs, rewards, terminated, truncated, infos = self.venv.step(self._actions)
        dones = terminated | truncated
        out: list[dict[str, Any]] = []
        for i in range(self.num_envs):
            if dones[i]:
                info = dict(infos["final_info"][i])
                info["terminal_observation"] = infos["final_observation"][i]
                info["TimeLimit.truncated"] = bool(truncated[i] and not terminated[i])
            else:
                info = info_row(infos, i)
            out.append(info)
        return obs, rewards.astype(np.float32), dones, out

    def close(self) -> None:
        self.venv.close()

    def get_attr(self, attr_name: str, indices: Any = None) -> list[Any]:
        return [getattr(self.venv, attr_name) for _ in self._indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: Any = None) -> None:
        setattr(self.venv, attr_name, value)

    def env_method(self, method_name: str, *args: Any, indices: Any = None, **kwargs: Any) -> list:
        return [getattr(self.venv, method_name)(*args, **kwargs) for _ in self._indices(indices)]

    def env_is_wrapped(self, wrapper_class: type, indices: Any = None) -> list[bool]:
        return [False for _ in self._indices(indices)]

    def _indices(self, indices: Any) -> list[int]:
        if indices is None:
            return list(range(self.num_envs))
        return [indices] if isinstance(indices, int) else list(indices)
