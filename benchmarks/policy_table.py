"""The policy comparison table: every way of training Tiny Lidar Net, on the same test seeds.

    uv run python benchmarks/policy_table.py                  # train what is missing, evaluate
    uv run python benchmarks/policy_table.py --dry-run        # only print the commands
    uv run python benchmarks/policy_table.py --update-readme  # also rewrite README's table

Each row is made by the `experiment-runner` commands printed beside it, run here one after the
other; a step whose output already exists is skipped, so the script resumes after an
interruption and a row can be redone by deleting its model directory. All rows are evaluated on
the same held-out test seeds (2,000,000 + k), which no training step ever sees.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tyro

README_START = "<!-- policy-table:start -->"
README_END = "<!-- policy-table:end -->"
TRAIN_RUN = "expert-train-000000-000299"


@dataclass
class Args:
    runs: Path = Path("runs")
    """Root directory of collection and evaluation runs."""
    data: Path = Path("data")
    """The BC default dataset (the README flow's)."""
    models: Path = Path("models")
    """Where the models are written (one directory per row)."""
    test_episodes: int = 100
    """Held-out test seeds every row is evaluated on."""
    threads: int = 1
    """torch CPU threads per training command (1 stays fast when other work shares the CPU;
    0: all cores)."""
    rows: tuple[str, ...] = ("expert", "bc", "bc-aug", "bc-hn", "dagger", "ppo-bc", "ppo-scratch")
    """Rows to make, in order."""
    dry_run: bool = False
    """Print the commands and stop."""
    update_readme: bool = False
    """Replace the table between the policy-table markers in README.md."""
    out: Path = Path("benchmarks/policy_table.md")
    """Where the table is written."""


@dataclass
class Step:
    argv: list[str]
    """experiment-runner arguments."""
    output: Path
    """Exists once the step has run."""


@dataclass
class Row:
    name: str
    label: str
    steps: list[Step] = field(default_factory=list)
    model: Path | None = None


def rows(args: Args) -> dict[str, Row]:
    runs, data, models = args.runs, args.data, args.models
    none = ["--tracking.tracker", "none"]
    threads = ["--bc.threads", str(args.threads)]
    collect = Step(["collect", "--episodes", "300", "--out", str(runs)], runs / TRAIN_RUN)
    extract = Step(["extract", str(runs / TRAIN_RUN), "--out", str(data)], data / "stats.json")
    bc = models / "bc"
    train_bc = Step(
        ["train-bc", "--data", str(data), "--out", str(bc), *threads, *none], bc / "model.json"
    )
    hn_run = runs / "eval-bc-train-001000-001299"
    data_hn = Path(f"{data}-hn")
    aug = [
        "--bc.augment.scan-noise-std-m", "0.02",
        "--bc.augment.beam-dropout-prob", "0.01",
        "--bc.augment.range-clip-prob", "0.1",
        "--bc.augment.pseudo-positions.per-step", "1",
    ]  # fmt: skip
    table = {
        "expert": Row("expert", "Expert (privileged planner)"),
        "bc": Row("bc", "BC (README default)", [collect, extract, train_bc], bc),
        "bc-aug": Row(
            "bc-aug",
            "BC + augmentation",
            [
                collect,
                extract,
                Step(
                    [
                        "train-bc",
                        "--data",
                        str(data),
                        "--out",
                        str(models / "bc-aug"),
                        *aug,
                        *threads,
                        *none,
                    ],
                    models / "bc-aug" / "model.json",
                ),
            ],
            models / "bc-aug",
        ),
        "bc-hn": Row(
            "bc-hn",
            "BC + hard negatives",
            [
                collect,
                extract,
                train_bc,
                Step(
                    [
                        "evaluate",
                        "--policy",
                        str(bc),
                        "--split",
                        "train",
                        "--first-episode",
                        "1000",
                        "--episodes",
                        "300",
                        "--out",
                        str(runs),
                        "--run-name",
                        hn_run.name,
                        "--no-compare-expert",
                        *none,
                    ],
                    hn_run / "evaluation.json",
                ),  # fmt: skip
                Step(
                    [
                        "extract",
                        str(runs / TRAIN_RUN),
                        "--out",
                        str(data_hn),
                        "--hard-negatives.runs",
                        str(hn_run),
                    ],
                    data_hn / "stats.json",
                ),  # fmt: skip
                Step(
                    [
                        "train-bc",
                        "--data",
                        str(data_hn),
                        "--out",
                        str(models / "bc-hn"),
                        *threads,
                        *none,
                    ],
                    models / "bc-hn" / "model.json",
                ),
            ],
            models / "bc-hn",
        ),
        "dagger": Row(
            "dagger",
            "DAgger",
            [
                Step(
                    [
                        "train-dagger",
                        "--out",
                        str(models / "dagger"),
                        "--dagger.threads",
                        str(args.threads),
                    ],
                    models / "dagger" / "model.json",
                )
            ],
            models / "dagger",
        ),
        "ppo-bc": Row(
            "ppo-bc",
            "PPO from BC (time: fine-tuning only)",
            [
                collect,
                extract,
                train_bc,
                Step(
                    ["train-rl", "--rl.init", str(bc), "--out", str(models / "ppo-bc"), *none],
                    models / "ppo-bc" / "model.json",
                ),
            ],
            models / "ppo-bc",
        ),
        "ppo-scratch": Row(
            "ppo-scratch",
            "PPO from scratch",
            [
                Step(
                    ["train-rl", "--rl.init", "none", "--out", str(models / "ppo-scratch"), *none],
                    models / "ppo-scratch" / "model.json",
                )
            ],
            models / "ppo-scratch",
        ),
    }
    for row in table.values():
        run = runs / f"table-{row.name}-test"
        policy = "expert" if row.model is None else str(row.model)
        row.steps.append(
            Step(
                [
                    "evaluate",
                    "--policy",
                    policy,
                    "--split",
                    "test",
                    "--episodes",
                    str(args.test_episodes),
                    "--out",
                    str(runs),
                    "--run-name",
                    run.name,
                    "--no-compare-expert",
                    *none,
                ],
                run / "evaluation.json",
            )  # fmt: skip
        )
    return table


def command(step: Step) -> str:
    return "uv run experiment-runner " + shlex.join(step.argv)


def run_step(step: Step, log: dict[str, float]) -> None:
    if step.output.exists():
        return
    print(f"\n$ {command(step)}", flush=True)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "experiments.experiment_runner", *step.argv], check=True)
    log[str(step.output)] = time.perf_counter() - t0


