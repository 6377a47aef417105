"""Trainer configurations (plain dataclasses: importing them loads no torch)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


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
