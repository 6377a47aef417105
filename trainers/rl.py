"""PPO (stable-baselines3) on the native vector env, from BC weights or from scratch.

Reads top to bottom: resolve the start (a BC/DAgger model directory, or a fresh network with
scan statistics from random driving), build the SB3 face of the vector env with the model's env
config, build PPO with :class:`~trainers.sb3_policy.TinyLidarNetPolicy` and load the start weights,
train with a callback that tracks rollouts and validates on held-out seeds, and save the best
validated policy in the same model-directory format as BC.

Fine-tuning a BC actor with PPO easily wrecks it in the first updates: the critic starts untrained
(its advantages are noise) and a default exploration std (1.0 in action units) drives a different
car than the one BC learnt. The remedies used here, each a field of :class:`RLConfig`'s
``finetune`` section (:class:`~trainers.rl_config.FineTuneConfig`) or of its ``ppo`` section:

- a small initial action std (``log_std_init``; e.g. 0.08 of the [-1, 1] range);
- a critic of its own (``share_features_extractor=False``, its encoder copied from BC) so that
  value gradients never reach the actor's features;
- a critic warm-up: the first ``critic_warmup`` updates train only the critic (the actor
  group's learning rate is 0), then the actor learns at a small rate with a small clip range and a
  KL stop (``target_kl``);
- the start itself is validated (step 0) and stays the model unless a later checkpoint beats it.

Why PPO can lower lap time at all: the reward is progress in metres, so the *undiscounted* return
of a finished lap is the course length at any speed. With ``gamma < 1`` progress made sooner is
worth more: driving at a constant ``v`` for ``T`` steps returns ``v dt (1 - gamma^T) / (1 -
gamma)``, which grows with ``v`` (tests/test_rl.py checks it), so a faster lap has the larger
discounted return and collisions (-10, and the lost future progress) bound how fast is worth it.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.logger import Logger

from tinylidar_gym.data.dataset import scan_stats
from tinylidar_gym.data.provenance import git_commit, package_versions
from tinylidar_gym.data.seeds import split_seeds
from tinylidar_gym.sim.config import ConfigError, EnvConfig, config_from_dict, config_to_dict
from trainers.core import KeepBest, refuse_existing_model, start_training
from trainers.export import load_model, model_env_config, save_model
from trainers.network import TinyLidarNet
from trainers.rl_config import RLConfig
from trainers.rl_monitor import RolloutCallback, TrackerOutput
from trainers.sb3_policy import TinyLidarNetPolicy, network_into_policy, policy_to_network
from trainers.tracking import Tracker, TrackingConfig, make_tracker, tracker_record
from trainers.validation import better, closed_loop_figures, figures_line
from trainers.vec_env import TinyLidarSB3VecEnv

# --------------------------------------------------------------------------- the start


def _start(cfg: RLConfig, env_cfg: EnvConfig | None) -> tuple[TinyLidarNet | None, dict, EnvConfig]:
    """(start network or None, its model.json or {}, env config to train in)."""
    if cfg.init is None:
        return None, {}, env_cfg or EnvConfig()
    init = Path(cfg.init)
    if not (init / "model.json").is_file():
        raise FileNotFoundError(
            f"--rl.init {init}: no model.json there. Give a model directory written by train-bc "
            "or train-dagger (e.g. models/pipeline), or --rl.init none to train from scratch."
        )
    net, doc = load_model(init)
    model_env = config_from_dict(EnvConfig, model_env_config(init))
    env_cfg = env_cfg or model_env
    if env_cfg.lidar.n_beams != net.n_beams:
        raise ConfigError(
            f"the env gives {env_cfg.lidar.n_beams}-beam scans but {init} takes {net.n_beams} "
            "(train in the model's own env config: leave the env out)"
        )
    return net, doc, env_cfg


def _expert_labels(doc: dict[str, Any]) -> int:
    """Expert-labelled samples behind a start model (0 for scratch)."""
    meta = doc.get("metadata") or {}
    labels = (meta.get("training") or {}).get("expert_labels")
    if labels is None:  # BC: every sample of its dataset (validation chose its epoch)
        labels = (meta.get("dataset") or {}).get("n_samples", 0)
    return int(labels)


def _scan_stats(venv: TinyLidarSB3VecEnv, steps: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-beam mean/std (metres) of scans seen while driving with uniform random actions."""
    rng = np.random.default_rng(seed)
    venv.seed(seed)
    scans = [venv.reset()]
    for _ in range(steps - 1):
        actions = rng.uniform(-1.0, 1.0, (venv.num_envs, 2)).astype(np.float32)
        scans.append(venv.step(actions)[0])
    return scan_stats(np.concatenate(scans))


