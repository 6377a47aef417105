"""Write a static HTML report of a run: PNG plots and a table linking every episode's MCAP.

    uv run experiment-runner report runs/eval-pipeline-test-000000-000019

RUN_DIR is a collection or evaluation run, a model directory, or a folder holding several (the
working directory of `experiment-runner pipeline`: each run gets a section, each model its
learning curves). Open <out>/index.html in a browser; no server is needed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import tyro

if TYPE_CHECKING:
    from tinylidar_gym.report import ReportResult


@dataclass
class Args:
    run_dir: tyro.conf.Positional[Path]
    """Run, model or pipeline directory to report on."""
    out: Path | None = None
    """Report folder to create (default: RUN_DIR/report)."""
    max_trajectories: int = 30
    """Most episodes drawn on the trajectory map (failures first); each costs one MCAP read."""
    overwrite: bool = False
    """Replace an existing report at --out (a folder that is not a report is never replaced)."""
    progress: bool = True
    """Show progress bars while reading recordings."""


def run(args: Args) -> ReportResult:
    """Build the report and print where it is."""
    from tinylidar_gym.report import build_report

    result = build_report(
        args.run_dir, args.out, args.max_trajectories, args.overwrite, args.progress
    )
    print(
        f"{result.index}: {result.episodes} episodes, {len(result.images)} figures "
        f"in {result.seconds:.1f} s"
    )
    return result
