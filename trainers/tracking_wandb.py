"""The wandb tracker: offline by default, runs land in ``<dir>/wandb/``; `wandb sync` uploads.

Records the run config, the logged metrics (loss curves, validation, evaluation figures in the
summary), gradient/parameter histograms, system metrics, and the model files as an artifact.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from trainers.tracking import Tracker, TrackingConfig

ONLINE_INIT_TIMEOUT_S = 30.0
"""How long an online run waits for the wandb server before giving up (tracking then turns off
and training goes on); wandb's own default is 90 s."""


class WandbTracker(Tracker):
    """wandb in ``cfg.wandb_mode`` (offline by default); ``resume`` reopens a recorded run."""

    name = "wandb"

    def __init__(
        self,
        cfg: TrackingConfig,
        run_config: dict[str, Any],
        directory: Path,
        resume: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        import wandb

        self._wandb = wandb
        self.project = cfg.project
        directory.mkdir(parents=True, exist_ok=True)
        os.environ.setdefault("WANDB_SILENT", "true")
        resume_id = (resume or {}).get("run_id")
        # Online, wandb waits 90 s for its server by default; offline there is nothing to wait for.
        online = cfg.wandb_mode == "online"
        settings = wandb.Settings(init_timeout=ONLINE_INIT_TIMEOUT_S) if online else None
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
            settings=settings,
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

    def run_info(self) -> dict[str, dict[str, Any]]:
        if not self.run_id:
            return {}
        return {"wandb": {"run_id": self.run_id, "project": self.project}}


TRACKER = WandbTracker