# --------------------------------------------------------------------------- PPO pieces


def _actor_critic_params(policy: TinyLidarNetPolicy) -> tuple[list, list]:
    """Parameters of the actor (encoder, MLP, action head, log_std) and of the critic."""
    actor = [
        *policy.pi_features_extractor.parameters(),
        *policy.mlp_extractor.policy_net.parameters(),
        *policy.action_net.parameters(),
        policy.log_std,
    ]
    ids = {id(p) for p in actor}
    critic = [p for p in policy.parameters() if id(p) not in ids]
    return actor, critic


class _TwoRatePPO(PPO):
    """PPO with separate actor and critic learning rates; the actor's is 0 during warm-up."""

    critic_learning_rate: float = 3e-4
    critic_warmup: int = 0
    updates_done: int = 0

    def _update_learning_rate(self, optimizers: Any) -> None:
        actor_lr = self.lr_schedule(self._current_progress_remaining)
        if self.updates_done < self.critic_warmup:
            actor_lr = 0.0  # Adam with lr 0 leaves the actor exactly as it is
        self.logger.record("train/learning_rate", actor_lr)
        self.logger.record("train/critic_learning_rate", self.critic_learning_rate)
        actor_group, critic_group = self.policy.optimizer.param_groups
        actor_group["lr"], critic_group["lr"] = actor_lr, self.critic_learning_rate

    def train(self) -> None:
        super().train()
        self.updates_done += 1


# --------------------------------------------------------------------------- training


def build_ppo(cfg: RLConfig, env_cfg: EnvConfig, start: TinyLidarNet | None) -> PPO:
    """PPO with :class:`TinyLidarNetPolicy` on ``cfg.n_envs`` cars of ``env_cfg``.

    ``cfg`` must be resolved (:meth:`RLConfig.resolved`). With ``start``, the actor (and a
    separate critic's encoder) get its weights and normalisation, so the deterministic actions
    are the start model's; without, the scan normalisation comes from random driving.
    """
    venv = TinyLidarSB3VecEnv(cfg.n_envs, config=env_cfg, parallel=cfg.n_envs > 1)
    if start is None:
        scan_mean, scan_std = _scan_stats(venv, cfg.stats_steps, cfg.seed)
        variant = cfg.variant
    else:  # normalisation comes with the model (network_into_policy copies it)
        scan_mean, scan_std, variant = None, None, start.variant
    model = _TwoRatePPO(
        TinyLidarNetPolicy,
        venv,
        learning_rate=cfg.ppo.learning_rate,
        n_steps=cfg.ppo.n_steps,
        batch_size=cfg.ppo.batch_size,
        n_epochs=cfg.ppo.n_epochs,
        gamma=cfg.ppo.gamma,
        gae_lambda=cfg.ppo.gae_lambda,
        clip_range=cfg.ppo.clip_range,
        ent_coef=cfg.ppo.ent_coef,
        vf_coef=cfg.ppo.vf_coef,
        max_grad_norm=cfg.ppo.max_grad_norm,
        target_kl=cfg.ppo.target_kl,
        policy_kwargs={
            "variant": variant,
            "scan_mean": scan_mean,
            "scan_std": scan_std,
            "log_std_init": cfg.finetune.log_std_init,
            "share_features_extractor": cfg.finetune.share_features_extractor,
        },
        seed=cfg.seed,
        device=cfg.device,
    )
    policy: TinyLidarNetPolicy = model.policy
    if start is not None:
        network_into_policy(start, policy)
    actor, critic = _actor_critic_params(policy)
    policy.optimizer = torch.optim.Adam(
        [
            {"params": actor, "lr": cfg.ppo.learning_rate},
            {"params": critic, "lr": cfg.finetune.critic_learning_rate},
        ],
        eps=1e-5,
    )
    model.critic_learning_rate = cfg.finetune.critic_learning_rate
    model.critic_warmup = int(cfg.finetune.critic_warmup or 0)

    return model


