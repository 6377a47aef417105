"""One collection job and one episode of it: what a run asks for, and the task a worker runs.

:class:`CollectJob` is what a run does (and what its manifest stores); :func:`collect_task`
drives one seed of it into its episode directory and reports a status, never an exception, so
that one bad seed never stops the others (:mod:`tinylidar_gym.data.collect` runs the tasks).
"""

from __future__ import annotations

import errno
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym

from tinylidar_gym.data.episode import (
    MCAP_FILE,
    EpisodeConfig,
    episode_dir,
    episode_result,
    write_config,
    write_result,
)
from tinylidar_gym.data.rollout import run_episode
from tinylidar_gym.data.seeds import split_seeds
from tinylidar_gym.envs.tinylidar_env import TinyLidarEnv
from tinylidar_gym.experts.expert import Expert, ExpertConfig, with_collection_noise
from tinylidar_gym.sim.config import EnvConfig, config_to_dict
from tinylidar_gym.sim.errors import UserError


class CollectConfigError(UserError, ValueError):
    """A collection job asks for nothing or for seeds outside its split."""


@dataclass(frozen=True)
class CollectJob:
    """What one collection run does (also stored in its manifest)."""

    run_dir: Path
    split: str
    first_episode: int
    episodes: int
    env: EnvConfig = field(default_factory=EnvConfig)
    expert: ExpertConfig = field(default_factory=ExpertConfig)
    record: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.episodes, bool) or not isinstance(self.episodes, int):
            raise CollectConfigError(
                f"episodes={self.episodes!r} must be an integer (--episodes N)"
            )
        if self.episodes < 1:
            raise CollectConfigError(
                f"--episodes {self.episodes} collects nothing (pass --episodes 1 or more)"
            )
        split_seeds(self.split, self.first_episode, self.episodes)  # the range must fit

    @property
    def seeds(self) -> list[int]:
        """The seeds of this run's episodes, in order."""
        return split_seeds(self.split, self.first_episode, self.episodes)

    def config_doc(self) -> dict[str, Any]:
        return {
            "split": self.split,
            "first_episode": self.first_episode,
            "episodes": self.episodes,
            "env": config_to_dict(self.env),
            "expert": config_to_dict(self.expert),
            "record": self.record,
        }


# ---------------------------------------------------------------------------------- one episode

_WORKER_CACHE: dict[str, tuple[TinyLidarEnv, Expert]] = {}


def _env_and_expert(env_cfg: EnvConfig, expert_cfg: ExpertConfig) -> tuple[TinyLidarEnv, Expert]:
    # Worker processes run many episodes: build the env (and its compiled kernels) once.
    key = repr((env_cfg, expert_cfg))
    if key not in _WORKER_CACHE:
        _WORKER_CACHE.clear()
        _WORKER_CACHE[key] = (TinyLidarEnv(env_cfg), Expert(env_cfg, expert_cfg))
    return _WORKER_CACHE[key]


def record_episode(
    out_dir: Path,
    ep: EpisodeConfig,
    record: bool = True,
    env: TinyLidarEnv | None = None,
    expert: Expert | None = None,
) -> dict[str, Any]:
    """Drive one expert episode into ``out_dir``; returns its result (also ``result.json``).

    Order: ``config.yaml``, ``simulation.mcap`` (atomic on close), ``result.json`` last.
    """
    expert_cfg = ep.expert or ExpertConfig()
    if env is None or expert is None:
        env, expert = _env_and_expert(ep.env, expert_cfg)
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in out_dir.glob(".*.tmp"):
        stale.unlink()
    wrapped: gym.Env = with_collection_noise(env, expert_cfg)
    if record:
        from tinylidar_gym.recording.wrapper import RecordEpisode

        wrapped = RecordEpisode(wrapped, out_dir / MCAP_FILE)
    policy = expert.policy_for(env)
    summary = run_episode(wrapped, policy, seed=ep.seed)
    if record:
        wrapped.close_recording()  # type: ignore[attr-defined]
    layout = env.layout
    assert layout is not None
    write_config(out_dir, ep, layout)
    result = episode_result(summary, ep)
    write_result(out_dir, result)
    return result


def collect_task(job: CollectJob, index: int, seed: int) -> dict[str, Any]:
    """Worker entry point for episode ``index`` (seed ``seed``) of ``job``: never raises;
    failures come back as a status with the error (``disk_full`` set for a full disk)."""
    t0 = time.perf_counter()
    out = episode_dir(job.run_dir, job.split, seed)
    try:
        ep = EpisodeConfig(seed, job.split, job.env, None, "expert", job.expert, index)
        result = record_episode(out, ep, job.record)
        return {
            "seed": seed,
            "status": "done",
            "success": result["success"],
            "reason": result["reason"],
            "wall_s": time.perf_counter() - t0,
        }
    except Exception as exc:
        failed = {
            "seed": seed,
            "status": "failed",
            "error": f"{type(exc).__name__}: {exc}",
            "traceback": traceback.format_exc(limit=8),
            "wall_s": time.perf_counter() - t0,
        }
        if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
            failed["disk_full"] = str(exc)  # the whole run stops: the next seeds would fail too
        return failed
