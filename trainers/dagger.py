"""DAgger with the privileged expert as the labeller (imitation's ``SimpleDAggerTrainer``).

The learner drives (more and more, as beta decays; the expert takes the wheel where the car
strays from its plan), the expert labels every state visited, and BC retrains on everything
gathered so far; each epoch's policy is validated in closed loop and the best is kept. The
round machinery (SB3 expert, DART demonstrations, gated collector) is in ``dagger_rounds``.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from imitation.algorithms import bc
from imitation.algorithms.dagger import LinearBetaSchedule, SimpleDAggerTrainer
from imitation.data import rollout, types
from imitation.util import logger as imit_logger

from tinylidar_gym.data.dataset import scan_stats
from tinylidar_gym.data.progress import live_bars
from tinylidar_gym.experts.expert import ExpertConfig
from tinylidar_gym.sim.config import ConfigError, EnvConfig, config_to_dict
from trainers.core import start_training
from trainers.dagger_config import DAggerConfig
from trainers.dagger_rounds import (
    CountingActs,
    GatedCollector,
    LeanInfoVecEnv,
    SB3ExpertPolicy,
    Takeover,
    dart_demonstrations,
)
from trainers.export import save_model
from trainers.sb3_policy import TinyLidarNetPolicy, policy_to_network
from trainers.validation import ClosedLoopValidator
from trainers.vec_env import TinyLidarSB3VecEnv


def _quiet_datasets() -> None:
    """imitation stores DAgger rounds with HF datasets, whose per-save progress bars are noise."""
    try:
        from datasets.utils.logging import disable_progress_bar
    except ImportError:  # pragma: no cover - imitation always brings datasets
        return
    disable_progress_bar()


def _scan_stats(venv: TinyLidarSB3VecEnv, expert: SB3ExpertPolicy, episodes: int, seed: int):
    trajs = rollout.generate_trajectories(
        expert, venv, rollout.make_min_episodes(episodes), rng=np.random.default_rng(seed)
    )
    obs = np.concatenate([t.obs for t in trajs])
    return (*scan_stats(obs), len(obs))


def _round0_data(
    venv: TinyLidarSB3VecEnv, expert: SB3ExpertPolicy, cfg: DAggerConfig
) -> tuple[list[types.Trajectory], np.ndarray, np.ndarray, int]:
    """(DART demonstrations or [], per-beam scan mean and std (metres), expert labels spent on
    the statistics alone)."""
    demos: list[types.Trajectory] = []
    if cfg.demos.dart_episodes > 0:
        demos = dart_demonstrations(venv, expert, cfg.demos.dart_episodes, ExpertConfig(), cfg.seed)
        mean, std = scan_stats(np.concatenate([t.obs[:-1] for t in demos]))
        stats_samples = 0  # the demonstrations' own labels are counted with round 0
        n_demo = sum(len(t) for t in demos)
        if n_demo > cfg.label_budget:
            raise ConfigError(
                f"the {cfg.demos.dart_episodes} DART demonstrations alone hold {n_demo:,} labels, "
                f"over --dagger.label-budget {cfg.label_budget:,} (lower "
                "--dagger.demos.dart-episodes or raise --dagger.label-budget)"
            )
    else:
        mean, std, stats_samples = _scan_stats(venv, expert, cfg.demos.stats_episodes, cfg.seed)
    return demos, mean, std, stats_samples


def _build_learner(
    venv: TinyLidarSB3VecEnv, cfg: DAggerConfig, mean: np.ndarray, std: np.ndarray
) -> bc.BC:
    """imitation's BC around a fresh Tiny Lidar Net policy with the given scan statistics."""
    policy = TinyLidarNetPolicy(
        venv.observation_space,
        venv.action_space,
        lambda _: cfg.bc.learning_rate,
        variant=cfg.bc.variant,
        scan_mean=mean,
        scan_std=std,
    )
    return bc.BC(
        observation_space=venv.observation_space,
        action_space=venv.action_space,
        rng=np.random.default_rng(cfg.seed),
        policy=policy,
        batch_size=cfg.bc.batch_size,
        optimizer_kwargs={"lr": cfg.bc.learning_rate},
        device=cfg.device,
        custom_logger=imit_logger.configure(folder=None, format_strs=[]),
    )


