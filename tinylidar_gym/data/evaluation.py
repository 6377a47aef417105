"""Evaluate a driver on a fixed list of seeds with the vector env, recording every episode.

Each episode gets the same directory as a collected one (``simulation.mcap``, ``config.yaml``,
``result.json``), so ``summarize`` and Foxglove work on evaluation runs too.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tinylidar_gym.data.atomic import atomic_write_json
from tinylidar_gym.data.episode import (
    MCAP_FILE,
    EpisodeConfig,
    episode_dir,
    episode_result,
    write_config,
    write_result,
)
from tinylidar_gym.data.progress import progress_bar
from tinylidar_gym.envs.info import info_row
from tinylidar_gym.envs.vector_env import TinyLidarVectorEnv
from tinylidar_gym.experts.expert import Expert, ExpertConfig
from tinylidar_gym.recording.wrapper import STEP_KEYS
from tinylidar_gym.recording.writer import EpisodeWriter
from tinylidar_gym.sim.config import EnvConfig
from tinylidar_gym.tracks.layout import Layout

EVALUATION_FILE = "evaluation.json"

BatchPolicy = Callable[[np.ndarray, TinyLidarVectorEnv], np.ndarray]
"""``actions (N, 2) = policy(observations (N, n_beams), venv)``; the venv is for privileged
drivers (the expert) and may be ignored."""


PolicyFactory = Callable[[], BatchPolicy]
"""Builds a :data:`BatchPolicy` in the process that drives. Picklable factories (configs, a model
directory path) let cluster workers build their own policy instead of receiving a loaded one."""


def expert_batch_policy(cfg: EnvConfig, expert_cfg: ExpertConfig | None = None) -> BatchPolicy:
    expert = Expert(cfg, expert_cfg)
    return lambda obs, venv: expert.act_all(venv.world)


@dataclass(frozen=True)
class ExpertDriver:
    """A picklable :data:`PolicyFactory` for the expert: configs only, the planner is built where
    it drives."""

    env: EnvConfig
    expert: ExpertConfig | None = None

    def __call__(self) -> BatchPolicy:
        return expert_batch_policy(self.env, self.expert)


@dataclass
class _Episode:
    index: int
    seed: int
    layout: Layout
    writer: EpisodeWriter | None
    steps: int = 0
    ret: float = 0.0


def evaluate(
    policy: BatchPolicy,
    seeds: list[int],
    run_dir: str | Path,
    env_cfg: EnvConfig,
    split: str,
    driver: str,
    num_envs: int = 16,
    record: bool = True,
    progress: bool = True,
    expert_cfg: ExpertConfig | None = None,
) -> dict[str, Any]:
    """Drive ``policy`` on every seed once; writes episode directories and ``evaluation.json``."""
    run_dir = Path(run_dir)
    check_new_evaluation(run_dir)
    t0 = time.perf_counter()
    results = drive_seeds(
        policy, seeds, run_dir, env_cfg, split, driver, num_envs, record, progress, expert_cfg
    )
    return write_evaluation(run_dir, driver, split, seeds, results, time.perf_counter() - t0)


def check_new_evaluation(run_dir: Path) -> None:
    """Refuse to evaluate into a directory that already holds a finished evaluation."""
    if (run_dir / EVALUATION_FILE).exists():
        raise FileExistsError(
            f"{run_dir} already holds an evaluation; runs are never overwritten. Choose another "
            "--run-name."
        )


def write_evaluation(
    run_dir: Path,
    driver: str,
    split: str,
    seeds: list[int],
    results: list[dict[str, Any]],
    wall_s: float,
) -> dict[str, Any]:
    """Write ``evaluation.json`` (:func:`aggregate` of ``results``, in seed order) and return it."""
    report = {"driver": driver, "split": split, "seeds": [seeds[0], seeds[-1]], "wall_s": wall_s}
    report.update(aggregate(results))
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(run_dir / EVALUATION_FILE, report)
    return report


def drive_seeds(
    policy: BatchPolicy,
    seeds: list[int],
    run_dir: Path,
    env_cfg: EnvConfig,
    split: str,
    driver: str,
    num_envs: int = 16,
    record: bool = True,
    progress: bool = True,
    expert_cfg: ExpertConfig | None = None,
    parallel: bool | None = None,
    first_index: int = 0,
) -> list[dict[str, Any]]:
    """Drive ``policy`` on every seed once with ``min(num_envs, len(seeds))`` cars; writes the
    episode directories (when ``record``) and returns the ``result.json`` dicts in seed order.

    ``parallel`` steps the cars on all cores (default: when there is more than one car); the
    results never depend on it. ``first_index``: the episode index of ``seeds[0]`` (a chunk of a
    longer seed list starts further on).
    """
    n = max(1, min(num_envs, len(seeds)))
    venv = TinyLidarVectorEnv(n, config=env_cfg, parallel=n > 1 if parallel is None else parallel)
    obs, infos = venv.reset(seed=list(seeds[:n]))
    venv.seed_queue.extend(seeds[n:])
    index_of = {s: k for k, s in enumerate(seeds, start=first_index)}
    dt_ns = int(round(env_cfg.control_dt_s * 1e9))
    results: dict[int, dict[str, Any]] = {}

    def start(i: int) -> _Episode | None:
        seed = venv.episode_seeds[i]
        if seed is None or seed in results:
            return None
        writer = None
        layout = venv.layouts[i]
        assert layout is not None
        if record:
            out = episode_dir(run_dir, split, seed)
            out.mkdir(parents=True, exist_ok=True)
            writer = EpisodeWriter(
                out / MCAP_FILE,
                env_cfg.lidar,
                env_cfg.lidar.mount_offset_m,
                layout.course.walls,
                layout.obstacles.boxes,
                metadata={"seed": seed, "split": split, "driver": driver},
            )
        return _Episode(index_of[seed], seed, layout, writer)

    running = [start(i) for i in range(n)]
    bar = progress_bar(total=len(seeds), desc=f"evaluate {driver}", unit="ep", disable=not progress)
    while len(results) < len(seeds):
        actions = np.asarray(policy(obs, venv), dtype=np.float32)
        prev_obs, prev = obs, infos
        obs, rewards, terminated, truncated, infos = venv.step(actions)
        done = terminated | truncated
        for i in range(n):
            ep = running[i]
            if ep is None:
                if done[i]:
                    running[i] = start(i)
                continue
            info = infos["final_info"][i] if done[i] else info_row(infos, i)
            if ep.writer is not None:
                outcome = (float(rewards[i]), bool(terminated[i]), bool(truncated[i]))
                pose = (prev["x_m"][i], prev["y_m"][i], prev["yaw_rad"][i])
                _record_step(ep, ep.steps * dt_ns, prev_obs[i], pose, prev["speed_mps"][i],
                             actions[i], info, outcome)  # fmt: skip
            ep.steps += 1
            ep.ret += float(rewards[i])
            if done[i]:
                results[ep.seed] = _finish(ep, info, run_dir, env_cfg, split, driver, expert_cfg)
                bar.update(1)
                running[i] = start(i)
    bar.close()
    return [results[s] for s in seeds]


def _record_step(
    ep: _Episode,
    t_ns: int,
    scan: np.ndarray,
    pose: tuple[float, float, float],
    speed_mps: float,
    action: np.ndarray,
    info: dict[str, Any],
    outcome: tuple[float, bool, bool],
) -> None:
    """Write one step of ``ep``: the scan, pose and speed before the action, the command it
    gave and the step's ``info`` with its ``(reward, terminated, truncated)``."""
    step = {key: info[key] for key in STEP_KEYS}
    step.update(reward=outcome[0], terminated=outcome[1], truncated=outcome[2])
    assert ep.writer is not None
    ep.writer.write_step(
        t_ns,
        scan,
        pose,
        speed_mps,
        (info["steer_cmd_rad"], info["speed_cmd_mps"]),
        action.astype(np.float64),
        step,
    )


