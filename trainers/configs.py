"""Trainer configurations (plain dataclasses: importing them loads no torch).

Each validates itself when built: a bad value raises
:class:`~tinylidar_gym.sim.config.ConfigError` naming the command-line flag and what to give.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from tinylidar_gym.data.relabel import PseudoPositionConfig
from tinylidar_gym.sim.config import ConfigError


def _require(ok: bool, flag: str, value: Any, rule: str) -> None:
    """Raise :class:`ConfigError` for ``--<flag> <value>`` unless ``ok``."""
    if not ok:
        raise ConfigError(f"--{flag.replace('_', '-')} {value!r} is invalid (give {rule})")


def _check_fields(cfg: Any, prefix: str, rules: dict[str, tuple[Any, str]]) -> None:
    """Check each field ``name`` of ``cfg`` with ``rules[name] = (predicate, rule text)``."""
    for name, (ok, rule) in rules.items():
        value = getattr(cfg, name)
        _require(bool(ok(value)), f"{prefix}.{name}", value, rule)


def _positive_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 1


def _non_negative_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _positive(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) and v > 0


def _non_negative(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) and v >= 0


POSITIVE_INT = (_positive_int, "an integer >= 1")
NON_NEGATIVE_INT = (_non_negative_int, "an integer >= 0")
POSITIVE = (_positive, "a number > 0")
NON_NEGATIVE = (_non_negative, "a number >= 0")
THREADS = (_non_negative_int, "an integer >= 0; 0 uses all cores")


@dataclass(frozen=True)
class AugmentConfig:
    """Training-time scan augmentation (everything off by default)."""

    scan_noise_std_m: float = 0.0
    """Std of Gaussian noise added to every range, m (0: off)."""
    beam_dropout_prob: float = 0.0
    """Chance that a beam reads no return (max range) (0: off)."""
    range_clip_prob: float = 0.0
    """Chance that a scan is clipped at a shorter maximum range (0: off)."""
    range_clip_min_m: float = 5.0
    """The clipping limit is drawn uniformly between this and the sensor's max range, m."""
    pseudo_positions: PseudoPositionConfig = field(default_factory=PseudoPositionConfig)
    """Scans re-cast from poses offset around the recorded ones, labelled by the expert,
    generated before training from the dataset's episodes (per_step 0: off)."""

    def __post_init__(self) -> None:
        probability = (lambda v: _non_negative(v) and v <= 1.0, "a probability in [0, 1]")
        _check_fields(
            self,
            "bc.augment",
            {
                "scan_noise_std_m": NON_NEGATIVE,
                "beam_dropout_prob": probability,
                "range_clip_prob": probability,
                "range_clip_min_m": NON_NEGATIVE,
            },
        )

    @property
    def online(self) -> bool:
        """Whether any per-batch perturbation is on."""
        return self.scan_noise_std_m > 0 or self.beam_dropout_prob > 0 or self.range_clip_prob > 0


