"""Collect expert episodes in parallel: one directory per seed with MCAP, config and result.

    uv run experiment-runner collect --episodes 50 --split train

Seed ranges per split (disjoint; the collector assigns them, episode k of a split has seed
first + k): train 0-999,999; val 1,000,000-1,999,999; test 2,000,000-2,999,999.
Re-running the same command resumes the run (finished episodes are skipped).
`--backend ray` runs the episodes on a Ray cluster (optional extra: uv sync --extra ray).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from experiments.errors import CommandFailed, check_run_name
from tinylidar_gym.data.seeds import SPLIT_HELP
from tinylidar_gym.experts.expert import ExpertConfig
from tinylidar_gym.sim.config import EnvConfig


@dataclass
class Args:
    episodes: int = 20
    """Number of episodes to collect."""
    split: Literal["train", "val", "test"] = "train"
    """Seed range to draw from (train 0-999,999; val 1,000,000-...; test 2,000,000-...)."""
    first_episode: int = 0
    """Index of the first episode within the split (seed = split start + index)."""
    out: Path = Path("runs")
    """Root directory of runs."""
    run_name: str | None = None
    """Run directory name under --out (default: expert-<split>-<first>-<last>)."""
    workers: int = -1
    """Episodes at once (-1: all cores of this machine, or of the Ray cluster)."""
    backend: Literal["loky", "multiprocessing", "threading", "ray"] = "loky"
    """Where episodes run: local processes (loky), or Ray tasks on the cluster in RAY_ADDRESS."""
    record: bool = True
    """Record each episode to simulation.mcap."""
    env: EnvConfig = field(default_factory=EnvConfig)
    """Environment configuration."""
    expert: ExpertConfig = field(default_factory=ExpertConfig)
    """Expert driver configuration."""


def run(args: Args) -> Path:
    """Collect the episodes asked for; raises :class:`CommandFailed` if any seed failed with an
    error (not a driving failure) or the run holds no episode."""
    from tinylidar_gym.data.collect import CollectJob, collect, failed_with_error
    from tinylidar_gym.data.summary import summarize

    last = args.first_episode + args.episodes - 1
    default = f"expert-{args.split}-{args.first_episode:06d}-{last:06d}"
    name = check_run_name(args.run_name) or default
    job = CollectJob(
        run_dir=args.out / name,
        split=args.split,
        first_episode=args.first_episode,
        episodes=args.episodes,
        env=args.env,
        expert=args.expert,
        record=args.record,
    )
    print(f"collecting {args.episodes} {args.split} episodes into {job.run_dir} ({SPLIT_HELP})")
    manifest = collect(job, workers=args.workers, backend=args.backend)
    failed = failed_with_error(manifest)
    session = manifest["timings"]["sessions"][-1]
    print(
        f"ran {session['episodes_run']} episodes in {session['wall_s']:.1f} s "
        f"on {session['workers']} workers"
    )
    where = job.run_dir / "manifest.json"
    if failed:
        print(f"{len(failed)} episodes failed (errors in {where}): {failed}")
    if not manifest["seeds"]:
        raise CommandFailed(f"no episode ran in {job.run_dir} (ask for --episodes >= 1)")
    summary = summarize(job.run_dir)
    print(
        f"{job.run_dir}: {summary.episodes} episodes, success rate {summary.success_rate:.1%}; "
        f"details: experiment-runner summarize {job.run_dir}"
    )
    if failed:
        raise CommandFailed(
            f"{len(failed)} of {len(manifest['seeds'])} episodes failed with an error (seeds "
            f"{failed[:5]}{'...' if len(failed) > 5 else ''}; the errors are in {where}; "
            "re-run the same command to retry them)"
        )
    return job.run_dir
