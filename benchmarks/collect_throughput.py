"""Collection throughput: N expert episodes with MCAP recording on all cores.

Prints wall time (including worker start-up), episodes/s, and simulated seconds per wall second
per core; medians over repeats. The public reference flow reports 50 episodes in 87 s (parallel)
and 1.8 episodes/s with 12 jobs.

    uv run python benchmarks/collect_throughput.py [--episodes 50] [--repeats 3]
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import tyro

from tinylidar_gym.data.collect import CollectJob, collect
from tinylidar_gym.data.summary import summarize


@dataclass
class Args:
    episodes: int = 50
    """Episodes per repeat (default config: 1081 beams, 10 obstacles)."""
    repeats: int = 3
    """Repeats (each into a fresh directory); medians are reported."""
    workers: int = -1
    """Worker processes (-1: all cores)."""
    record: bool = True
    """Record MCAP (turn off to see the recording share)."""


def main() -> None:
    args = tyro.cli(Args)
    cores = os.cpu_count() or 1
    workers = args.workers if args.workers > 0 else cores
    walls, sim_s, success = [], [], []
    for rep in range(args.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            job = CollectJob(
                Path(tmp) / f"bench{rep}", "train", 0, args.episodes, record=args.record
            )
            t0 = time.perf_counter()
            collect(job, workers=workers, progress=False)
            walls.append(time.perf_counter() - t0)
            summary = summarize(job.run_dir, write_csv=False)
            sim_s.append(summary.metric_means["duration_s"] * summary.episodes)
            success.append(summary.success_rate)
    wall = statistics.median(walls)
    sim = statistics.median(sim_s)
    print(
        f"{args.episodes} expert episodes, record={args.record}, {workers} workers on {cores} cores"
    )
    print(f"wall time: {wall:.1f} s (runs: {', '.join(f'{w:.1f}' for w in walls)})")
    print(f"episodes/s: {args.episodes / wall:.2f}")
    print(f"simulated s per wall s per core: {sim / wall / workers:.1f}")
    print(f"expert success rate: {statistics.median(success):.1%}")


if __name__ == "__main__":
    main()
