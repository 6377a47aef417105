"""Train Tiny Lidar Net with DAgger: the learner drives, the privileged expert labels.

    uv run experiment-runner train-dagger --out models/dagger

Round 0 is expert demonstrations driven with small correlated noise (DART); from then on the
learner drives (beta falls to 0 over `--dagger.beta-rampdown-rounds`), the expert taking the
wheel of a car that strays more than `--dagger.takeover.deviation-m` from its plan, and every
state any car visits is labelled with the expert's action. BC retrains on all rounds after
each; every epoch is validated in closed loop on val seeds and the best becomes the model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tinylidar_gym.sim.config import EnvConfig
from trainers.dagger_config import DAggerConfig


@dataclass
class Args:
    out: Path = Path("models/dagger")
    """Model directory to create."""
    env: EnvConfig = field(default_factory=EnvConfig)
    """Environment configuration."""
    dagger: DAggerConfig = field(default_factory=DAggerConfig)
    """Rounds, labels per round, beta schedule and BC settings."""


def run(args: Args) -> Path:
    from trainers.dagger import train_dagger

    report = train_dagger(args.out, args.dagger, args.env)
    kept = report["kept"]
    where = "" if kept is None else f", kept {kept['at']} (val success {kept['success_rate']:.0%})"
    print(
        f"{args.out}: {report['rounds']} rounds, {report['expert_labels']:,} expert labels, "
        f"{report['train_seconds'] / 60:.1f} min{where}"
    )
    return args.out
