"""``RecordEpisode``: a gymnasium wrapper that records every episode to an MCAP file.

Step ``k`` is recorded at simulation time ``t_k = k * control_dt``: the scan the policy saw at
``t_k``, the pose and speed at ``t_k``, the command computed from it (in effect from ``t_k``),
the raw action, and the step's results (reward, terminated, ...). The file is written under a
temporary name and renamed when the episode ends, so a crash never leaves a half-written
recording under the final name.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from tinylidar_gym.recording.writer import EpisodeWriter

STEP_KEYS = (
    "progress_m",
    "progress",
    "checkpoints_passed",
    "checkpoints_total",
    "distance_m",
    "lateral_offset_m",
    "min_obstacle_clearance_m",
    "end_reason",
    "is_success",
)


class RecordEpisode(gym.Wrapper):
    """Record each episode of a ``TinyLidar-v0`` env (or a wrapper of one) to MCAP.

    Args:
        env: the env to record.
        path: the file to write, or ``f(episode_index) -> path`` for one file per episode.
        metadata: extra JSON-serialisable values stored in each file (seed is added).
    """

    def __init__(
        self,
        env: gym.Env,
        path: str | Path | Callable[[int], str | Path],
        metadata: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(env)
        self._path = path
        self._metadata = dict(metadata or {})
        self._writer: EpisodeWriter | None = None
        self._episode = -1
        self._step = 0
        self._obs: np.ndarray | None = None
        self._info: dict[str, Any] = {}
        self._dt_ns = int(round(env.unwrapped.config.control_dt_s * 1e9))  # type: ignore[attr-defined]

    def _episode_path(self) -> Path:
        return Path(self._path(self._episode) if callable(self._path) else self._path)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        self.close_recording()
        obs, info = self.env.reset(seed=seed, options=options)
        self._episode += 1
        base = self.env.unwrapped
        layout = base.layout  # type: ignore[attr-defined]
        cfg = base.config  # type: ignore[attr-defined]
        self._writer = EpisodeWriter(
            self._episode_path(),
            cfg.lidar,
            cfg.lidar.mount_offset_m,
            layout.course.walls,
            layout.obstacles.boxes,
            metadata={**self._metadata, "seed": seed, "episode": self._episode},
        )
        self._step = 0
        self._obs, self._info = obs, info
        return obs, info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        if self._writer is not None and self._obs is not None:
            prev = self._info
            step = {key: info[key] for key in STEP_KEYS}
            step.update(reward=float(reward), terminated=terminated, truncated=truncated)
            self._writer.write_step(
                self._step * self._dt_ns,
                self._obs,
                (prev["x_m"], prev["y_m"], prev["yaw_rad"]),
                prev["speed_mps"],
                (info["steer_cmd_rad"], info["speed_cmd_mps"]),
                np.asarray(action, dtype=np.float64),
                step,
            )
        self._step += 1
        self._obs, self._info = obs, info
        if terminated or truncated:
            self.close_recording()
        return obs, reward, terminated, truncated, info

    def close_recording(self) -> None:
        """Finish the current file (renamed into place). Safe to call more than once."""
        if self._writer is not None:
            writer, self._writer = self._writer, None
            writer.close()

    def close(self) -> None:
        self.close_recording()
        super().close()
