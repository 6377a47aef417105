"""``RecordEpisode``: a gymnasium wrapper that records every episode to an MCAP file.

Step ``k`` is recorded at simulation time ``t_k = k * control_dt``: the scan the policy saw at
``t_k``, the pose and speed at ``t_k``, the command computed from it (in effect from ``t_k``),
the raw action, and the step's results (reward, terminated, ...). The file is written under a
temporary name and renamed once complete, so a crash never leaves a half-written recording under
the final name.

When an episode ends, the recorder's background thread finishes its file (compresses the last
chunk, writes the index, renames it) while the caller goes on, typically with the next episode:
the file is in place a few milliseconds later. :meth:`RecordEpisode.close_recording` and
:meth:`RecordEpisode.close` wait until every file is in place (and raise a failed write), and so
do :func:`~tinylidar_gym.recording.read_episode` (for its file) and the end of the process.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from tinylidar_gym.recording.messages import InfoStepEncoder
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
        self._finishing: EpisodeWriter | None = None  # closed without waiting
        self._episode = -1
        self._step = 0
        self._obs: np.ndarray | None = None
        self._info: dict[str, Any] = {}
        self._dt_ns = int(round(env.unwrapped.config.control_dt_s * 1e9))  # type: ignore[attr-defined]
        # The step message straight from ``info`` (no step dict): the bytes StepEncoder gives for
        # {**{k: info[k] for k in STEP_KEYS}, reward, terminated, truncated}.
        self._encode_step = InfoStepEncoder(STEP_KEYS)

    def _episode_path(self) -> Path:
        return Path(self._path(self._episode) if callable(self._path) else self._path)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        self._finish_recording()
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
        writer = self._writer
        if writer is not None and self._obs is not None:
            # The step message straight from ``info`` (the writer's hot path).
            prev = self._info
            writer.write_step_message(
                self._step * self._dt_ns,
                self._obs,
                (prev["x_m"], prev["y_m"], prev["yaw_rad"]),
                (info["steer_cmd_rad"], info["speed_cmd_mps"]),
                action,
                self._encode_step(info, reward, terminated, truncated, prev["speed_mps"]),
            )
        self._step += 1
        self._obs, self._info = obs, info
        if terminated or truncated:
            self._finish_recording()
        return obs, reward, terminated, truncated, info

    def close_recording(self) -> None:
        """Finish the current file and wait until it (and any earlier one still being finished)
        is renamed into place; raises a failed write. Safe to call more than once."""
        self._finish_recording()
        if self._finishing is not None:
            writer, self._finishing = self._finishing, None
            writer.close()

    def _finish_recording(self) -> None:
        """Hand the current file to the background thread to finish, without waiting (but
        after checking the one before, which is normally done by now)."""
        if self._writer is not None:
            writer, self._writer = self._writer, None
            writer.close(wait=False)
            previous, self._finishing = self._finishing, writer
            if previous is not None:
                previous.close()

    def close(self) -> None:
        self.close_recording()
        super().close()
