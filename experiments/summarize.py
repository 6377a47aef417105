"""Summarise a run: success rate, failure reasons, metric means, aggregated_results.csv.

uv run experiment-runner summarize [RUN_DIR]
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import tyro

if TYPE_CHECKING:
    from tinylidar_gym.data.summary import RunSummary


@dataclass
class Args:
    run_dir: tyro.conf.Positional[Path | None] = None
    """Run directory (default: the most recent run under runs/)."""
    root: Path = Path("runs")
    """Where to look for the most recent run."""


def run(args: Args) -> RunSummary:
    """Print the summary of the run (and write its aggregated_results.csv)."""
    from tinylidar_gym.data.summary import latest_run, summarize

    run_dir = args.run_dir or latest_run(args.root)
    summary = summarize(run_dir)
    print(summary.format())
    print(f"per-episode table: {run_dir / 'aggregated_results.csv'}")
    return summary
