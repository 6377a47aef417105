"""Extract successful train episodes into a dataset: scans paired with commands, stats.json.

    uv run experiment-runner extract runs/expert-train-000000-000299 --out data

Pairing rule: each scan is labelled with the latest command at or before its timestamp (the
command in effect); scans before the first command or with a stale command are skipped.
Only successful episodes of the train split by default; test seeds never reach a dataset.
Logs from a real car (ROS 2 bags) go through `experiment-runner import-bag` into the same format.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import tyro

from tinylidar_gym.data.extract import ExtractConfig, extract


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


def run(args: Args) -> Path:
    stats = extract(args.run_dirs, args.out, args.extract, overwrite=args.overwrite)
    c = stats["counts"]
    print(
        f"{args.out}: {stats['n_samples']:,} samples from {c['episodes_used']} episodes "
        f"({c['episodes_skipped']} skipped of {c['episodes_found']}); "
        f"{stats['n_beams']} beams; hash {stats['content_hash']}"
    )
    reasons: dict[str, int] = {}
    for skipped in stats["skipped_episodes"]:
        reasons[skipped["skipped"]] = reasons.get(skipped["skipped"], 0) + 1
    for reason, count in sorted(reasons.items(), key=lambda kv: -kv[1]):
        print(f"  skipped {count:>5}: {reason}")
    return args.out
