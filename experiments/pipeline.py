"""The whole flow on a small default: collect expert episodes, then summarise them.

    uv run experiment-runner pipeline

Each step is also its own subcommand (collect, summarize); this one chains them with small
defaults so a fresh checkout shows the flow end to end in about a minute.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from experiments import collect, summarize


@dataclass
class Args:
    out: Path = Path("runs")
    """Root directory of runs."""
    train_episodes: int = 20
    """Expert episodes to collect from the train split."""
    workers: int = -1
    """Parallel worker processes (-1: all cores)."""


def run(args: Args) -> None:
    print("== collect ==")
    run_dir = collect.run(
        collect.Args(
            episodes=args.train_episodes, split="train", out=args.out, workers=args.workers
        )
    )
    print("\n== summarize ==")
    summarize.run(summarize.Args(run_dir=run_dir))
