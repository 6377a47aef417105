"""What PPO training reports while it runs: SB3 logger -> our Tracker, rollout episode figures,
periodic validation on held-out seeds, and which validated policy is best."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import KVWriter

from trainers.tracking import Tracker


class TrackerOutput(KVWriter):
    """SB3 logger output that forwards numeric values (train/*, rollout/*, time/*) to a Tracker."""

    def __init__(self, tracker: Tracker) -> None:
        self.tracker = tracker

    def write(self, key_values: dict[str, Any], key_excluded: Any, step: int = 0) -> None:
        metrics = {
            k: float(v)
            for k, v in key_values.items()
            if isinstance(v, int | float | np.integer | np.floating) and math.isfinite(float(v))
        }
        if metrics:
            self.tracker.log(metrics, step=step)

    def close(self) -> None:
        pass


class RolloutCallback(BaseCallback):
    """Episode figures of each rollout into the SB3 logger (so into the tracker), validation
    every ``val_every`` rollouts (and at the start and the end), a progress line per rollout."""

    def __init__(
        self, validate: Callable[[int], dict[str, Any]], val_every: int, progress: bool
    ) -> None:
        super().__init__()
        self.validate = validate
        self.val_every = val_every
        self.progress = progress
        self.rollouts = 0
        self.last_validated = -1
        self.t0 = time.perf_counter()

    def _on_training_start(self) -> None:
        self._returns = np.zeros(self.training_env.num_envs)
        self._episodes: list[dict[str, Any]] = []
        self._validate()  # the start is a candidate too

    def _validate(self) -> None:
        self.last_validated = self.num_timesteps
        figures = self.validate(self.num_timesteps)
        for key in ("success_rate", "checkpoint_pass_rate", "mean_speed_mps", "mean_lap_time_s"):
            if figures.get(key) is not None:
                self.logger.record(f"val/{key}", figures[key])

    def _on_step(self) -> bool:
        # Called before SB3 adds the bootstrap value to truncated rewards: these are env rewards.
        self._returns += self.locals["rewards"]
        for i in np.flatnonzero(self.locals["dones"]):
            info = self.locals["infos"][i]
            self._episodes.append(
                {
                    "return": float(self._returns[i]),
                    "success": bool(info["is_success"]),
                    "collision": str(info["end_reason"]).startswith("collision"),
                    "time_s": float(info["time_s"]),
                    "speed_mps": float(info["distance_m"]) / max(float(info["time_s"]), 1e-9),
                    "progress": float(info["progress"]),
                }
            )
            self._returns[i] = 0.0
        return True

    def _on_rollout_end(self) -> None:
        self.rollouts += 1
        eps, self._episodes = self._episodes, []
        record = self.logger.record
        line = ""
        if eps:
            laps = [e["time_s"] for e in eps if e["success"]]
            success = float(np.mean([e["success"] for e in eps]))
            record("rollout/episodes", len(eps))
            record("rollout/ep_return_mean", float(np.mean([e["return"] for e in eps])))
            record("rollout/success_rate", success)
            record("rollout/collision_rate", float(np.mean([e["collision"] for e in eps])))
            record("rollout/progress_mean", float(np.mean([e["progress"] for e in eps])))
            record("rollout/speed_mps_mean", float(np.mean([e["speed_mps"] for e in eps])))
            if laps:
                record("rollout/lap_time_s_mean", float(np.mean(laps)))
            lap = f"{np.mean(laps):5.2f} s" if laps else "  -    "
            line = f"{len(eps):3d} episodes  success {success:6.1%}  lap {lap}"
        if self.val_every and self.rollouts % self.val_every == 0:
            self._validate()
        if self.progress:
            elapsed = time.perf_counter() - self.t0
            steps = f"{self.num_timesteps:9,d} steps"
            print(f"rollout {self.rollouts:4d}  {steps}  {line}  {elapsed:6.0f} s")

    def _on_training_end(self) -> None:
        if self.last_validated != self.num_timesteps:
            self._validate()
        self.logger.dump(step=self.num_timesteps)  # the last update's train/* figures
