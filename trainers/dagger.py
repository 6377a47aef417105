"""DAgger with the privileged expert as the labeller (imitation's ``SimpleDAggerTrainer``).

The learner drives (more and more, as beta decays), the expert labels every state the learner
visits, collision-bound ones included, and BC retrains on everything gathered so far. The expert
is wrapped as an SB3 ``BasePolicy``: imitation's DAgger requires one (it forces a deterministic
policy, which plain callables do not support).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from imitation.algorithms import bc
from imitation.algorithms.dagger import SimpleDAggerTrainer
from imitation.data import rollout
from imitation.util import logger as imit_logger
from stable_baselines3.common.policies import BasePolicy

from tinylidar_gym.experts.expert import ExpertConfig
from tinylidar_gym.experts.policy import ExpertPolicy
from tinylidar_gym.sim.config import EnvConfig
from trainers.export import save_model
from trainers.models import TinyLidarNetPolicy, policy_to_network
from trainers.vec_env import TinyLidarSB3VecEnv


class SB3ExpertPolicy(BasePolicy):
    """The expert bound to ``venv`` as an SB3 policy (observations are ignored: privileged)."""

    def __init__(self, venv: TinyLidarSB3VecEnv, cfg: ExpertConfig | None = None) -> None:
        super().__init__(venv.observation_space, venv.action_space)
        self.expert = ExpertPolicy(venv, cfg)

    def _predict(self, observation: torch.Tensor, deterministic: bool = False) -> torch.Tensor:
        actions, _ = self.expert.predict(observation.cpu().numpy())
        return torch.as_tensor(actions, device=observation.device)


@dataclass(frozen=True)
class DAggerConfig:
    """DAgger settings (a small run by default)."""

    total_timesteps: int = 20_000
    """Environment steps gathered over all rounds (labels the expert gives)."""
    num_envs: int = 8
    """Cars driving at once."""
    round_min_episodes: int = 8
    """Episodes per aggregation round."""
    round_min_timesteps: int = 4_000
    """Steps per aggregation round."""
    bc_epochs_per_round: int = 2
    """BC epochs over the aggregated data after each round."""
    batch_size: int = 256
    """BC batch size."""
    learning_rate: float = 1e-3
    """Adam learning rate."""
    stats_episodes: int = 4
    """Expert episodes driven first to estimate the per-beam scan mean/std for the model."""
    seed: int = 0
    """Seed for the episodes, the weights and the batch order."""


def _quiet_datasets() -> None:
    """imitation stores DAgger rounds with HF datasets, whose per-save progress bars are noise."""
    try:
        from datasets.utils.logging import disable_progress_bar
    except ImportError:  # pragma: no cover - imitation always brings datasets
        return
    disable_progress_bar()


def _scan_stats(venv: TinyLidarSB3VecEnv, expert: SB3ExpertPolicy, episodes: int, seed: int):
    trajs = rollout.generate_trajectories(
        expert, venv, rollout.make_min_episodes(episodes), rng=np.random.default_rng(seed)
    )
    obs = np.concatenate([t.obs for t in trajs]).astype(np.float64)
    return obs.mean(axis=0).astype(np.float32), obs.std(axis=0).astype(np.float32), len(obs)


def train_dagger(
    out_dir: str | Path,
    cfg: DAggerConfig | None = None,
    env_cfg: EnvConfig | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Train Tiny Lidar Net with DAgger; writes the model to ``out_dir``. Returns a report."""
    cfg = cfg or DAggerConfig()
    env_cfg = env_cfg or EnvConfig()
    out_dir = Path(out_dir)
    if (out_dir / "model.json").exists():
        raise FileExistsError(f"{out_dir} already holds a model; choose another --out.")
    torch.manual_seed(cfg.seed)
    _quiet_datasets()
    venv = TinyLidarSB3VecEnv(cfg.num_envs, config=env_cfg)
    venv.seed(cfg.seed)
    expert = SB3ExpertPolicy(venv)
    mean, std, stats_samples = _scan_stats(venv, expert, cfg.stats_episodes, cfg.seed)
    policy = TinyLidarNetPolicy(
        venv.observation_space,
        venv.action_space,
        lambda _: cfg.learning_rate,
        scan_mean=mean,
        scan_std=std,
    )
    learner = bc.BC(
        observation_space=venv.observation_space,
        action_space=venv.action_space,
        rng=np.random.default_rng(cfg.seed),
        policy=policy,
        batch_size=cfg.batch_size,
        optimizer_kwargs={"lr": cfg.learning_rate},
        custom_logger=imit_logger.configure(folder=None, format_strs=[]),
    )
    with tempfile.TemporaryDirectory() as scratch:
        trainer = SimpleDAggerTrainer(
            venv=venv,
            scratch_dir=scratch,
            expert_policy=expert,
            bc_trainer=learner,
            rng=np.random.default_rng(cfg.seed),
            custom_logger=imit_logger.configure(folder=None, format_strs=[]),
        )
        trainer.train(
            cfg.total_timesteps,
            rollout_round_min_episodes=cfg.round_min_episodes,
            rollout_round_min_timesteps=cfg.round_min_timesteps,
            bc_train_kwargs={"n_epochs": cfg.bc_epochs_per_round, "progress_bar": progress},
        )
        labels = sum(len(t) for t in trainer._all_demos)  # every state the expert labelled
        rounds = trainer.round_num
    from tinylidar_gym.sim.config import config_to_dict

    report = {
        "rounds": rounds,
        "expert_labels": labels + stats_samples,
        "stats_samples": stats_samples,
    }
    save_model(
        out_dir,
        policy_to_network(policy),
        {"env": config_to_dict(env_cfg), "dagger": cfg.__dict__, "training": report},
    )
    return report
