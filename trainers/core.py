"""What every trainer does around its algorithm: refuse to overwrite a model, check the trackers,
seed and size torch, and keep the best candidate seen so far.

BC, DAgger and PPO differ in how they learn; they share this preamble and the rule that the best
validated candidate (not the last) becomes the model.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Generic, TypeVar

import torch

from tinylidar_gym.sim.errors import UserError
from trainers.tracking import TrackingConfig, require_trackers

T = TypeVar("T")


class ModelExistsError(UserError, FileExistsError):
    """The output directory already holds a model; models are never overwritten."""


def refuse_existing_model(out_dir: str | Path) -> Path:
    """``out_dir`` as a Path; :class:`ModelExistsError` if it already holds a model.json."""
    out = Path(out_dir)
    if (out / "model.json").exists():
        raise ModelExistsError(
            f"{out} already holds a model; models are never overwritten (choose another --out)"
        )
    return out


def start_training(
    out_dir: str | Path, seed: int, threads: int, tracking: TrackingConfig | None = None
) -> Path:
    """The common preamble: refuse an existing model, fail now if a tracker ``tracking`` asks
    for is not installed, create ``out_dir``, seed torch and set its CPU threads (0: leave
    torch's default, all cores). Returns ``out_dir`` as a Path."""
    out = refuse_existing_model(out_dir)
    if tracking is not None:
        require_trackers(tracking)  # a missing tracker extra fails before any work is done
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    if threads > 0:
        torch.set_num_threads(threads)
    return out


class KeepBest(Generic[T]):
    """The best candidate offered so far, by ``better(figures, best_figures_or_None)``.

    ``figures`` are the candidate's validation figures (a dict); ``candidate`` is whatever the
    trainer needs to rebuild it (a network, a checkpoint's step or epoch).
    """

    def __init__(self, better: Callable[[dict[str, Any], dict[str, Any] | None], bool]) -> None:
        self.better = better
        self.figures: dict[str, Any] | None = None
        self.candidate: T | None = None

    def offer(self, figures: dict[str, Any], candidate: T) -> bool:
        """Keep ``candidate`` if it beats the best so far; returns whether it was kept."""
        if not self.better(figures, self.figures):
            return False
        self.figures, self.candidate = figures, candidate
        return True


def lower_val_mse(a: dict[str, Any], b: dict[str, Any] | None) -> bool:
    """BC's rule: ``a`` has the lower validation MSE (the first candidate always wins)."""
    return b is None or a["val/mse"] < b["val/mse"]
