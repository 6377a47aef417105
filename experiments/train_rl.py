"""Fine-tune Tiny Lidar Net with PPO (stable-baselines3) on the native vector env.

    uv run experiment-runner train-rl --rl.init models/bc --out models/ppo
    uv run experiment-runner train-rl --rl.init none --out models/ppo-scratch

From a model (BC or DAgger) it trains in that model's env config and starts from its weights
and normalisation; `--rl.init none` starts from scratch (baseline). The best validated policy (on
val seeds, the start included) is saved like a BC model, so `experiment-runner evaluate --policy
<out>` works unchanged. Tracked with wandb, offline by default (`--tracking.tracker none` for no
tracking).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from trainers.configs import RLConfig
from trainers.tracking import TrackingConfig


@dataclass
class Args:
    out: Path = Path("models/ppo")
    """Model directory to create: model.safetensors, model.json, model.onnx, checkpoints/."""
    rl: RLConfig = field(default_factory=lambda: RLConfig(init=Path("models/pipeline")))
    """PPO settings; --rl.init is the start model (none: from scratch)."""
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    """Experiment tracking."""


def run(args: Args) -> Path:
    from trainers.rl import train_rl

    report = train_rl(args.out, args.rl, args.tracking)
    kept = report["kept_val"]
    lap = kept["mean_lap_time_s"]
    print(
        f"{args.out}: {report['env_steps']:,} env steps in {report['train_seconds'] / 60:.1f} min;"
        f" kept the policy of step {report['kept_step']:,} ({args.rl.keep}): val success "
        f"{kept['success_rate']:.1%}, lap {'-' if lap is None else f'{lap:.2f} s'} "
        f"(start: {report['start_val']['success_rate']:.1%})"
    )
    return args.out