def _dart_round(demos: list[types.Trajectory]) -> dict[str, Any]:
    """Round 0's record when it is the DART demonstrations."""
    return {
        "round": 0,
        "beta": 1.0,
        "labels": int(sum(len(t) for t in demos)),
        "learner_steps": 0,
        "episodes": len(demos),
        "success_rate": float(np.mean([bool(t.infos[-1].get("is_success")) for t in demos])),
        "dart": True,
    }


@dataclasses.dataclass
class _Rounds:
    """One DAgger run's moving parts: the aggregate trainer, its BC learner and the validator."""

    cfg: DAggerConfig
    env_cfg: EnvConfig
    venv: TinyLidarSB3VecEnv
    expert: SB3ExpertPolicy
    trainer: SimpleDAggerTrainer
    validator: ClosedLoopValidator
    progress: bool

    @property
    def train_kwargs(self) -> dict[str, Any]:
        # imitation would otherwise roll the policy out on the training venv every few hundred
        # batches just to log returns; the rounds' own episodes tell us that.
        return {"progress_bar": self.progress and live_bars(), "log_rollouts_venv": None}

    def train_and_validate(self, epochs: int, where: str) -> None:
        """BC on the aggregate; the round's data joins with the first epoch; each epoch's
        policy is a candidate."""
        learner, policy = self.trainer.bc_trainer, self.trainer.bc_trainer.policy
        self.trainer.extend_and_update({**self.train_kwargs, "n_epochs": 1})
        self.validator(policy, f"{where} epoch 1")
        for epoch in range(2, epochs + 1):
            learner.train(n_epochs=1, **self.train_kwargs)
            self.validator(policy, f"{where} epoch {epoch}")

    def collect(self, r: int) -> dict[str, Any]:
        """Round ``r``'s driving: at least steps_per_round labels, with expert takeover."""
        cfg, policy = self.cfg, self.trainer.bc_trainer.policy
        collector = self.trainer.create_trajectory_collector()
        gate = None
        if cfg.takeover.deviation_m > 0:
            gate = Takeover(
                self.expert.expert.expert,  # the Expert behind the SB3 and batch wrappers
                self.venv,
                cfg.takeover.deviation_m,
                round(cfg.takeover.hold_s / self.env_cfg.control_dt_s),
            )
            collector = GatedCollector(collector, gate)
        if cfg.deterministic_learner:
            collector.get_robot_acts = lambda o: policy.predict(o, deterministic=True)[0]
        counter = CountingActs(collector.get_robot_acts)
        collector.get_robot_acts = counter
        trajs = rollout.generate_trajectories(
            self.expert,
            collector,
            rollout.make_sample_until(min_timesteps=cfg.steps_per_round, min_episodes=None),
            deterministic_policy=True,
            rng=collector.rng,
        )
        done = [t.infos[-1] for t in trajs if t.terminal and t.infos is not None]
        record = {
            "round": r,
            "beta": float(collector.beta),
            "labels": int(sum(len(t) for t in trajs)),
            "learner_steps": counter.steps,
            "expert_takeover_steps": 0 if gate is None else gate.steps,
            "episodes": len(done),
            "success_rate": float(np.mean([bool(i.get("is_success")) for i in done]))
            if done
            else None,
        }
        if self.progress:
            print(
                f"round {r}: beta {collector.beta:.2f}, {record['labels']:,} labels, "
                f"learner drove {counter.steps:,} car-steps, episode success "
                f"{record['success_rate']}"
            )
        return record

    def run(self, demos: list[types.Trajectory], stats_samples: int) -> list[dict[str, Any]]:
        """All rounds (stopping before one could pass the label budget), then the final epochs."""
        cfg, rounds = self.cfg, []
        for r in range(cfg.rounds):
            gathered = sum(x["labels"] for x in rounds) + stats_samples
            collected = [x["labels"] for x in rounds if not x.get("dart")]
            largest = max(collected, default=cfg.steps_per_round)
            if r > 0 and gathered + largest > cfg.label_budget:
                if self.progress:
                    print(f"stopping after {r} rounds: the label budget {cfg.label_budget:,}")
                break
            epochs = cfg.bc.first_round_epochs if r == 0 and cfg.bc.first_round_epochs > 0 else None
            epochs = epochs or cfg.bc.epochs_per_round
            # Round 0 may be the DART demonstrations (already in the round-0 directory).
            rounds.append(_dart_round(demos) if r == 0 and demos else self.collect(r))
            self.train_and_validate(epochs, f"round {r}")
        if cfg.bc.final_epochs > 0:
            learner = self.trainer.bc_trainer
            for group in learner.optimizer.param_groups:
                group["lr"] = cfg.bc.final_learning_rate
            for epoch in range(1, cfg.bc.final_epochs + 1):
                learner.train(n_epochs=1, **self.train_kwargs)
                self.validator(learner.policy, f"final epoch {epoch}")
        return rounds


