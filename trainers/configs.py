"""Trainer configurations (plain dataclasses: importing them loads no torch): BC here, DAgger's
and PPO's in their own modules, all importable from here.

Each validates itself when built: a bad value raises
:class:`~tinylidar_gym.sim.config.ConfigError` naming the command-line flag and what to give.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from tinylidar_gym.data.relabel import PseudoPositionConfig
from trainers.config_checks import (
    NON_NEGATIVE,
    POSITIVE,
    POSITIVE_INT,
    THREADS,
    check_fields,
    non_negative,
    positive,
)
from trainers.dagger_config import DAggerBCConfig, DAggerConfig, DemoConfig, TakeoverConfig
from trainers.rl_config import FROM_BC, FROM_SCRATCH, FineTuneConfig, PPOConfig, RLConfig

__all__ = [
    "FROM_BC",
    "FROM_SCRATCH",
    "AugmentConfig",
    "BCConfig",
    "DAggerBCConfig",
    "DAggerConfig",
    "DemoConfig",
    "FineTuneConfig",
    "PPOConfig",
    "RLConfig",
    "TakeoverConfig",
]


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
        probability = (lambda v: non_negative(v) and v <= 1.0, "a probability in [0, 1]")
        check_fields(
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
        check_fields(
            self,
            "bc",
            {
                "epochs": POSITIVE_INT,
                "batch_size": POSITIVE_INT,
                "learning_rate": POSITIVE,
                "ent_weight": NON_NEGATIVE,
                "l2_weight": NON_NEGATIVE,
                "val_fraction": (lambda v: non_negative(v) and v < 1, "a fraction in [0, 1)"),
                "threads": THREADS,
                "max_minutes": (lambda v: v is None or positive(v), "minutes > 0, or leave out"),
            },
        )
