"""Evaluate a trained model (or the expert) on held-out seeds, expert side by side.

    uv run experiment-runner evaluate --policy models/bc --split test --episodes 100
    uv run experiment-runner evaluate --policy expert --split test --episodes 100
    uv run experiment-runner evaluate --policy models/bc --backend ray   # on a Ray cluster

Test seeds (2,000,000 + k) are never drawn by collection for training. Every episode is recorded
(MCAP, config.yaml, result.json) under runs/<run-name>/, with evaluation.json beside them.

The figures go to the experiment trackers: a model's into the runs that trained it (the run ids
in its model.json; `--tracking.tracker none` to skip), the expert's into a new run named after
the evaluation (`--tracking.tracker wandb|mlflow|both|none`, wandb offline by default).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from experiments.errors import check_run_name
from tinylidar_gym.data.atomic import atomic_write_json
from tinylidar_gym.data.evaluation import ExpertDriver, PolicyFactory, evaluate
from tinylidar_gym.data.seeds import split_seeds
from tinylidar_gym.sim.config import EnvConfig, config_from_dict
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
    """Run directory name (default: eval-<policy name>-<split>-<first>-<last>)."""
    compare_expert: bool = True
    """Also evaluate the expert on the same seeds (when --policy is a model)."""
    runtime: Literal["torch", "onnx"] = "torch"
    """Run the model with torch or with onnxruntime (model.onnx)."""
    record: bool = True
    """Record every episode to MCAP."""
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    """Experiment tracking: a model's figures go into the runs that trained it (every tracker its
    model.json records; 'none' skips), the expert's into a new run in the trackers asked for."""
    wandb_mode: Literal["offline", "online", "disabled"] | None = None
    """Older spelling of --tracking.wandb-mode; overrides it when given."""
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


def _figures(report: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """The numeric figures of an evaluation report as ``eval/<split>/<prefix><name>``."""
    split = report["split"]
    return {f"eval/{split}/{prefix}{k}": v for k, v in report.items() if isinstance(v, int | float)}


def _log_to_model_run(
    model_dir: Path,
    report: dict[str, Any],
    tracking: TrackingConfig | str,
    expert: dict[str, Any] | None = None,
) -> None:
    """Evaluation figures (and the expert's on the same seeds, as ``eval/<split>/expert/...``)
    go into the tracker runs that trained the model."""
    import json

    from trainers.tracking import tracker_for_model

    meta = json.loads((model_dir / "model.json").read_text())
    tracker = tracker_for_model(model_dir, meta, tracking)  # type: ignore[arg-type]
    figures = _figures(report)
    if expert is not None:
        figures.update(_figures(expert, "expert/"))
    tracker.summary(figures)
    tracker.finish()


def _log_expert_run(
    run_dir: Path, report: dict[str, Any], tracking: TrackingConfig, args: Args, env: EnvConfig
) -> None:
    """The expert's evaluation figures go into a new run (named after the evaluation)."""
    from tinylidar_gym.data.provenance import git_commit
    from trainers.tracking import make_tracker

    run_config = {
        "evaluate": {
            "policy": "expert",
            "split": args.split,
            "episodes": args.episodes,
            "first_episode": args.first_episode,
            "num_envs": args.num_envs,
        },
        "env": asdict(env),
        "git_commit": git_commit(),
    }
    tracker = make_tracker(tracking, run_config, run_dir)
    tracker.summary(_figures(report))
    tracker.finish()


def _evaluate(
    args: Args,
    make_policy: PolicyFactory,
    seeds: list[int],
    run_dir: Path,
    env_cfg: EnvConfig,
    driver: str,
) -> dict[str, Any]:
    """One evaluation on the backend asked for (same episode directories and evaluation.json)."""
    if args.backend == "ray":
        from tinylidar_gym.data.evaluation import evaluate_on_ray

        return evaluate_on_ray(
            make_policy, seeds, run_dir, env_cfg, args.split, driver, args.num_envs, args.record,
            workers=args.workers,
        )  # fmt: skip
    return evaluate(
        make_policy(), seeds, run_dir, env_cfg, args.split, driver, args.num_envs, args.record
    )


def run(args: Args) -> dict[str, Any]:
    if args.backend == "ray":
        from tinylidar_gym.data.ray_backend import import_ray

        import_ray()  # a missing extra fails before anything runs
    check_run_name(args.run_name)
    seeds = split_seeds(args.split, args.first_episode, args.episodes)
    last = args.first_episode + args.episodes - 1
    reports: dict[str, Any] = {}
    tracking = args.tracking
    if args.wandb_mode is not None:
        tracking = replace(tracking, wandb_mode=args.wandb_mode)
    if args.policy == "expert":
        from trainers.tracking import require_trackers

        env_cfg = EnvConfig()
        name = args.run_name or f"eval-expert-{args.split}-{args.first_episode:06d}-{last:06d}"
        tracking = replace(tracking, run_name=tracking.run_name or name)
        require_trackers(tracking)  # a missing tracker fails now, not after the evaluation
        reports["expert"] = _evaluate(
            args, ExpertDriver(env_cfg), seeds, args.out / name, env_cfg, "expert"
        )
        _log_expert_run(args.out / name, reports["expert"], tracking, args, env_cfg)
    else:
        from trainers.export import ModelDriver, model_env_config

        model_dir = Path(args.policy)
        env_cfg = config_from_dict(EnvConfig, model_env_config(model_dir))
        model = ModelDriver(str(model_dir), args.runtime)
        if args.backend == "ray":
            model()  # a broken model directory fails here, not in a cluster task
        tag = model_dir.name
        name = args.run_name or f"eval-{tag}-{args.split}-{args.first_episode:06d}-{last:06d}"
        reports["model"] = _evaluate(args, model, seeds, args.out / name, env_cfg, str(model_dir))
        if args.compare_expert:
            reports["expert"] = _evaluate(
                args, ExpertDriver(env_cfg), seeds, args.out / f"{name}-expert", env_cfg, "expert"
            )
        _log_to_model_run(model_dir, reports["model"], tracking, reports.get("expert"))
    print(f"\n{args.episodes} {args.split} seeds {seeds[0]}..{seeds[-1]}")
    for key, report in reports.items():
        _print(key, report)
    if args.metrics is not None:
        main = reports.get("model", reports.get("expert"))
        atomic_write_json(args.metrics, {k: v for k, v in main.items() if k != "failed_seeds"})
    return reports
