"""Train Tiny Lidar Net by behavioural cloning (imitation's BC) on an extracted dataset.

    uv run experiment-runner train-bc --data data --out models/bc

Tracked with wandb, offline by default (`wandb sync models/bc/wandb/offline-run-*` uploads it
later); `--tracking.wandb-mode disabled` or `--tracking.tracker none` for no tracking.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from trainers.configs import BCConfig
from trainers.tracking import TrackingConfig


@dataclass
class Args:
    data: Path = Path("data")
    """Dataset directory (from `experiment-runner extract`)."""
    out: Path = Path("models/bc")
    """Model directory to create: model.safetensors, model.json, model.onnx, checkpoints/."""
    bc: BCConfig = field(default_factory=BCConfig)
    """Training hyper-parameters."""
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    """Experiment tracking."""


def run(args: Args) -> Path:
    from trainers.bc import train_bc

    report = train_bc(args.data, args.out, args.bc, args.tracking)
    print(
        f"{args.out}: best epoch {report['best_epoch']} (val mse {report['best_val_mse']:.5f}), "
        f"trained in {report['train_seconds'] / 60:.1f} min"
    )
    return args.out