def _finish(
    ep: _Episode,
    info: dict[str, Any],
    run_dir: Path,
    env_cfg: EnvConfig,
    split: str,
    driver: str,
    expert_cfg: ExpertConfig | None,
) -> dict[str, Any]:
    if ep.writer is not None:
        ep.writer.close()
    summary = {
        **info,
        "steps": ep.steps,
        "return": ep.ret,
        "mean_speed_mps": info["distance_m"] / info["time_s"] if info["time_s"] > 0 else 0.0,
    }
    cfg = EpisodeConfig(ep.seed, split, env_cfg, None, driver, expert_cfg, ep.index)
    result = episode_result(summary, cfg)
    if ep.writer is not None:
        out = episode_dir(run_dir, split, ep.seed)
        write_config(out, cfg, ep.layout)
        write_result(out, result)
    return result


# ---------------------------------------------------------------------------------- on Ray


def _drive_chunk(
    make_policy: PolicyFactory,
    seeds: list[int],
    run_dir: Path,
    env_cfg: EnvConfig,
    split: str,
    driver: str,
    num_envs: int,
    record: bool,
    expert_cfg: ExpertConfig | None,
    first_index: int,
) -> list[dict[str, Any]]:
    # One CPU per task: cars stepped one after another, not on the node's every core.
    return drive_seeds(
        make_policy(), seeds, run_dir, env_cfg, split, driver, num_envs, record,
        progress=False, expert_cfg=expert_cfg, parallel=False, first_index=first_index,
    )  # fmt: skip


