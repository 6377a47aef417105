"""Closed-loop validation during training: drive held-out val seeds with the policy's
deterministic action and keep the best policy (PPO and DAgger share it)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from tinylidar_gym.data.evaluation import aggregate, drive_seeds, evaluate
from tinylidar_gym.data.seeds import split_seeds
from tinylidar_gym.sim.config import EnvConfig
from trainers.core import KeepBest
from trainers.export import TorchPolicy
from trainers.network import TinyLidarNet
from trainers.sb3_policy import TinyLidarNetPolicy, policy_to_network


def better(a: dict[str, Any], b: dict[str, Any] | None) -> bool:
    """Validation figures ``a`` beat ``b``: success rate, then lap time, then checkpoints."""
    if b is None:
        return True

    def key(f: dict[str, Any]) -> tuple[float, float, float]:
        lap = f.get("mean_lap_time_s")
        return (
            f["success_rate"],
            -lap if lap is not None else -math.inf,
            f["checkpoint_pass_rate"],
        )

    return key(a) > key(b)


def closed_loop_figures(
    net: TinyLidarNet,
    seeds: list[int],
    env_cfg: EnvConfig,
    driver: str,
    run_dir: Path | None = None,
) -> dict[str, Any]:
    """:func:`tinylidar_gym.data.evaluation.aggregate` figures of ``net`` driving ``seeds`` once
    each (nothing recorded; with ``run_dir``, its ``evaluation.json`` is written there too)."""
    drive = TorchPolicy(net)
    kwargs = {"num_envs": min(len(seeds), 32), "record": False, "progress": False}
    policy = lambda obs, _venv: drive(obs)  # noqa: E731
    if run_dir is None:
        figures = aggregate(drive_seeds(policy, seeds, Path("."), env_cfg, "val", driver, **kwargs))
    else:
        figures = evaluate(policy, seeds, run_dir, env_cfg, "val", driver, **kwargs)
    return {k: v for k, v in figures.items() if k not in ("failed_seeds", "seeds")}


def figures_line(figures: dict[str, Any]) -> str:
    """One progress line of validation figures."""
    lap = figures["mean_lap_time_s"]
    return (
        f"success {figures['success_rate']:.1%}  "
        f"checkpoints {figures['checkpoint_pass_rate']:.1%}  "
        f"speed {figures['mean_speed_mps']:.2f} m/s  "
        f"lap {'-' if lap is None else f'{lap:.2f} s'}"
    )


class ClosedLoopValidator:
    """Drives each candidate policy (deterministic action, CPU copy) on the first ``episodes``
    val seeds and keeps the best by :func:`better` (success, then lap time,
    then checkpoints). ``episodes`` 0: validates nothing and keeps nothing."""

    def __init__(self, env_cfg: EnvConfig, episodes: int, progress: bool) -> None:
        self.env_cfg = env_cfg
        self.seeds = split_seeds("val", 0, episodes) if episodes > 0 else []
        self.progress = progress
        self.history: list[dict[str, Any]] = []
        self.best: KeepBest[TinyLidarNet] = KeepBest(better)

    @property
    def best_net(self) -> TinyLidarNet | None:
        """The best validated network so far (None before any validation)."""
        return self.best.candidate

    @property
    def best_figures(self) -> dict[str, Any] | None:
        """Its validation figures."""
        return self.best.figures

    def __call__(self, policy: TinyLidarNetPolicy, where: str) -> None:
        if not self.seeds:
            return
        net = policy_to_network(policy)
        figures = closed_loop_figures(net, self.seeds, self.env_cfg, "dagger")
        figures["at"] = where
        self.history.append(figures)
        self.best.offer(figures, net)
        if self.progress:
            print(f"validation after {where}: {figures_line(figures)}")
