"""The whole flow on a small default: collect, summarize, extract, train-bc, evaluate.

    uv run experiment-runner pipeline

Each step is also its own subcommand; this one chains them with small defaults so a fresh
checkout shows the flow end to end in a few minutes on a small CPU machine (time and success
are in the README). Re-running it resumes: a step whose output already exists is skipped
(delete the output to redo it), so nothing is ever overwritten.

The result is the same on every run: collection, extraction and evaluation are deterministic,
and training runs on a fixed number of torch threads (``PIPELINE_BC.threads``) rather than one
per core, because the thread count sets the order of torch's float sums and so the weights.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from experiments import collect, evaluate, extract, summarize, train_bc
from tinylidar_gym.sim.config import ConfigError
from trainers.configs import BCConfig
from trainers.tracking import TrackingConfig

PIPELINE_BC = BCConfig(variant="S", epochs=8, threads=2)
"""The pipeline's training: the S network (every 4th beam, quicker to train than L) for 8 epochs
on a fixed thread count; otherwise BCConfig's defaults."""


@dataclass
class Args:
    out: Path = Path("runs")
    """Root directory of runs (collection and evaluation)."""
    data: Path = Path("data/pipeline")
    """Dataset directory."""
    model: Path = Path("models/pipeline")
    """Model directory."""
    train_episodes: int = 300
    """Expert episodes to collect from the train split."""
    test_episodes: int = 20
    """Held-out test seeds to evaluate the model and the expert on."""
    workers: int = -1
    """Parallel worker processes for collection (-1: all cores)."""
    bc: BCConfig = field(default_factory=lambda: PIPELINE_BC)
    """Training hyper-parameters (by default a short run of the S network on 2 torch threads:
    the same weights on every machine with the same CPU type, whatever its core count)."""
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    """Experiment tracking (wandb offline by default)."""

    def __post_init__(self) -> None:
        for name in ("train_episodes", "test_episodes"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                flag = "--" + name.replace("_", "-")
                raise ConfigError(f"{flag} {value} is invalid (give an integer >= 1)")


def run(args: Args) -> None:
    print("== collect ==")
    run_dir = collect.run(
        collect.Args(
            episodes=args.train_episodes, split="train", out=args.out, workers=args.workers
        )
    )
    print("\n== summarize ==")
    summarize.run(summarize.Args(run_dir=run_dir))
    print("\n== extract ==")
    if (args.data / "stats.json").exists():
        print(f"{args.data} exists; skipping (delete it to extract again)")
    else:
        extract.run(extract.Args(run_dirs=[run_dir], out=args.data))
    print("\n== train-bc ==")
    if (args.model / "model.json").exists():
        print(f"{args.model} exists; skipping (delete it to train again)")
    else:
        train_bc.run(
            train_bc.Args(data=args.data, out=args.model, bc=args.bc, tracking=args.tracking)
        )
    print("\n== evaluate ==")
    name = f"eval-{args.model.name}-test-000000-{args.test_episodes - 1:06d}"
    if (args.out / name / "evaluation.json").exists():
        print(f"{args.out / name} exists; skipping (delete it to evaluate again)")
        return
    evaluate.run(
        evaluate.Args(
            policy=str(args.model),
            split="test",
            episodes=args.test_episodes,
            out=args.out,
            run_name=name,
            tracking=args.tracking,
        )
    )