def evaluate_on_ray(
    make_policy: PolicyFactory,
    seeds: list[int],
    run_dir: str | Path,
    env_cfg: EnvConfig,
    split: str,
    driver: str,
    num_envs: int = 16,
    record: bool = True,
    progress: bool = True,
    expert_cfg: ExpertConfig | None = None,
    workers: int = -1,
) -> dict[str, Any]:
    """:func:`evaluate` with chunks of seeds as Ray tasks (``workers`` at once; -1: the
    cluster's CPUs). ``make_policy`` must be picklable (see :data:`PolicyFactory`). Same episode
    directories and ``evaluation.json`` as a local run; a failed chunk raises, as a local error
    does."""
    from tinylidar_gym.data.ray_backend import (
        chunk_seeds,
        cluster_cpus,
        connect,
        describe_error,
        stream,
    )

    ray = connect()
    run_dir = Path(run_dir)
    check_new_evaluation(run_dir)
    chunks = chunk_seeds(seeds, num_envs, workers if workers > 0 else cluster_cpus(ray))
    task = ray.remote(num_cpus=1, max_retries=0)(_drive_chunk)
    policy_ref = ray.put(make_policy)
    starts = np.cumsum([0] + [len(c) for c in chunks]).tolist()
    calls = (
        (k, (policy_ref, chunk, run_dir, env_cfg, split, driver, num_envs, record, expert_cfg,
             starts[k]))
        for k, chunk in enumerate(chunks)
    )  # fmt: skip
    t0 = time.perf_counter()
    results: dict[int, dict[str, Any]] = {}
    bar = progress_bar(total=len(seeds), desc=f"evaluate {driver}", unit="ep", disable=not progress)
    with bar, closing(stream(ray, task, calls, len(chunks))) as finished:
        for k, out in finished:
            if isinstance(out, BaseException):
                chunk = chunks[k]
                raise RuntimeError(
                    f"evaluating seeds {chunk[0]}..{chunk[-1]} failed on the cluster: "
                    f"{describe_error(out)}"
                ) from out
            results.update((r["seed"], r) for r in out)
            bar.update(len(out))
    wall_s = time.perf_counter() - t0
    return write_evaluation(run_dir, driver, split, seeds, [results[s] for s in seeds], wall_s)


def aggregate(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The evaluation figures over per-episode results (``result.json`` dicts)."""
    n = len(results)
    success = [r for r in results if r["success"]]
    failed = [r for r in results if not r["success"]]
    collided = [r for r in failed if r["reason"].startswith("collision")]
    m = [r["metrics"] for r in results]

    def mean(values: list[float]) -> float | None:
        return float(np.mean(values)) if values else None

    return {
        "episodes": n,
        "success_rate": len(success) / n if n else math.nan,
        "reasons": dict(Counter(r["reason"] for r in results)),
        "mean_distance_m": mean([x["distance_m"] for x in m]),
        "mean_distance_before_collision_m": mean([r["metrics"]["distance_m"] for r in collided]),
        "mean_distance_before_failure_m": mean([r["metrics"]["distance_m"] for r in failed]),
        "checkpoint_pass_rate": mean([x["checkpoint_pass_rate"] for x in m]),
        "mean_speed_mps": mean([x["mean_speed_mps"] for x in m]),
        "mean_lap_time_s": mean([r["metrics"]["duration_s"] for r in success]),
        "failed_seeds": [r["seed"] for r in failed],
    }