class _Validation:
    """Validates the policy on val seeds at a step, checkpoints it, keeps the best (start
    included)."""

    def __init__(
        self,
        policy: TinyLidarNetPolicy,
        env_cfg: EnvConfig,
        cfg: RLConfig,
        out_dir: Path,
        run_config: dict[str, Any],
        progress: bool,
    ) -> None:
        self.policy, self.env_cfg, self.out_dir = policy, env_cfg, out_dir
        self.run_config = {**run_config, "env": config_to_dict(env_cfg)}
        self.seeds = split_seeds("val", 0, cfg.val_episodes)
        self.progress = progress
        self.history: list[dict[str, Any]] = []
        self.best: KeepBest[int] = KeepBest(better)

    def checkpoint(self, step: int) -> Path:
        return self.out_dir / "checkpoints" / f"step_{step:09d}"

    def __call__(self, step: int) -> dict[str, Any]:
        ckpt = self.checkpoint(step)
        net = policy_to_network(self.policy)
        figures = closed_loop_figures(net, self.seeds, self.env_cfg, f"ppo@{step}", run_dir=ckpt)
        figures["step"] = step
        self.history.append(figures)
        save_model(ckpt, net, {**self.run_config, "step": step}, onnx=False)
        self.best.offer(figures, step)
        if self.progress:
            print(f"validation @ {step:,} steps: {figures_line(figures)}")
        return figures


def _run_config(cfg: RLConfig, start_doc: dict[str, Any]) -> dict[str, Any]:
    """The run's configuration: PPO settings, the start model and its lineage."""
    meta = start_doc.get("metadata") or {}
    start_info = {
        "path": None if cfg.init is None else str(cfg.init),
        "kind": "scratch" if cfg.init is None else "model",
        "expert_labels": _expert_labels(start_doc),
        "training": meta.get("training"),
    }
    return {
        "rl": dataclasses.asdict(cfg),
        "start": start_info,
        "dataset": meta.get("dataset"),
        "git_commit": git_commit(),
        "versions": package_versions(),
    }


def _report(
    model: PPO, cfg: RLConfig, callback: RolloutCallback, val: _Validation, seconds: float
) -> dict[str, Any]:
    """The training report; ``kept_step`` is the policy that becomes the model."""
    chosen = val.best.figures if cfg.keep == "best" else val.history[-1]
    return {
        "algorithm": "ppo",
        "env_steps": int(model.num_timesteps),
        "rollouts": callback.rollouts,
        "updates": model.updates_done,
        "train_seconds": seconds,
        "kept": cfg.keep,
        "kept_step": chosen["step"],
        "kept_val": chosen,
        "start_val": val.history[0],
        "final_val": val.history[-1],
        # Imitation labels behind the start model; PPO itself asks the expert for none.
        "expert_labels": val.run_config["start"]["expert_labels"],
        "history": val.history,
    }


def train_rl(
    out_dir: str | Path,
    cfg: RLConfig | None = None,
    tracking: TrackingConfig | None = None,
    env_cfg: EnvConfig | None = None,
    progress: bool = True,
    tracker: Tracker | None = None,
) -> dict[str, Any]:
    """Train Tiny Lidar Net with PPO; writes the model to ``out_dir``. Returns a report.

    ``env_cfg`` defaults to the start model's env config (the default env from scratch).
    ``tracker`` replaces the one ``tracking`` would make (e.g. a test's recorder).
    """
    cfg = (cfg or RLConfig()).resolved()
    tracking = tracking or TrackingConfig()
    refuse_existing_model(out_dir)
    start_net, start_doc, env_cfg = _start(cfg, env_cfg)
    out_dir = start_training(out_dir, cfg.seed, cfg.threads, None if tracker else tracking)
    t0 = time.perf_counter()
    model = build_ppo(cfg, env_cfg, start_net)
    run_config = _run_config(cfg, start_doc)
    own_tracker = tracker is None
    tracker = tracker or make_tracker(tracking, run_config, out_dir)
    try:
        model.set_logger(Logger(folder=None, output_formats=[TrackerOutput(tracker)]))
        tracker.watch(model.policy, log_every=100)
        val = _Validation(model.policy, env_cfg, cfg, out_dir, run_config, progress)
        callback = RolloutCallback(val, cfg.val_every, progress)
        model.learn(cfg.total_timesteps, callback=callback, log_interval=1)
        report = _report(model, cfg, callback, val, time.perf_counter() - t0)
        chosen_net, _ = load_model(val.checkpoint(report["kept_step"]))
        metadata = {
            **val.run_config,
            "training": {k: v for k, v in report.items() if k != "history"},
            "tracker": tracker_record(tracker),
        }
        save_model(out_dir, chosen_net, metadata)
        kept = {f"kept_val/{k}": v for k, v in report["kept_val"].items() if _is_number(v)}
        tracker.summary(
            {
                "env_steps": report["env_steps"],
                "train_seconds": report["train_seconds"],
                "kept_step": report["kept_step"],
                **kept,
            }
        )
        tracker.log_model(out_dir, "tiny-lidar-net")
    finally:
        model.env.close()
        if own_tracker:
            tracker.finish()
    return report


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float)
