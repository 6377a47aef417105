"""One experiment-tracking interface for every trainer; wandb (offline by default) or none.

Trainers talk to a :class:`Tracker` only; no trainer imports wandb. A tracker that fails
mid-run (disk full, service gone) warns once and turns itself off: training goes on and the
model is still saved.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

TrackerName = Literal["wandb", "none"]
WandbMode = Literal["offline", "online", "disabled"]


@dataclass(frozen=True)
class TrackingConfig:
    """Where and how runs are tracked."""

    tracker: TrackerName = "wandb"
    """'wandb' or 'none'."""
    wandb_mode: WandbMode = "offline"
    """wandb mode: offline (default; `wandb sync` later), online, or disabled."""
    project: str = "tinylidar"
    """Project name in the tracker."""
    run_name: str | None = None
    """Run name (default: the tracker's)."""


class Tracker:
    """No-op base: the 'none' tracker, and the interface every tracker implements."""

    name = "none"

    def __init__(self) -> None:
        self.run_id: str | None = None
        self._failed = False

    def _guard(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        if self._failed:
            return None
        try:
            return fn(*args, **kwargs)
        except Exception as exc:  # a tracker must never stop training
            self._failed = True
            warnings.warn(
                f"{self.name} tracking failed during {what} ({type(exc).__name__}: {exc}); "
                "tracking is off for the rest of this run, training goes on.",
                RuntimeWarning,
                stacklevel=3,
            )
            return None

    def log(self, metrics: dict[str, float], step: int) -> None:
        """Scalar metrics at ``step``."""

    def watch(self, model: Any, log_every: int) -> None:
        """Gradient and parameter histograms of a torch module every ``log_every`` batches."""

    def log_model(self, model_dir: Path, name: str) -> None:
        """The model directory as an artifact."""

    def summary(self, values: dict[str, Any]) -> None:
        """Final values of the run (e.g. evaluation metrics)."""

    def finish(self) -> None:
        """Close the run."""


class WandbTracker(Tracker):
    """wandb in offline mode by default: runs land in ``<dir>/wandb/``; `wandb sync` uploads."""

    name = "wandb"

    def __init__(
        self,
        cfg: TrackingConfig,
        run_config: dict[str, Any],
        directory: Path,
        resume_id: str | None = None,
    ) -> None:
        super().__init__()
        import wandb

        self._wandb = wandb
        directory.mkdir(parents=True, exist_ok=True)
        os.environ.setdefault("WANDB_SILENT", "true")
        self.run = self._guard(
            "init",
            wandb.init,
            project=cfg.project,
            name=cfg.run_name,
            mode=cfg.wandb_mode,
            dir=str(directory),
            config=run_config,
            id=resume_id,
            resume="allow" if resume_id else None,
            reinit="finish_previous",
        )
        if self.run is not None:
            self.run_id = self.run.id

    def log(self, metrics: dict[str, float], step: int) -> None:
        if self.run is not None:
            self._guard("log", self.run.log, metrics, step=step)

    def watch(self, model: Any, log_every: int) -> None:
        if self.run is not None:
            self._guard("watch", self.run.watch, model, log="all", log_freq=log_every)

    def log_model(self, model_dir: Path, name: str) -> None:
        if self.run is None:
            return

        def _log() -> None:
            artifact = self._wandb.Artifact(name, type="model")
            for file in sorted(Path(model_dir).glob("model.*")):
                artifact.add_file(str(file))
            self.run.log_artifact(artifact)

        self._guard("log_model", _log)

    def summary(self, values: dict[str, Any]) -> None:
        if self.run is not None:
            self._guard("summary", self.run.summary.update, values)

    def finish(self) -> None:
        if self.run is not None:
            self._guard("finish", self.run.finish)
            self.run = None


def make_tracker(cfg: TrackingConfig, run_config: dict[str, Any], directory: Path) -> Tracker:
    """The tracker ``cfg`` asks for (``none`` also when wandb mode is 'disabled')."""
    if cfg.tracker == "none" or (cfg.tracker == "wandb" and cfg.wandb_mode == "disabled"):
        return Tracker()
    if cfg.tracker == "wandb":
        return WandbTracker(cfg, run_config, directory)
    raise ValueError(f"unknown tracker {cfg.tracker!r}; use 'wandb' or 'none'.")


def tracker_for_model(model_dir: Path, model_meta: dict[str, Any], mode: WandbMode) -> Tracker:
    """A tracker that logs into the run that trained the model (e.g. its evaluation)."""
    info = model_meta.get("metadata", {}).get("tracker") or {}
    if info.get("name") != "wandb" or not info.get("run_id") or mode == "disabled":
        return Tracker()
    cfg = TrackingConfig(wandb_mode=mode)
    return WandbTracker(cfg, {}, Path(model_dir), resume_id=info["run_id"])
