"""Evaluate a trained model or the expert on any course, and send the figures to the trackers.

:func:`evaluate_policy` drives held-out seeds with a model (its env config, with the course,
obstacles and episode rules changed as asked: :mod:`trainers.model_env`) or with the expert (any
env), the expert side by side on the same seeds when asked; every episode is recorded under the
run directory with ``evaluation.json`` beside them. A model's figures go into the tracker runs
that trained it (the run ids in its model.json), the expert's into a new run.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from tinylidar_gym.data.evaluation import ExpertDriver, PolicyFactory, evaluate
from tinylidar_gym.sim.config import EnvConfig
from trainers.model_env import env_for_model
from trainers.tracking import TrackingConfig, make_tracker, require_trackers, tracker_for_model


@dataclass(frozen=True)
class EvalSettings:
    """How the episodes of one evaluation run (the same for the model and the expert)."""

    split: str = "test"
    """The seeds' split (recorded with every episode)."""
    num_envs: int = 16
    """Cars simulated at once (vector env)."""
    record: bool = True
    """Record every episode to MCAP."""
    backend: Literal["local", "ray"] = "local"
    """This process (vector env), or chunks of seeds as Ray tasks."""
    workers: int = -1
    """Ray tasks at once with backend 'ray' (-1: the cluster's CPUs)."""
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    """Where the figures go (a model's: the runs that trained it; 'none' skips)."""


def figures(report: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """The numeric figures of an evaluation report as ``eval/<split>/<prefix><name>``."""
    split = report["split"]
    return {f"eval/{split}/{prefix}{k}": v for k, v in report.items() if isinstance(v, int | float)}


def log_model_evaluation(
    model_dir: Path,
    report: Mapping[str, Any],
    tracking: TrackingConfig,
    expert: Mapping[str, Any] | None = None,
) -> None:
    """Evaluation figures (and the expert's on the same seeds, as ``eval/<split>/expert/...``)
    go into the tracker runs that trained the model."""
    meta = json.loads((model_dir / "model.json").read_text())
    tracker = tracker_for_model(model_dir, meta, tracking)
    values = figures(report)
    if expert is not None:
        values.update(figures(expert, "expert/"))
    tracker.summary(values)
    tracker.finish()


def log_expert_evaluation(
    run_dir: Path, report: Mapping[str, Any], tracking: TrackingConfig, run_config: dict[str, Any]
) -> None:
    """The expert's evaluation figures go into a new run (named after the evaluation)."""
    tracker = make_tracker(tracking, run_config, run_dir)
    tracker.summary(figures(report))
    tracker.finish()


def _drive(
    make_policy: PolicyFactory,
    seeds: list[int],
    run_dir: Path,
    env_cfg: EnvConfig,
    driver: str,
    how: EvalSettings,
) -> dict[str, Any]:
    """One evaluation on the backend asked for (same episode directories and evaluation.json)."""
    if how.backend == "ray":
        from tinylidar_gym.data.evaluation import evaluate_on_ray

        return evaluate_on_ray(
            make_policy, seeds, run_dir, env_cfg, how.split, driver, how.num_envs, how.record,
            workers=how.workers,
        )  # fmt: skip
    return evaluate(
        make_policy(), seeds, run_dir, env_cfg, how.split, driver, how.num_envs, how.record
    )


def evaluate_expert(
    seeds: list[int], run_dir: Path, env_cfg: EnvConfig, how: EvalSettings
) -> dict[str, Any]:
    """The expert on ``seeds`` in any ``env_cfg``; its figures go into a new tracker run."""
    from tinylidar_gym.data.provenance import git_commit
    from tinylidar_gym.data.seeds import SPLITS

    require_trackers(how.tracking)  # a missing tracker fails now, not after the evaluation
    report = _drive(ExpertDriver(env_cfg), seeds, run_dir, env_cfg, "expert", how)
    run_config = {
        "evaluate": {
            "policy": "expert",
            "split": how.split,
            "episodes": len(seeds),
            "first_episode": seeds[0] - SPLITS[how.split].first,
            "num_envs": how.num_envs,
        },
        "env": asdict(env_cfg),
        "git_commit": git_commit(),
    }
    log_expert_evaluation(run_dir, report, how.tracking, run_config)
    return report


def evaluate_model(
    model_dir: Path,
    seeds: list[int],
    run_dir: Path,
    how: EvalSettings,
    env_changes: Mapping[str, Any] | None = None,
    runtime: Literal["torch", "onnx"] = "torch",
    expert_run_dir: Path | None = None,
) -> dict[str, dict[str, Any]]:
    """A model on ``seeds`` in its env config with ``env_changes`` (course, obstacles, episode
    rules; a change to the model's contract is refused before anything runs), and the expert on
    the same seeds and env when ``expert_run_dir`` is given. Returns ``{"model": report,
    "expert": report}``; the figures go into the runs that trained the model."""
    from trainers.export import ModelDriver, load_policy, model_env_config

    env_cfg = env_for_model(model_env_config(model_dir), env_changes)
    load_policy(model_dir, runtime)  # a broken or tampered model fails here, before any episode
    model = ModelDriver(str(model_dir), runtime)
    reports = {"model": _drive(model, seeds, run_dir, env_cfg, str(model_dir), how)}
    if expert_run_dir is not None:
        reports["expert"] = _drive(
            ExpertDriver(env_cfg), seeds, expert_run_dir, env_cfg, "expert", how
        )
    log_model_evaluation(model_dir, reports["model"], how.tracking, reports.get("expert"))
    return reports