def train_dagger(
    out_dir: str | Path,
    cfg: DAggerConfig | None = None,
    env_cfg: EnvConfig | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Train Tiny Lidar Net with DAgger; writes the model to ``out_dir``. Returns a report.

    Each round: a collector drives the cars, executing the expert's action with probability
    beta and the learner's otherwise; the expert labels every visited state; BC trains on all
    rounds so far, and each epoch's policy is validated in closed loop on val seeds. The report
    counts per round how many steps the learner drove and how its episodes ended.
    """
    cfg = cfg or DAggerConfig()
    env_cfg = env_cfg or EnvConfig()
    t0 = time.perf_counter()
    out_dir = start_training(out_dir, cfg.seed, cfg.threads)
    _quiet_datasets()
    venv = TinyLidarSB3VecEnv(cfg.num_envs, config=env_cfg)
    venv.seed(cfg.seed)
    expert = SB3ExpertPolicy(venv)
    demos, mean, std, stats_samples = _round0_data(venv, expert, cfg)
    learner = _build_learner(venv, cfg, mean, std)
    validator = ClosedLoopValidator(env_cfg, cfg.val_episodes, progress)
    with tempfile.TemporaryDirectory() as scratch:
        trainer = SimpleDAggerTrainer(
            venv=LeanInfoVecEnv(venv),
            scratch_dir=scratch,
            expert_policy=expert,
            bc_trainer=learner,
            rng=np.random.default_rng(cfg.seed),
            beta_schedule=LinearBetaSchedule(max(cfg.beta_rampdown_rounds, 1)),
            custom_logger=imit_logger.configure(folder=None, format_strs=[]),
            expert_trajs=demos or None,
        )
        rounds = _Rounds(cfg, env_cfg, venv, expert, trainer, validator, progress)
        per_round = rounds.run(demos, stats_samples)
    report = {
        "rounds": len(per_round),
        "expert_labels": sum(r["labels"] for r in per_round) + stats_samples,
        "stats_samples": stats_samples,
        "per_round": per_round,
        "validation": validator.history,
        "kept": validator.best_figures,
        "train_seconds": time.perf_counter() - t0,
    }
    net = validator.best_net
    if net is None:  # nothing validated: the last policy is the model
        net = policy_to_network(learner.policy)
    metadata = {"env": config_to_dict(env_cfg), "dagger": dataclasses.asdict(cfg)}
    save_model(out_dir, net, {**metadata, "training": report})
    return report
