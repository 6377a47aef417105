"""Extract successful train episodes into a dataset: scans paired with commands, stats.json.

    uv run experiment-runner extract runs/expert-train-000000-000299 --out data

Hard negatives: `--hard-negatives.runs RUN [RUN ...]` also rebuilds the collisions of failed
episodes in those runs (collection or evaluation runs on train/val seeds) from config.yaml and
simulation.mcap, relabels the last `--hard-negatives.window-s` seconds with the expert, and adds
them with `--hard-negatives.weight` (a sampling weight in training).

Pairing rule: each scan is labelled with the latest command at or before its timestamp (the
command in effect); scans before the first command or with a stale command are skipped.
Only successful episodes of the train split by default; test seeds never reach a dataset.
Logs from a real car (ROS 2 bags) go through `experiment-runner import-bag` into the same format.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import tyro

from tinylidar_gym.data.extract import ExtractConfig
from tinylidar_gym.data.relabel import HardNegativeConfig


@dataclass
class Args:
    run_dirs: tyro.conf.Positional[list[Path]]
    """Collection run directories to read."""
    out: Path = Path("data")
    """Dataset directory to create (never overwritten unless --overwrite)."""
    overwrite: bool = False
    """Replace an existing dataset directory."""
    extract: ExtractConfig = field(default_factory=ExtractConfig)
    """Which episodes to use and the pairing tolerance."""
    hard_negatives: HardNegativeConfig = field(default_factory=HardNegativeConfig)
    """Failed episodes to rebuild and relabel with the expert (off by default)."""


def run(args: Args) -> Path:
    """Extract the dataset and print its counts and skip reasons."""
    from tinylidar_gym.data.extract import extract

    stats = extract(
        args.run_dirs,
        args.out,
        args.extract,
        overwrite=args.overwrite,
        hard_negatives=args.hard_negatives,
    )
    c = stats["counts"]
    print(
        f"{args.out}: {stats['n_samples']:,} samples from {c['episodes_used']} episodes "
        f"({c['episodes_skipped']} skipped of {c['episodes_found']}); "
        f"{stats['n_beams']} beams; hash {stats['content_hash']}"
    )
    if args.hard_negatives.runs:
        print(
            f"  hard negatives: {c['hard_negative_samples']:,} relabelled samples (weight "
            f"{args.hard_negatives.weight:g}) from {c['hard_negative_episodes_used']} collisions "
            f"in {c['hard_negative_episodes_found']} episodes"
        )
    reasons: dict[str, int] = {}
    for skipped in stats["skipped_episodes"]:
        reasons[skipped["skipped"]] = reasons.get(skipped["skipped"], 0) + 1
    for reason, count in sorted(reasons.items(), key=lambda kv: -kv[1]):
        print(f"  skipped {count:>5}: {reason}")
    return args.out
