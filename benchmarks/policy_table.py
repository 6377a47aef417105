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
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any

import tyro

from experiments import train_rl as train_rl_cli
from tinylidar_gym.data.relabel import PseudoPositionConfig
from trainers.configs import AugmentConfig, BCConfig, DAggerConfig, RLConfig

README_START = "<!-- policy-table:start -->"
README_END = "<!-- policy-table:end -->"
TRAIN_RUN = "expert-train-000000-000299"
NO_TRACKING = ["--tracking.tracker", "none"]


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


# --------------------------------------------------------------------------- presets


def bc_preset(threads: int) -> BCConfig:
    """The README default BC row."""
    return BCConfig(threads=threads)


def bc_augmented_preset(threads: int) -> BCConfig:
    """BC with every scan augmentation on (noise, dropout, range clipping, pseudo-positions)."""
    augment = AugmentConfig(
        scan_noise_std_m=0.02,
        beam_dropout_prob=0.01,
        range_clip_prob=0.1,
        pseudo_positions=PseudoPositionConfig(per_step=1),
    )
    return BCConfig(augment=augment, threads=threads)


def dagger_preset(threads: int) -> DAggerConfig:
    """The DAgger row: DAggerConfig's defaults."""
    return DAggerConfig(threads=threads)


def ppo_preset(init: Path | None) -> RLConfig:
    """PPO from a model (fine-tuning) or from scratch (``init`` None)."""
    return RLConfig(init=Path("none") if init is None else init)


def config_flags(prefix: str, cfg: Any, default: Any) -> list[str]:
    """The `experiment-runner` flags that turn ``default`` into ``cfg`` (nested configs as
    ``--prefix.section.field``): a preset written as a config becomes its command line."""
    flags: list[str] = []
    for f in fields(cfg):
        value, base = getattr(cfg, f.name), getattr(default, f.name)
        name = f"{prefix}.{f.name}".replace("_", "-")
        if is_dataclass(value):
            flags += config_flags(f"{prefix}.{f.name}", value, base)
        elif value == base:
            continue
        elif isinstance(value, bool):
            head, _, last = name.rpartition(".")
            flags.append(f"--{name}" if value else f"--{head}.no-{last}")
        elif isinstance(value, tuple | list):
            flags += [f"--{name}", *map(str, value)]
        else:
            flags += [f"--{name}", str(value)]
    return flags


# --------------------------------------------------------------------------- rows


@dataclass
class Steps:
    """The commands rows share (each runs once, whichever row needs it first)."""

    collect: Step
    extract: Step
    train_bc: Step
    hard_negatives: list[Step]


def shared_steps(args: Args) -> Steps:
    runs, data, models = args.runs, args.data, args.models
    bc = models / "bc"
    hn_run = runs / "eval-bc-train-001000-001299"
    data_hn = Path(f"{data}-hn")
    hn_eval = [
        "evaluate", "--policy", str(bc), "--split", "train", "--first-episode", "1000",
        "--episodes", "300", "--out", str(runs), "--run-name", hn_run.name,
        "--no-compare-expert", *NO_TRACKING,
    ]  # fmt: skip
    hn_extract = ["extract", str(runs / TRAIN_RUN), "--out", str(data_hn),
                  "--hard-negatives.runs", str(hn_run)]  # fmt: skip
    return Steps(
        collect=Step(["collect", "--episodes", "300", "--out", str(runs)], runs / TRAIN_RUN),
        extract=Step(["extract", str(runs / TRAIN_RUN), "--out", str(data)], data / "stats.json"),
        train_bc=train_bc_step(data, bc, bc_preset(args.threads)),
        hard_negatives=[
            Step(hn_eval, hn_run / "evaluation.json"),
            Step(hn_extract, data_hn / "stats.json"),
        ],
    )


def train_bc_step(data: Path, out: Path, cfg: BCConfig) -> Step:
    argv = ["train-bc", "--data", str(data), "--out", str(out)]
    argv += [*config_flags("bc", cfg, BCConfig()), *NO_TRACKING]
    return Step(argv, out / "model.json")


def evaluate_step(row: Row, args: Args) -> Step:
    run = args.runs / f"table-{row.name}-test"
    policy = "expert" if row.model is None else str(row.model)
    argv = [
        "evaluate", "--policy", policy, "--split", "test", "--episodes", str(args.test_episodes),
        "--out", str(args.runs), "--run-name", run.name, "--no-compare-expert", *NO_TRACKING,
    ]  # fmt: skip
    return Step(argv, run / "evaluation.json")


def rows(args: Args) -> dict[str, Row]:
    """Every row: its label, the commands that make its model, then its evaluation."""
    models, s = args.models, shared_steps(args)
    data_hn = Path(f"{args.data}-hn")
    rl_default = train_rl_cli.Args().rl

    def train_rl(name: str, init: Path | None) -> Step:
        flags = config_flags("rl", ppo_preset(init), rl_default)
        out = models / name
        return Step(["train-rl", *flags, "--out", str(out), *NO_TRACKING], out / "model.json")

    dagger_flags = config_flags("dagger", dagger_preset(args.threads), DAggerConfig())
    dagger = Step(["train-dagger", "--out", str(models / "dagger"), *dagger_flags],
                  models / "dagger" / "model.json")  # fmt: skip
    bc_data = [s.collect, s.extract]
    table = {
        "expert": Row("expert", "Expert (privileged planner)"),
        "bc": Row("bc", "BC (README default)", [*bc_data, s.train_bc], models / "bc"),
        "bc-aug": Row(
            "bc-aug",
            "BC + augmentation",
            [
                *bc_data,
                train_bc_step(args.data, models / "bc-aug", bc_augmented_preset(args.threads)),
            ],
            models / "bc-aug",
        ),
        "bc-hn": Row(
            "bc-hn",
            "BC + hard negatives",
            [
                *bc_data,
                s.train_bc,
                *s.hard_negatives,
                train_bc_step(data_hn, models / "bc-hn", bc_preset(args.threads)),
            ],
            models / "bc-hn",
        ),
        "dagger": Row("dagger", "DAgger", [dagger], models / "dagger"),
        "ppo-bc": Row(
            "ppo-bc",
            "PPO from BC (time: fine-tuning only)",
            [*bc_data, s.train_bc, train_rl("ppo-bc", models / "bc")],
            models / "ppo-bc",
        ),
        "ppo-scratch": Row(
            "ppo-scratch",
            "PPO from scratch",
            [train_rl("ppo-scratch", None)],
            models / "ppo-scratch",
        ),
    }
    for row in table.values():
        row.steps.append(evaluate_step(row, args))
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
