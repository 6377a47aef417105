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
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from imitation.algorithms import bc
from imitation.algorithms.dagger import LinearBetaSchedule, SimpleDAggerTrainer
from imitation.data import rollout, types
from imitation.util import logger as imit_logger

from tinylidar_gym.data.dataset import scan_stats
from tinylidar_gym.experts.expert import ExpertConfig
from tinylidar_gym.sim.config import EnvConfig
from trainers.dagger_rounds import (
    CountingActs,
    GatedCollector,
    LeanInfoVecEnv,
    SB3ExpertPolicy,
    Takeover,
    dart_demonstrations,
)
from trainers.export import save_model
from trainers.models import TinyLidarNetPolicy, policy_to_network
from trainers.validation import ClosedLoopValidator
from trainers.vec_env import TinyLidarSB3VecEnv


@dataclass(frozen=True)
class DAggerConfig:
    """DAgger settings. The defaults are the README policy table's DAgger row (97% on the test
    seeds with fewer expert labels than the BC default's dataset)."""

    rounds: int = 8
    """Aggregation rounds (round 0: the expert drives; later rounds: more and more the learner)."""
    steps_per_round: int = 15_000
    """Environment steps (= expert labels) gathered per round, at least. Only whole episodes
    are kept, and the cars still driving when the count is reached finish their episodes, so
    a round gathers up to about num_envs - 1 episodes more."""
    label_budget: int = 170_000
    """No round starts that could take the total past this many expert labels (the BC
    default's dataset holds 172,948)."""
    beta_rampdown_rounds: int = 1
    """beta (the chance that the expert's action is executed) falls linearly from 1 in round 0
    to 0 in this round; from then on the learner drives (but for expert takeovers)."""
    num_envs: int = 8
    """Cars driving at once."""
    bc_epochs_per_round: int = 3
    """BC epochs over all aggregated data after each round."""
    final_epochs: int = 0
    """Extra BC epochs over all data after the last round."""
    final_learning_rate: float = 1e-3
    """Adam learning rate of those final epochs (a lower one settles the last policy)."""
    variant: Literal["L", "M", "S"] = "L"
    """Tiny Lidar Net size."""
    batch_size: int = 256
    """BC batch size."""
    learning_rate: float = 1e-3
    """Adam learning rate."""
    first_round_epochs: int = 10
    """BC epochs after round 0 (0: bc_epochs_per_round). A learner that starts from a better
    round-0 policy visits states closer to the ones that matter."""
    deterministic_learner: bool = False
    """The learner drives with its deterministic action (the one evaluation uses) instead of
    sampling from its Gaussian."""
    takeover_deviation_m: float = 0.3
    """The expert takes the wheel of a car whose rear axle is further than this from the
    expert's plan (0: never), as in expert-gated DAgger (HG-DAgger): the learner explores only
    where the expert's labels are corrective. Every state is labelled either way."""
    takeover_hold_s: float = 0.5
    """How long the expert keeps the wheel once it has taken it, s."""
    val_episodes: int = 100
    """Closed-loop validation after every BC epoch on the first N val seeds (never test
    seeds); the best validated policy becomes the model, as in DAgger's 'best policy on
    validation'. 0: the last policy is kept."""
    dart_episodes: int = 150
    """Expert demonstrations with collection noise (DART: the executed actions are perturbed,
    the labels stay the expert's) given to round 0 instead of a clean expert round; they also
    give the scan statistics. 0: plain DAgger (round 0 is the expert driving cleanly)."""
    stats_episodes: int = 4
    """Without DART demonstrations: expert episodes driven first to estimate the per-beam scan
    mean/std for the model."""
    seed: int = 0
    """Seed for the episodes, the weights and the batch order."""
    threads: int = 0
    """CPU threads for torch (0: all cores)."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """Torch device for BC updates (auto: CUDA when available)."""


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
    out_dir = Path(out_dir)
    if (out_dir / "model.json").exists():
        raise FileExistsError(f"{out_dir} already holds a model; choose another --out.")
    t0 = time.perf_counter()
    torch.manual_seed(cfg.seed)
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    _quiet_datasets()
    venv = TinyLidarSB3VecEnv(cfg.num_envs, config=env_cfg)
    venv.seed(cfg.seed)
    expert = SB3ExpertPolicy(venv)
    demos: list[types.Trajectory] = []
    if cfg.dart_episodes > 0:
        demos = dart_demonstrations(venv, expert, cfg.dart_episodes, ExpertConfig(), cfg.seed)
        mean, std = scan_stats(np.concatenate([t.obs[:-1] for t in demos]))
        stats_samples = 0  # the demonstrations' own labels are counted with round 0
        n_demo = sum(len(t) for t in demos)
        if n_demo > cfg.label_budget:
            raise ValueError(
                f"the {cfg.dart_episodes} DART demonstrations alone hold {n_demo:,} labels, over "
                f"--dagger.label-budget {cfg.label_budget:,}: lower --dagger.dart-episodes."
            )
    else:
        mean, std, stats_samples = _scan_stats(venv, expert, cfg.stats_episodes, cfg.seed)
    policy = TinyLidarNetPolicy(
        venv.observation_space,
        venv.action_space,
        lambda _: cfg.learning_rate,
        variant=cfg.variant,
        scan_mean=mean,
        scan_std=std,
    )
    learner = bc.BC(
        observation_space=venv.observation_space,
        action_space=venv.action_space,
        rng=np.random.default_rng(cfg.seed),
        policy=policy,
        batch_size=cfg.batch_size,
        optimizer_kwargs={"lr": cfg.learning_rate},
        device=cfg.device,
        custom_logger=imit_logger.configure(folder=None, format_strs=[]),
    )
    validator = ClosedLoopValidator(env_cfg, cfg.val_episodes, progress)
    rounds: list[dict[str, Any]] = []
    # imitation would otherwise roll the policy out on the training venv every few hundred
    # batches just to log returns; the rounds' own episodes tell us that.
    train_kwargs = {"progress_bar": progress, "log_rollouts_venv": None}

    def train_and_validate(trainer: SimpleDAggerTrainer, epochs: int, where: str) -> None:
        # The round's data joins the aggregate with the first epoch; each epoch is a candidate.
        trainer.extend_and_update({**train_kwargs, "n_epochs": 1})
        validator(policy, f"{where} epoch 1")
        for epoch in range(2, epochs + 1):
            learner.train(n_epochs=1, **train_kwargs)
            validator(policy, f"{where} epoch {epoch}")

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
        for r in range(cfg.rounds):
            gathered = sum(x["labels"] for x in rounds) + stats_samples
            collected = [x["labels"] for x in rounds if not x.get("dart")]
            largest = max(collected, default=cfg.steps_per_round)
            if r > 0 and gathered + largest > cfg.label_budget:
                if progress:
                    print(f"stopping after {r} rounds: the label budget {cfg.label_budget:,}")
                break
            epochs = cfg.first_round_epochs if r == 0 and cfg.first_round_epochs > 0 else None
            epochs = epochs or cfg.bc_epochs_per_round
            if r == 0 and demos:
                # Round 0 is the DART demonstrations (already in the round-0 directory).
                rounds.append(
                    {
                        "round": 0,
                        "beta": 1.0,
                        "labels": int(sum(len(t) for t in demos)),
                        "learner_steps": 0,
                        "episodes": len(demos),
                        "success_rate": float(
                            np.mean([bool(t.infos[-1].get("is_success")) for t in demos])
                        ),
                        "dart": True,
                    }
                )
                train_and_validate(trainer, epochs, "round 0")
                continue
            collector = trainer.create_trajectory_collector()
            gate = None
            if cfg.takeover_deviation_m > 0:
                gate = Takeover(
                    expert.expert.expert,  # the Expert behind the SB3 and batch wrappers
                    venv,
                    cfg.takeover_deviation_m,
                    round(cfg.takeover_hold_s / env_cfg.control_dt_s),
                )
                collector = GatedCollector(collector, gate)
            if cfg.deterministic_learner:
                collector.get_robot_acts = lambda o: policy.predict(o, deterministic=True)[0]
            counter = CountingActs(collector.get_robot_acts)
            collector.get_robot_acts = counter
            trajs = rollout.generate_trajectories(
                expert,
                collector,
                rollout.make_sample_until(min_timesteps=cfg.steps_per_round, min_episodes=None),
                deterministic_policy=True,
                rng=collector.rng,
            )
            done = [t.infos[-1] for t in trajs if t.terminal and t.infos is not None]
            rounds.append(
                {
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
            )
            if progress:
                print(
                    f"round {r}: beta {collector.beta:.2f}, {rounds[-1]['labels']:,} labels, "
                    f"learner drove {counter.steps:,} car-steps, episode success "
                    f"{rounds[-1]['success_rate']}"
                )
            train_and_validate(trainer, epochs, f"round {r}")
        if cfg.final_epochs > 0:
            for group in learner.optimizer.param_groups:
                group["lr"] = cfg.final_learning_rate
            for epoch in range(1, cfg.final_epochs + 1):
                learner.train(n_epochs=1, **train_kwargs)
                validator(policy, f"final epoch {epoch}")
    from tinylidar_gym.sim.config import config_to_dict

    labels = sum(r["labels"] for r in rounds)
    report = {
        "rounds": len(rounds),
        "expert_labels": labels + stats_samples,
        "stats_samples": stats_samples,
        "per_round": rounds,
        "validation": validator.history,
        "kept": validator.best_figures,
        "train_seconds": time.perf_counter() - t0,
    }
    net = validator.best_net if validator.best_net is not None else policy_to_network(policy)
    save_model(
        out_dir,
        net,
        {"env": config_to_dict(env_cfg), "dagger": dataclasses.asdict(cfg), "training": report},
    )
    return report
