"""Rebuild and re-drive an episode from its ``config.yaml`` alone."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tinylidar_gym.data.episode import read_config
from tinylidar_gym.envs.tinylidar_env import TinyLidarEnv
from tinylidar_gym.experts.expert import Expert, ExpertConfig, with_collection_noise


@dataclass
class Replay:
    """What the replayed episode produced, step by step (T steps)."""

    scans: np.ndarray
    """(T, n_beams) float32: the observation each action was computed from."""
    actions: np.ndarray
    """(T, 2) float32."""
    rewards: np.ndarray
    """(T,) float64."""
    end_reason: str
    env: TinyLidarEnv


def replay_episode(episode_dir: str | Path) -> Replay:
    """Re-simulate an expert episode: same config, seed and layout give identical scans."""
    ep = read_config(episode_dir)
    if ep.driver != "expert":
        raise ValueError(
            f"{episode_dir}: only expert episodes can be replayed (driver={ep.driver})."
        )
    base = TinyLidarEnv(ep.env)
    expert_cfg = ep.expert or ExpertConfig()
    expert = Expert(ep.env, expert_cfg)
    env = with_collection_noise(base, expert_cfg)
    obs, info = env.reset(seed=ep.seed, options={"obstacles": ep.obstacles})
    scans, actions, rewards = [], [], []
    while True:
        action = expert.act(base.world, 0)
        scans.append(obs)
        actions.append(action)
        obs, reward, terminated, truncated, info = env.step(action)
        rewards.append(reward)
        if terminated or truncated:
            break
    return Replay(np.stack(scans), np.stack(actions), np.asarray(rewards), info["end_reason"], base)
