"""The pieces of a DAgger round: the expert as an SB3 policy, DART demonstrations, the
collector with expert takeover, and the lean infos imitation stores with each trajectory."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from imitation.algorithms.dagger import InteractiveTrajectoryCollector
from imitation.data import types
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.vec_env import VecEnvWrapper

from tinylidar_gym.experts.expert import Expert, ExpertConfig
from tinylidar_gym.experts.policy import ExpertPolicy
from trainers.vec_env import TinyLidarSB3VecEnv


class SB3ExpertPolicy(BasePolicy):
    """The expert bound to ``venv`` as an SB3 policy (observations are ignored: privileged)."""

    def __init__(self, venv: TinyLidarSB3VecEnv, cfg: ExpertConfig | None = None) -> None:
        super().__init__(venv.observation_space, venv.action_space)
        self.expert = ExpertPolicy(venv, cfg)

    def _predict(self, observation: torch.Tensor, deterministic: bool = False) -> torch.Tensor:
        actions, _ = self.expert.predict(observation.cpu().numpy())
        return torch.as_tensor(actions, device=observation.device)


LEAN_INFO_KEYS = ("is_success", "end_reason", "terminal_observation", "TimeLimit.truncated")
"""The only info keys a DAgger round needs (end-of-episode figures and SB3's terminal fields)."""


def lean_info(info: dict[str, Any], done: bool) -> dict[str, Any]:
    """``info`` cut to :data:`LEAN_INFO_KEYS`, empty while the episode runs.

    imitation stores every round's trajectories with their infos through jsonpickle; the env's
    full per-step info (two dozen numpy scalars) made that serialisation most of DAgger's time.
    """
    if not done:
        return {}
    out = {k: info[k] for k in LEAN_INFO_KEYS if k in info}
    if "is_success" in out:
        out["is_success"] = bool(out["is_success"])
    if "end_reason" in out:
        out["end_reason"] = str(out["end_reason"])
    return out


class LeanInfoVecEnv(VecEnvWrapper):
    """The wrapped VecEnv with :func:`lean_info` infos."""

    def reset(self) -> np.ndarray:
        return self.venv.reset()

    def step_wait(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[dict[str, Any]]]:
        obs, rewards, dones, infos = self.venv.step_wait()
        return obs, rewards, dones, [lean_info(i, d) for i, d in zip(infos, dones, strict=True)]


def dart_demonstrations(
    venv: TinyLidarSB3VecEnv,
    expert: SB3ExpertPolicy,
    episodes: int,
    noise: ExpertConfig,
    seed: int,
) -> list[types.Trajectory]:
    """``episodes`` expert trajectories whose executed actions carry correlated noise.

    The recorded actions are the expert's clean labels of the states visited, as in collection,
    so the demonstrations show how to recover from small deviations.
    """
    rng = np.random.default_rng([seed, 0x64617274])  # "dart"
    std = np.array([noise.noise_steer_std, noise.noise_speed_std])
    decay = math.exp(-venv.config.control_dt_s / max(noise.noise_correlation_s, 1e-9))
    n = venv.num_envs
    state = rng.normal(size=(n, 2)) * std
    obs = venv.reset()
    buf_obs = [[o] for o in obs]
    buf_acts: list[list[np.ndarray]] = [[] for _ in range(n)]
    buf_infos: list[list[dict[str, Any]]] = [[] for _ in range(n)]
    trajs: list[types.Trajectory] = []
    while len(trajs) < episodes:
        labels, _ = expert.predict(obs, deterministic=True)
        state = decay * state + math.sqrt(1.0 - decay**2) * rng.normal(size=(n, 2)) * std
        obs, _, dones, infos = venv.step(np.clip(labels + state, -1.0, 1.0).astype(np.float32))
        for i in range(n):
            buf_acts[i].append(labels[i])
            buf_infos[i].append(lean_info(infos[i], bool(dones[i])))
            if not dones[i]:
                buf_obs[i].append(obs[i])
                continue
            trajs.append(
                types.Trajectory(
                    obs=np.stack([*buf_obs[i], infos[i]["terminal_observation"]]),
                    acts=np.stack(buf_acts[i]),
                    infos=np.array(buf_infos[i]),
                    terminal=True,
                )
            )
            buf_obs[i], buf_acts[i], buf_infos[i] = [obs[i]], [], []
            state[i] = rng.normal(size=2) * std
    return trajs[:episodes]


class Takeover:
    """Which cars the expert drives: those further than ``deviation_m`` from its plan, for
    ``hold_steps`` steps from then on. ``steps`` counts the car-steps it drove so."""

    def __init__(
        self, expert: Expert, venv: TinyLidarSB3VecEnv, deviation_m: float, hold_steps: int
    ) -> None:
        self.expert, self.world = expert, venv.world
        self.deviation_m = deviation_m
        self.hold_steps = max(1, hold_steps)
        self.left = np.zeros(venv.num_envs, dtype=np.int64)
        self.steps = 0

    def __call__(self) -> np.ndarray:
        """(n_cars,) bool: the expert drives this step. Call once per step."""
        for i in range(len(self.left)):
            if self.expert.path_deviation_m(self.world, i) > self.deviation_m:
                self.left[i] = self.hold_steps
        active = self.left > 0
        self.left[active] -= 1
        self.steps += int(active.sum())
        return active

    def episodes_ended(self, dones: np.ndarray) -> None:
        self.left[dones] = 0


class GatedCollector(InteractiveTrajectoryCollector):
    """imitation's DAgger collector with the expert taking the wheel where ``gate`` says:
    the learner drives a car (with probability 1 - beta) only when the gate is off for it."""

    def __init__(self, base: InteractiveTrajectoryCollector, gate: Takeover) -> None:
        super().__init__(base.venv, base.get_robot_acts, base.beta, base.save_dir, base.rng)
        self.gate = gate

    def step_async(self, actions: np.ndarray) -> None:
        assert self._is_reset and self._last_obs is not None, "call .reset() before .step()"
        executed = np.array(actions)
        mask = (self.rng.uniform(0, 1, size=(self.num_envs,)) > self.beta) & ~self.gate()
        if mask.any():
            executed[mask] = self.get_robot_acts(self._last_obs[mask])
        self._last_user_actions = actions
        self.venv.step_async(executed)

    def step_wait(self):  # noqa: ANN201 - VecEnvStepReturn
        out = super().step_wait()
        self.gate.episodes_ended(np.asarray(out[2], dtype=bool))
        return out


class CountingActs:
    """Counts the car-steps on which the collector executed the learner's action."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.steps = 0

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        self.steps += len(obs)
        return self.inner(obs)
