"""Command-line start-up: `experiment-runner --help`, `collect --help`, `train-bc --help` wall
times in fresh processes (medians), and N recorded expert episodes from the command line.

    uv run python benchmarks/cli_startup.py [--repeats 5] [--episodes 50]

Runs the installed entry point (the venv's `experiment-runner`, not `uv run`, whose own start-up
is not the CLI's). The collection is one `experiment-runner collect --episodes N` into a fresh
directory: start-up, the episodes on every core, the manifest and the summary.

Python's bytecode cache is on for the measured processes (in a temporary PYTHONPYCACHEPREFIX,
warmed by one uncounted run), as on a user's machine: with PYTHONDONTWRITEBYTECODE=1 every
import compiles its source again, which adds seconds to every start.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import tyro

HELP_COMMANDS: tuple[tuple[str, ...], ...] = (
    ("--help",),
    ("collect", "--help"),
    ("train-bc", "--help"),
)


@dataclass
class Args:
    repeats: int = 5
    """Fresh processes per help command; the median is reported."""
    episodes: int = 50
    """Recorded expert episodes collected from the command line (0: skip)."""
    workers: int = -1
    """collect --workers (-1: all cores)."""


def entry_point() -> str:
    """The installed `experiment-runner` of this interpreter's environment."""
    path = Path(sys.executable).parent / "experiment-runner"
    found = path if path.exists() else shutil.which("experiment-runner")
    if found is None:
        raise SystemExit("experiment-runner is not installed here; run `uv sync` first.")
    return str(found)


def wall(argv: list[str], env: dict[str, str]) -> float:
    """Seconds one fresh process takes to run ``argv`` (its output discarded)."""
    t0 = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    return time.perf_counter() - t0


def main(args: Args) -> None:
    exe = entry_point()
    with tempfile.TemporaryDirectory() as cache:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = cache
        measure(exe, args, env)


def measure(exe: str, args: Args, env: dict[str, str]) -> None:
    """Print the help commands' medians and the collection's wall time."""
    for command in HELP_COMMANDS:
        wall([exe, *command], env)  # warms the bytecode cache
        times = [wall([exe, *command], env) for _ in range(args.repeats)]
        runs = ", ".join(f"{t:.2f}" for t in times)
        median = statistics.median(times)
        print(f"experiment-runner {' '.join(command):<16} {median:5.2f} s  ({runs})")
    if args.episodes > 0:
        with tempfile.TemporaryDirectory() as tmp:
            argv = [exe, "collect", "--episodes", str(args.episodes), "--out", tmp,
                    "--workers", str(args.workers)]  # fmt: skip
            seconds = wall(argv, env)
        print(f"experiment-runner collect --episodes {args.episodes}: {seconds:.1f} s wall")


if __name__ == "__main__":
    main(tyro.cli(Args))
