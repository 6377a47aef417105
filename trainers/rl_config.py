"""PPO's configuration: the run at the top, PPO's own hyper-parameters and the fine-tuning knobs
(how a BC actor survives its first updates) in nested sections. Plain dataclasses: importing
loads no torch.

``None`` fields depend on the start: :data:`FROM_BC` when starting from a model,
:data:`FROM_SCRATCH` otherwise (:meth:`RLConfig.resolved` fills them in).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from tinylidar_gym.sim.config import ConfigError
from trainers.config_checks import (
    NON_NEGATIVE,
    NON_NEGATIVE_INT,
    POSITIVE,
    POSITIVE_INT,
    THREADS,
    check_fields,
    non_negative,
    optional,
    positive,
    positive_int,
)

FROM_BC: dict[str, dict[str, Any]] = {
    "ppo": {"learning_rate": 1e-4, "clip_range": 0.1},
    "finetune": {"log_std_init": -2.5, "critic_warmup": 2},
}
"""Values of the ``None`` fields of :class:`RLConfig`'s sections when starting from a model."""
FROM_SCRATCH: dict[str, dict[str, Any]] = {
    "ppo": {"learning_rate": 3e-4, "clip_range": 0.2},
    "finetune": {"log_std_init": -0.5, "critic_warmup": 0},
}
"""Values of the ``None`` fields of :class:`RLConfig`'s sections when starting from scratch."""


@dataclass(frozen=True)
class PPOConfig:
    """PPO's hyper-parameters (stable-baselines3's names)."""

    n_steps: int = 128
    """Steps per car per rollout (a rollout is n_envs * n_steps transitions)."""
    batch_size: int = 1024
    """Transitions per gradient step."""
    n_epochs: int = 3
    """Passes over each rollout."""
    learning_rate: float | None = None
    """Actor Adam learning rate (None: 1e-4 from a model, 3e-4 from scratch)."""
    clip_range: float | None = None
    """PPO ratio clip (None: 0.1 from a model, 0.2 from scratch)."""
    target_kl: float | None = 0.02
    """Stop a rollout's updates once the approximate KL passes 1.5x this (None: never)."""
    ent_coef: float = 0.0
    """Entropy bonus weight."""
    vf_coef: float = 0.5
    """Value-loss weight."""
    max_grad_norm: float = 0.5
    """Gradient-norm clip."""
    gamma: float = 0.99
    """Discount per 25 ms step (0.99: a 2.5 s horizon; < 1 is what rewards speed)."""
    gae_lambda: float = 0.95
    """GAE lambda."""

    def __post_init__(self) -> None:
        check_fields(
            self,
            "rl.ppo",
            {
                "n_steps": (lambda v: positive_int(v) and v >= 2, "an integer >= 2"),
                "batch_size": POSITIVE_INT,
                "n_epochs": POSITIVE_INT,
                "learning_rate": optional(POSITIVE),
                "clip_range": optional(POSITIVE),
                "target_kl": optional(POSITIVE),
                "ent_coef": NON_NEGATIVE,
                "vf_coef": NON_NEGATIVE,
                "max_grad_norm": POSITIVE,
                "gamma": (lambda v: positive(v) and v <= 1, "a discount in (0, 1]"),
                "gae_lambda": (lambda v: non_negative(v) and v <= 1, "a value in [0, 1]"),
            },
        )


@dataclass(frozen=True)
class FineTuneConfig:
    """What keeps a BC actor intact through PPO's first updates (see trainers/rl.py)."""

    log_std_init: float | None = None
    """Initial log of the action std in [-1, 1] units (None: -2.5 (std 0.08) from a model,
    -0.5 from scratch)."""
    critic_warmup: int | None = None
    """Rollouts at the start that train only the critic (None: 2 from a model, 0 from scratch)."""
    critic_learning_rate: float = 3e-4
    """Critic Adam learning rate (value head and its encoder)."""
    share_features_extractor: bool = False
    """Actor and critic share one LiDAR encoder (cheaper; value gradients then reach the actor)."""

    def __post_init__(self) -> None:
        check_fields(
            self,
            "rl.finetune",
            {
                "critic_warmup": optional(NON_NEGATIVE_INT),
                "critic_learning_rate": NON_NEGATIVE,
            },
        )


@dataclass(frozen=True)
class RLConfig:
    """PPO training: the start, the budget and validation here; PPO's hyper-parameters in
    ``ppo``, the fine-tuning knobs in ``finetune``."""

    init: Path | None = None
    """Model directory to start from (BC or DAgger); None trains from scratch."""
    variant: Literal["L", "M", "S"] = "L"
    """Network size when training from scratch (a start model brings its own)."""
    total_timesteps: int = 40_960
    """Environment steps over all cars (PPO stops after the rollout that reaches this)."""
    n_envs: int = 32
    """Cars driving at once (one compiled vector-env step)."""
    val_every: int = 3
    """Validate (deterministic, held-out val seeds) every this many rollouts; 0: only at the end."""
    val_episodes: int = 32
    """Val seeds per validation (the first N of the val split)."""
    keep: Literal["best", "final"] = "best"
    """Which policy becomes the model: the best validated one (start included) or the last."""
    stats_steps: int = 200
    """From scratch: random-driving steps per car to estimate the scan normalisation."""
    seed: int = 0
    """Seed for the weights, the action noise and the training episodes."""
    device: Literal["auto", "cpu", "cuda"] = "cpu"
    """Torch device (PPO on this small network is usually fastest on CPU)."""
    threads: int = 1
    """CPU threads for torch (0: all cores). One is fastest here: PPO's batches are small, the
    simulator already uses every core, and more threads contend on a shared machine."""
    ppo: PPOConfig = field(default_factory=PPOConfig)
    """PPO's hyper-parameters."""
    finetune: FineTuneConfig = field(default_factory=FineTuneConfig)
    """Action noise, critic warm-up and critic of its own for starting from a model."""

    def __post_init__(self) -> None:
        check_fields(
            self,
            "rl",
            {
                "total_timesteps": POSITIVE_INT,
                "n_envs": POSITIVE_INT,
                "val_every": NON_NEGATIVE_INT,
                "val_episodes": POSITIVE_INT,
                "stats_steps": POSITIVE_INT,
                "threads": THREADS,
            },
        )
        rollout = self.n_envs * self.ppo.n_steps
        if self.ppo.batch_size > rollout:
            raise ConfigError(
                f"--rl.ppo.batch-size {self.ppo.batch_size} is invalid: batch_size="
                f"{self.ppo.batch_size} exceeds a rollout (n_envs * n_steps = {rollout}); lower "
                "--rl.ppo.batch-size or raise --rl.ppo.n-steps"
            )

    def resolved(self) -> RLConfig:
        """This config with its ``None`` fields filled in for its start (model or scratch)."""
        # The CLI spelling `--rl.init none` arrives as the path "none".
        init = None if self.init is None or str(self.init).lower() == "none" else self.init
        defaults = FROM_BC if init is not None else FROM_SCRATCH
        sections = {}
        for name, values in defaults.items():
            section = getattr(self, name)
            fill = {k: v for k, v in values.items() if getattr(section, k) is None}
            sections[name] = dataclasses.replace(section, **fill)
        return dataclasses.replace(self, init=init, **sections)