@dataclass(frozen=True)
class BCConfig:
    """Behavioural-cloning hyper-parameters."""

    variant: Literal["L", "M", "S"] = "L"
    """Tiny Lidar Net size: L (all beams), M (every 2nd), S (every 4th)."""
    epochs: int = 12
    """Passes over the training episodes."""
    batch_size: int = 256
    """Samples per gradient step."""
    learning_rate: float = 1e-3
    """Adam learning rate."""
    ent_weight: float = 1e-3
    """imitation's entropy bonus weight."""
    l2_weight: float = 0.0
    """imitation's L2 penalty weight."""
    val_fraction: float = 0.1
    """Share of episodes held out for validation (split by episode, never by frame)."""
    seed: int = 0
    """Seed for the split, the initial weights and the batch order."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """auto: CUDA when available, else CPU."""
    threads: int = 0
    """CPU threads for torch (0: all cores)."""
    max_minutes: float | None = None
    """Stop after the epoch that crosses this wall-clock budget."""
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    """Scan augmentation (off by default)."""

    def __post_init__(self) -> None:
        _check_fields(
            self,
            "bc",
            {
                "epochs": POSITIVE_INT,
                "batch_size": POSITIVE_INT,
                "learning_rate": POSITIVE,
                "ent_weight": NON_NEGATIVE,
                "l2_weight": NON_NEGATIVE,
                "val_fraction": (lambda v: _non_negative(v) and v < 1, "a fraction in [0, 1)"),
                "threads": THREADS,
                "max_minutes": (lambda v: v is None or _positive(v), "minutes > 0, or leave out"),
            },
        )


@dataclass(frozen=True)
class DAggerConfig:
    """DAgger settings. The defaults are the README policy table's DAgger row (its figures are
    in the README, made by benchmarks/policy_table.py)."""

    rounds: int = 8
    """Aggregation rounds (round 0: the expert drives; later rounds: more and more the learner)."""
    steps_per_round: int = 15_000
    """Environment steps (= expert labels) gathered per round, at least. Only whole episodes
    are kept, and the cars still driving when the count is reached finish their episodes, so
    a round gathers up to about num_envs - 1 episodes more."""
    label_budget: int = 170_000
    """No round starts that could take the total past this many expert labels (about the size
    of the BC default's dataset, so the two compare at equal labels)."""
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

    def __post_init__(self) -> None:
        _check_fields(
            self,
            "dagger",
            {
                "rounds": POSITIVE_INT,
                "steps_per_round": POSITIVE_INT,
                "label_budget": POSITIVE_INT,
                "beta_rampdown_rounds": NON_NEGATIVE_INT,
                "num_envs": POSITIVE_INT,
                "bc_epochs_per_round": POSITIVE_INT,
                "final_epochs": NON_NEGATIVE_INT,
                "final_learning_rate": POSITIVE,
                "batch_size": POSITIVE_INT,
                "learning_rate": POSITIVE,
                "first_round_epochs": NON_NEGATIVE_INT,
                "takeover_deviation_m": NON_NEGATIVE,
                "takeover_hold_s": NON_NEGATIVE,
                "val_episodes": NON_NEGATIVE_INT,
                "dart_episodes": NON_NEGATIVE_INT,
                "stats_episodes": POSITIVE_INT,
                "threads": THREADS,
            },
        )


FROM_BC = {"learning_rate": 1e-4, "log_std_init": -2.5, "clip_range": 0.1, "critic_warmup": 2}
"""Defaults of the ``None`` fields of :class:`RLConfig` when starting from a model."""
FROM_SCRATCH = {"learning_rate": 3e-4, "log_std_init": -0.5, "clip_range": 0.2, "critic_warmup": 0}
"""Defaults of the ``None`` fields of :class:`RLConfig` when starting from scratch."""


@dataclass(frozen=True)
class RLConfig:
    """PPO hyper-parameters. ``None`` fields take their value from FROM_BC or FROM_SCRATCH."""

    init: Path | None = None
    """Model directory to start from (BC or DAgger); None trains from scratch."""
    variant: Literal["L", "M", "S"] = "L"
    """Network size when training from scratch (a start model brings its own)."""
    total_timesteps: int = 40_960
    """Environment steps over all cars (PPO stops after the rollout that reaches this)."""
    n_envs: int = 32
    """Cars driving at once (one compiled vector-env step)."""
    n_steps: int = 128
    """Steps per car per rollout (a rollout is n_envs * n_steps transitions)."""
    batch_size: int = 1024
    """Transitions per gradient step."""
    n_epochs: int = 3
    """Passes over each rollout."""
    learning_rate: float | None = None
    """Actor Adam learning rate (None: 1e-4 from a model, 3e-4 from scratch)."""
    critic_learning_rate: float = 3e-4
    """Critic Adam learning rate (value head and its encoder)."""
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
    log_std_init: float | None = None
    """Initial log of the action std in [-1, 1] units (None: -2.5 (std 0.08) from a model,
    -0.5 from scratch)."""
    critic_warmup: int | None = None
    """Rollouts at the start that train only the critic (None: 2 from a model, 0 from scratch)."""
    share_features_extractor: bool = False
    """Actor and critic share one LiDAR encoder (cheaper; value gradients then reach the actor)."""
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

    def resolved(self) -> RLConfig:
        """This config with its ``None`` fields filled in for its start (model or scratch)."""
        # The CLI spelling `--rl.init none` arrives as the path "none".
        init = None if self.init is None or str(self.init).lower() == "none" else self.init
        defaults = FROM_BC if init is not None else FROM_SCRATCH
        fill = {k: v for k, v in defaults.items() if getattr(self, k) is None}
        cfg = dataclasses.replace(self, init=init, **fill)
        cfg.validate()
        return cfg

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming a bad field."""
        optional = lambda ok, rule: (lambda v: v is None or ok(v), f"{rule}, or leave out")  # noqa: E731
        _check_fields(
            self,
            "rl",
            {
                "total_timesteps": POSITIVE_INT,
                "n_envs": POSITIVE_INT,
                "n_steps": (lambda v: _positive_int(v) and v >= 2, "an integer >= 2"),
                "batch_size": POSITIVE_INT,
                "n_epochs": POSITIVE_INT,
                "learning_rate": optional(_positive, "a number > 0"),
                "critic_learning_rate": NON_NEGATIVE,
                "clip_range": optional(_positive, "a number > 0"),
                "target_kl": optional(_positive, "a number > 0"),
                "ent_coef": NON_NEGATIVE,
                "vf_coef": NON_NEGATIVE,
                "max_grad_norm": POSITIVE,
                "gamma": (lambda v: _positive(v) and v <= 1, "a discount in (0, 1]"),
                "gae_lambda": (lambda v: _non_negative(v) and v <= 1, "a value in [0, 1]"),
                "critic_warmup": optional(_non_negative_int, "an integer >= 0"),
                "val_every": NON_NEGATIVE_INT,
                "val_episodes": POSITIVE_INT,
                "stats_steps": POSITIVE_INT,
                "threads": THREADS,
            },
        )
        if self.batch_size > self.n_envs * self.n_steps:
            raise ConfigError(
                f"--rl.batch-size {self.batch_size} is invalid: RLConfig.batch_size="
                f"{self.batch_size} exceeds a rollout (n_envs * n_steps = "
                f"{self.n_envs * self.n_steps}); lower --rl.batch-size or raise --rl.n-steps"
            )
