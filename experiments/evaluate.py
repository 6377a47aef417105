"""Evaluate a trained model (or the expert) on any course, expert side by side.

    uv run experiment-runner evaluate --policy models/bc --split test --episodes 100
    uv run experiment-runner evaluate --policy expert --split test --episodes 100
    uv run experiment-runner evaluate --policy models/bc --env.course.kind procedural
    uv run experiment-runner evaluate --policy models/bc --env.course.kind map \\
        --env.course.map-yaml maps/levine.yaml --env.obstacles.count 0
    uv run experiment-runner evaluate --policy models/bc --backend ray   # on a Ray cluster

A model drives in the env it was trained for; `--env.course.*`, `--env.obstacles.*` and the
episode rules (`--env.max-episode-time-s`, `--env.laps`, `--env.n-checkpoints`) change it. Any
other `--env.*` flag is part of the model's contract (beams, field of view, range, mount, action
mapping, control rate, the car) and is refused if it differs from the model's. A flag given with
its default value leaves the model's value. The expert drives the `--env` asked for.

Test seeds (2,000,000 + k) are never drawn by collection for training. Every episode is recorded
(MCAP, config.yaml, result.json) under runs/<run-name>/, with evaluation.json beside them.

The figures go to the experiment trackers: a model's into the runs that trained it (the run ids
in its model.json; `--tracking.tracker none` to skip), the expert's into a new run named after
the evaluation (`--tracking.tracker wandb|mlflow|both|none`, wandb offline by default).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from experiments.errors import check_run_name
from tinylidar_gym.sim.config import ConfigError, EnvConfig
from trainers.tracking import TrackingConfig


@dataclass
class Args:
    policy: str = "models/bc"
    """A model directory (model.json + model.safetensors) or 'expert'."""
    split: Literal["test", "val", "train"] = "test"
    """Seed range to evaluate on."""
    episodes: int = 100
    """Number of seeds (the first N of the split)."""
    first_episode: int = 0
    """Index of the first seed within the split."""
    num_envs: int = 16
    """Cars simulated at once (vector env)."""
    out: Path = Path("runs")
    """Root directory of runs."""
    run_name: str | None = None
    """Run directory name (default: eval-<policy name>-<split>-<first>-<last>[-env-<hash>])."""
    compare_expert: bool = True
    """Also evaluate the expert on the same seeds (when --policy is a model)."""
    runtime: Literal["torch", "onnx"] = "torch"
    """Run the model with torch or with onnxruntime (model.onnx)."""
    record: bool = True
    """Record every episode to MCAP."""
    env: EnvConfig = field(default_factory=EnvConfig)
    """The env to drive in. With a model: only the flags given that differ from their default
    change the model's env, and only the course, obstacles and episode rules may."""
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    """Experiment tracking: a model's figures go into the runs that trained it (every tracker its
    model.json records; 'none' skips), the expert's into a new run in the trackers asked for."""
    metrics: Path | None = None
    """Also write the headline figures (of the model, or the expert) to this JSON file."""
    backend: Literal["local", "ray"] = "local"
    """Where episodes run: this process (vector env), or chunks of seeds as Ray tasks."""
    workers: int = -1
    """Ray tasks at once with --backend ray (-1: the cluster's CPUs), >= --num-envs seeds each."""


def _print(name: str, r: dict[str, Any]) -> None:
    def fmt(v: float | None, spec: str) -> str:
        return "-" if v is None else format(v, spec)

    print(
        f"{name:<12} success {r['success_rate']:6.1%}  checkpoints {r['checkpoint_pass_rate']:6.1%}"
        f"  dist before collision {fmt(r['mean_distance_before_collision_m'], '6.1f')} m"
        f"  mean dist {r['mean_distance_m']:6.1f} m  speed {r['mean_speed_mps']:4.2f} m/s"
        f"  lap {fmt(r['mean_lap_time_s'], '5.2f')} s  {r['reasons']}"
    )


def run(args: Args) -> dict[str, Any]:
    """Evaluate, print one line per policy, write --metrics."""
    from tinylidar_gym.data.atomic import atomic_write_json
    from tinylidar_gym.data.seeds import split_seeds
    from trainers.evaluation import EvalSettings, evaluate_expert, evaluate_model
    from trainers.model_env import changes_tag, env_changes

    check_run_name(args.run_name)
    if args.episodes < 1:
        raise ConfigError(f"--episodes {args.episodes} is invalid (give an integer >= 1)")
    if args.backend == "ray":
        from tinylidar_gym.data.ray_backend import import_ray

        import_ray()  # a missing extra fails before anything runs
    seeds = split_seeds(args.split, args.first_episode, args.episodes)
    changes = env_changes(args.env)
    tag = "expert" if args.policy == "expert" else Path(args.policy).name
    last = args.first_episode + args.episodes - 1
    default_name = "-".join(
        p for p in (f"eval-{tag}-{args.split}-{args.first_episode:06d}-{last:06d}",
                    changes_tag(changes)) if p
    )  # fmt: skip
    name = args.run_name or default_name
    how = EvalSettings(args.split, args.num_envs, args.record, args.backend, args.workers,
                       args.tracking)  # fmt: skip
    if args.policy == "expert":
        tracking = replace(args.tracking, run_name=args.tracking.run_name or name)
        report = evaluate_expert(seeds, args.out / name, args.env, replace(how, tracking=tracking))
        reports = {"expert": report}
    else:
        expert_dir = args.out / f"{name}-expert" if args.compare_expert else None
        reports = evaluate_model(
            Path(args.policy), seeds, args.out / name, how, changes, args.runtime, expert_dir
        )
    print(f"\n{args.episodes} {args.split} seeds {seeds[0]}..{seeds[-1]}")
    for key, report in reports.items():
        _print(key, report)
    if args.metrics is not None:
        main = reports.get("model", reports.get("expert"))
        atomic_write_json(args.metrics, {k: v for k, v in main.items() if k != "failed_seeds"})
    return reports
