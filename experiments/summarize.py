"""Summarise a run: success rate, failure reasons, metric means, aggregated_results.csv.

uv run experiment-runner summarize [RUN_DIR]
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import tyro

from tinylidar_gym.data.summary import RunSummary, latest_run, summarize


@dataclass
class Args:
    run_dir: tyro.conf.Positional[Path | None] = None
    """Run directory (default: the most recent run under runs/)."""
    root: Path = Path("runs")
    """Where to look for the most recent run."""


def run(args: Args) -> RunSummary:
    run_dir = args.run_dir or latest_run(args.root)
    summary = summarize(run_dir)
    print(summary.format())
    print(f"per-episode table: {run_dir / 'aggregated_results.csv'}")
    return summary
