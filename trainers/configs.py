"""Trainer configurations (plain dataclasses: importing them loads no torch)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from tinylidar_gym.data.relabel import PseudoPositionConfig


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
        for name in ("beam_dropout_prob", "range_clip_prob"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"augment.{name} must be in [0, 1], got {value}.")
        if self.scan_noise_std_m < 0:
            raise ValueError(f"augment.scan_noise_std_m must be >= 0, got {self.scan_noise_std_m}.")

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
