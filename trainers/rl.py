"""PPO (stable-baselines3) on the native vector env, from BC weights or from scratch.

Reads top to bottom: resolve the start (a BC/DAgger model directory, or a fresh network with
scan statistics from random driving), build the SB3 face of the vector env with the model's env
config, build PPO with :class:`~trainers.models.TinyLidarNetPolicy` and load the start weights,
train with a callback that tracks rollouts and validates on held-out seeds, and save the best
validated policy in the same model-directory format as BC.

Fine-tuning a BC actor with PPO easily wrecks it in the first updates: the critic starts untrained
(its advantages are noise) and a default exploration std (1.0 in action units) drives a different
car than the one BC learnt. The remedies used here, each a field of :class:`RLConfig`:

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
from tinylidar_gym.sim.config import EnvConfig, config_from_dict, config_to_dict
from trainers.configs import RLConfig
from trainers.export import load_model, model_env_config, save_model
from trainers.models import TinyLidarNet, TinyLidarNetPolicy, network_into_policy, policy_to_network
from trainers.rl_monitor import RolloutCallback, TrackerOutput
from trainers.tracking import Tracker, TrackingConfig, make_tracker, require_trackers
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
        raise ValueError(
            f"the env gives {env_cfg.lidar.n_beams}-beam scans but {init} takes {net.n_beams}; "
            "train in the model's own env config (leave the env out)."
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
        learning_rate=cfg.learning_rate,
        n_steps=cfg.n_steps,
        batch_size=cfg.batch_size,
        n_epochs=cfg.n_epochs,
        gamma=cfg.gamma,
        gae_lambda=cfg.gae_lambda,
        clip_range=cfg.clip_range,
        ent_coef=cfg.ent_coef,
        vf_coef=cfg.vf_coef,
        max_grad_norm=cfg.max_grad_norm,
        target_kl=cfg.target_kl,
        policy_kwargs={
            "variant": variant,
            "scan_mean": scan_mean,
            "scan_std": scan_std,
            "log_std_init": cfg.log_std_init,
            "share_features_extractor": cfg.share_features_extractor,
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
            {"params": actor, "lr": cfg.learning_rate},
            {"params": critic, "lr": cfg.critic_learning_rate},
        ],
        eps=1e-5,
    )
    model.critic_learning_rate = cfg.critic_learning_rate
    model.critic_warmup = int(cfg.critic_warmup or 0)

    return model


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
    out_dir = Path(out_dir)
    if (out_dir / "model.json").exists():
        raise FileExistsError(
            f"{out_dir} already holds a model; models are never overwritten. Choose another --out."
        )
    start_net, start_doc, env_cfg = _start(cfg, env_cfg)
    if tracker is None:
        require_trackers(tracking)  # a missing tracker extra fails before any work is done
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    t0 = time.perf_counter()

    model = build_ppo(cfg, env_cfg, start_net)
    venv, policy = model.env, model.policy

    start_info = {
        "path": None if cfg.init is None else str(cfg.init),
        "kind": "scratch" if cfg.init is None else "model",
        "expert_labels": _expert_labels(start_doc),
        "training": (start_doc.get("metadata") or {}).get("training"),
    }
    run_config = {
        "rl": dataclasses.asdict(cfg),
        "start": start_info,
        "dataset": (start_doc.get("metadata") or {}).get("dataset"),
        "git_commit": git_commit(),
        "versions": package_versions(),
    }
    own_tracker = tracker is None
    tracker = tracker or make_tracker(tracking, run_config, out_dir)
    try:
        model.set_logger(Logger(folder=None, output_formats=[TrackerOutput(tracker)]))
        tracker.watch(policy, log_every=100)
        val_seeds = split_seeds("val", 0, cfg.val_episodes)
        history: list[dict[str, Any]] = []
        best: dict[str, Any] | None = None

        def validate(step: int) -> dict[str, Any]:
            nonlocal best
            ckpt = out_dir / "checkpoints" / f"step_{step:09d}"
            net = policy_to_network(policy)
            figures = closed_loop_figures(net, val_seeds, env_cfg, f"ppo@{step}", run_dir=ckpt)
            figures["step"] = step
            history.append(figures)
            save_model(ckpt, net, {**run_config, "env": config_to_dict(env_cfg), "step": step},
                       onnx=False)  # fmt: skip
            if better(figures, best):
                best = figures
            if progress:
                print(f"validation @ {step:,} steps: {figures_line(figures)}")
            return figures

        callback = RolloutCallback(validate, cfg.val_every, progress)
        model.learn(cfg.total_timesteps, callback=callback, log_interval=1)
        assert best is not None
        chosen = best if cfg.keep == "best" else history[-1]
        chosen_net, _ = load_model(out_dir / "checkpoints" / f"step_{chosen['step']:09d}")
        train_seconds = time.perf_counter() - t0
        report = {
            "algorithm": "ppo",
            "env_steps": int(model.num_timesteps),
            "rollouts": callback.rollouts,
            "updates": model.updates_done,
            "train_seconds": train_seconds,
            "kept": cfg.keep,
            "kept_step": chosen["step"],
            "kept_val": chosen,
            "start_val": history[0],
            "final_val": history[-1],
            # Imitation labels behind the start model; PPO itself asks the expert for none.
            "expert_labels": start_info["expert_labels"],
            "history": history,
        }
        metadata = {
            **run_config,
            "env": config_to_dict(env_cfg),
            "training": {k: v for k, v in report.items() if k != "history"},
            "tracker": {"name": tracker.name, "run_id": tracker.run_id, **tracker.run_info()},
        }
        save_model(out_dir, chosen_net, metadata)
        tracker.summary(
            {
                "env_steps": report["env_steps"],
                "train_seconds": train_seconds,
                "kept_step": chosen["step"],
                **{f"kept_val/{k}": v for k, v in chosen.items() if isinstance(v, int | float)},
            }
        )
        tracker.log_model(out_dir, "tiny-lidar-net")
    finally:
        venv.close()
        if own_tracker:
            tracker.finish()
    return report