def _training(model: Path) -> dict[str, Any]:
    meta = json.loads((model / "model.json").read_text())["metadata"]
    return meta.get("training", {})


def figures(row: Row, args: Args) -> dict[str, Any]:
    ev = json.loads(row.steps[-1].output.read_text())
    report = ev.get("report", ev)
    out = {
        "success": report["success_rate"],
        "checkpoints": report["checkpoint_pass_rate"],
        "distance": report["mean_distance_before_collision_m"],
        "speed": report["mean_speed_mps"],
        "lap": report["mean_lap_time_s"],
        "labels": None,
        "minutes": None,
    }
    if row.model is not None:
        training = _training(row.model)
        out["labels"] = training.get("expert_labels")
        seconds = training.get("wall_seconds", training.get("train_seconds"))
        out["minutes"] = None if seconds is None else seconds / 60
    return out


def markdown(table: dict[str, Row], args: Args) -> str:
    def fmt(v: Any, spec: str) -> str:
        return "–" if v is None else format(v, spec)

    lines = [
        "| Policy | Success | Checkpoints passed | Distance before collision (m) | Speed (m/s) "
        "| Lap (s) | Expert labels | Training (min) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in args.rows:
        row = table[name]
        f = figures(row, args)
        lines.append(
            f"| {row.label} | {f['success']:.0%} | {f['checkpoints']:.1%} | "
            f"{fmt(f['distance'], '.1f')} | {fmt(f['speed'], '.2f')} | {fmt(f['lap'], '.2f')} | "
            f"{fmt(f['labels'], ',')} | {fmt(f['minutes'], '.1f')} |"
        )
    lines.append("")
    lines.append(f"Same {args.test_episodes} test seeds for every row. Commands, per row:")
    lines.append("")
    seen: set[str] = set()
    for name in args.rows:
        cmds = [command(s) for s in table[name].steps if command(s) not in seen]
        seen.update(cmds)
        lines.append(f"- {table[name].label}:")
        lines.extend(f"  - `{c}`" for c in cmds)
    return "\n".join(lines) + "\n"


def update_readme(text: str, readme: Path = Path("README.md")) -> None:
    doc = readme.read_text()
    if README_START not in doc or README_END not in doc:
        raise SystemExit(f"{readme} has no {README_START} ... {README_END} markers.")
    head, rest = doc.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    tmp = readme.with_suffix(".md.tmp")
    tmp.write_text(f"{head}{README_START}\n{text}{README_END}{tail}")
    tmp.replace(readme)


def main(args: Args) -> None:
    table = rows(args)
    unknown = [r for r in args.rows if r not in table]
    if unknown:
        raise SystemExit(f"unknown rows {unknown}; choose from {list(table)}.")
    if args.dry_run:
        for name in args.rows:
            print(f"# {table[name].label}")
            for step in table[name].steps:
                print(command(step))
        return
    timings_file = args.models / "policy_table_timings.json"
    timings = json.loads(timings_file.read_text()) if timings_file.exists() else {}
    for name in args.rows:
        for step in table[name].steps:
            run_step(step, timings)
            timings_file.parent.mkdir(parents=True, exist_ok=True)
            timings_file.write_text(json.dumps(timings, indent=2))
    text = markdown(table, args)
    args.out.write_text(text)
    print("\n" + text)
    if args.update_readme:
        update_readme(text)


if __name__ == "__main__":
    main(tyro.cli(Args))
