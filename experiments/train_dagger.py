"""Train Tiny Lidar Net with DAgger: the learner drives, the privileged expert labels.

uv run experiment-runner train-dagger --out models/dagger
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tinylidar_gym.sim.config import EnvConfig


@dataclass
class Args:
    out: Path = Path("models/dagger")
    """Model directory to create."""
    env: EnvConfig = field(default_factory=EnvConfig)
    """Environment configuration."""
    total_timesteps: int = 20_000
    """Environment steps (expert labels) gathered over all rounds."""
    num_envs: int = 8
    """Cars driving at once."""
    bc_epochs_per_round: int = 2
    """BC epochs over the aggregated data after each round."""
    seed: int = 0
    """Seed."""


def run(args: Args) -> Path:
    from trainers.dagger import DAggerConfig, train_dagger

    cfg = DAggerConfig(
        total_timesteps=args.total_timesteps,
        num_envs=args.num_envs,
        bc_epochs_per_round=args.bc_epochs_per_round,
        seed=args.seed,
    )
    report = train_dagger(args.out, cfg, args.env)
    print(f"{args.out}: {report['rounds']} rounds, {report['expert_labels']:,} expert labels")
    return args.out
