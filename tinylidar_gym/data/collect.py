"""Parallel, resumable collection of expert episodes into a run directory.

Run directory layout::

    <run_dir>/manifest.json         command, git commit, versions, config, seeds, timings
    <run_dir>/<split>/seed_<seed>/  one episode: config.yaml, simulation.mcap, result.json

Seeds come from the split's range (:mod:`tinylidar_gym.data.seeds`) and are assigned here, so two
workers never share one. Before a new run starts, every other run under the same output root is
checked: a run that would reuse another run's seeds of the same split is refused. Re-running the
same command resumes: finished episodes are skipped, failed ones retried.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import time
import traceback
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
from joblib import Parallel, delayed
from tqdm import tqdm

from tinylidar_gym.data.atomic import atomic_write_json
from tinylidar_gym.data.episode import (
    MCAP_FILE,
    EpisodeConfig,
    episode_dir,
    episode_result,
    is_complete,
    read_result,
    write_config,
    write_result,
)
from tinylidar_gym.data.progress import progress_bar
from tinylidar_gym.data.provenance import git_commit, package_versions
from tinylidar_gym.data.rollout import run_episode
from tinylidar_gym.data.seeds import split_seeds
from tinylidar_gym.envs.tinylidar_env import TinyLidarEnv
from tinylidar_gym.experts.expert import Expert, ExpertConfig, with_collection_noise
from tinylidar_gym.sim.config import EnvConfig, config_from_dict, config_to_dict

MANIFEST_FILE = "manifest.json"
FORMAT_VERSION = 1


class RunConflictError(ValueError):
    """The requested run would overwrite or overlap another run; the message says what to do."""


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

    @property
    def seeds(self) -> list[int]:
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


def _collect_task(job: CollectJob, index: int, seed: int) -> dict[str, Any]:
    """Worker entry point: never raises; failures come back as a status with the error."""
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
        return {
            "seed": seed,
            "status": "failed",
            "error": f"{type(exc).__name__}: {exc}",
            "traceback": traceback.format_exc(limit=8),
            "wall_s": time.perf_counter() - t0,
        }


# ---------------------------------------------------------------------------------- manifest


def read_manifest(run_dir: str | Path) -> dict[str, Any] | None:
    import json

    file = Path(run_dir) / MANIFEST_FILE
    if not file.exists():
        return None
    try:
        return json.loads(file.read_text())
    except json.JSONDecodeError as exc:
        raise RunConflictError(
            f"{file} is corrupt ({exc}); move the run away or pass another --run-name."
        ) from exc


def check_seed_overlap(job: CollectJob) -> None:
    """Refuse a run whose seeds another run under the same root already used for its split."""
    mine = set(job.seeds)
    for other in sorted(job.run_dir.parent.glob(f"*/{MANIFEST_FILE}")):
        if other.parent.resolve() == job.run_dir.resolve():
            continue
        try:
            manifest = read_manifest(other.parent)
        except RunConflictError:
            continue
        if not manifest or manifest.get("config", {}).get("split") != job.split:
            continue
        theirs = {int(s) for s in manifest.get("seeds", {})}
        clash = mine & theirs
        if clash:
            used = max(int(s) for s in theirs) - split_seeds(job.split, 0, 1)[0] + 1
            raise RunConflictError(
                f"run {other.parent} already used {len(clash)} of these {job.split} seeds "
                f"(e.g. {min(clash)}); seeds must never repeat across runs. Pass "
                f"--first-episode {used} to continue after it, or --run-name {other.parent.name} "
                "to resume that run."
            )


def _check_resume(job: CollectJob, manifest: dict[str, Any]) -> None:
    if manifest.get("config") != job.config_doc():
        raise RunConflictError(
            f"{job.run_dir} holds a run with a different configuration; it is never overwritten. "
            "Pass another --run-name (or the original options to resume it)."
        )


# ---------------------------------------------------------------------------------- the run


def collect(
    job: CollectJob,
    workers: int = -1,
    backend: str = "loky",
    progress: bool = True,
) -> dict[str, Any]:
    """Collect ``job`` (resuming if its run directory exists); returns the final manifest.

    ``backend``: a joblib backend (``"loky"``: local processes, ``"threading"``, ...) or ``"ray"``:
    one Ray task per episode on the cluster that ``RAY_ADDRESS`` (or a ``ray start`` on this
    machine) names, else on a local Ray instance. ``workers``: episodes at once (-1: every core
    of this machine, or of the Ray cluster).
    """
    if backend == "ray":
        from tinylidar_gym.data.ray_backend import import_ray

        import_ray()  # a missing extra fails before the run directory is touched
    job.run_dir.parent.mkdir(parents=True, exist_ok=True)
    manifest = read_manifest(job.run_dir)
    if manifest is not None:
        _check_resume(job, manifest)
    else:
        if job.run_dir.exists() and any(job.run_dir.iterdir()):
            raise RunConflictError(
                f"{job.run_dir} exists and is not a collection run; pass another --run-name."
            )
        check_seed_overlap(job)
        manifest = {
            "format_version": FORMAT_VERSION,
            "kind": "collect",
            "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "command": sys.argv,
            "git_commit": git_commit(),
            "versions": package_versions(),
            "config": job.config_doc(),
            "seeds": {},
            "timings": {},
        }
    seeds = job.seeds
    status: dict[str, dict[str, Any]] = manifest["seeds"]
    todo = []
    for index, seed in enumerate(seeds, start=job.first_episode):
        out = episode_dir(job.run_dir, job.split, seed)
        if is_complete(out):
            result = read_result(out)
            status.setdefault(str(seed), {"status": "done", "success": result["success"]})
            status[str(seed)].update(status="done", success=result["success"])
        else:
            status[str(seed)] = {"status": "pending"}
            todo.append((index, seed))
    manifest_path = job.run_dir / MANIFEST_FILE
    atomic_write_json(manifest_path, manifest)

    t0 = time.perf_counter()
    results: Iterator[dict[str, Any]]
    if backend == "ray":
        results, n_jobs = _ray_stream(job, todo, workers) if todo else (iter(()), 1)
    else:
        n_jobs = workers if workers > 0 else (os.cpu_count() or 1)
        n_jobs = max(1, min(n_jobs, len(todo))) if todo else 1
        results = Parallel(n_jobs=n_jobs, backend=backend, return_as="generator_unordered")(
            delayed(_collect_task)(job, index, seed) for index, seed in todo
        )
    last_write = time.monotonic()
    bar = progress_bar(total=len(seeds), initial=len(seeds) - len(todo), desc="episodes", unit="ep",
               disable=not progress)  # fmt: skip
    with bar:
        for res in results:
            seed = str(res.pop("seed"))
            status[seed] = res
            bar.update(1)
            if res["status"] == "failed":
                tqdm.write(f"seed {seed} failed: {res['error']}")
            if time.monotonic() - last_write > 2.0:
                atomic_write_json(manifest_path, manifest)
                last_write = time.monotonic()
    wall = time.perf_counter() - t0
    runs = manifest["timings"].setdefault("sessions", [])
    runs.append(
        {
            "finished": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "episodes_run": len(todo),
            "workers": n_jobs,
            "backend": backend,
            "wall_s": wall,
        }
    )
    atomic_write_json(manifest_path, manifest)
    return manifest


def _ray_stream(
    job: CollectJob, todo: list[tuple[int, int]], workers: int
) -> tuple[Iterator[dict[str, Any]], int]:
    """Episodes ``todo`` (``(index, seed)`` pairs) of ``job`` as Ray tasks; returns the stream of
    status dicts (as :func:`collect` records them) and the number of
    tasks in flight (``workers``, or the cluster's CPUs for -1)."""
    from tinylidar_gym.data.ray_backend import cluster_cpus, connect, describe_error, stream

    ray = connect()
    in_flight = workers if workers > 0 else cluster_cpus(ray)
    in_flight = max(1, min(in_flight, len(todo)))
    # No automatic retry: a seed that kills its worker is recorded as failed, and re-running
    # the command retries it, as with local processes.
    task = ray.remote(num_cpus=1, max_retries=0)(_collect_task)
    job_ref = ray.put(job)

    def results() -> Iterator[dict[str, Any]]:
        calls = (((index, seed), (job_ref, index, seed)) for index, seed in todo)
        with closing(stream(ray, task, calls, in_flight)) as finished:
            for (_, seed), out in finished:
                if isinstance(out, BaseException):  # the task never reported: no timing either
                    out = {
                        "seed": seed,
                        "status": "failed",
                        "error": describe_error(out),
                        "traceback": str(out)[-2000:],
                    }
                yield out

    return results(), in_flight


def job_from_manifest(run_dir: str | Path) -> CollectJob:
    """Rebuild the job of an existing run (e.g. to resume it)."""
    manifest = read_manifest(run_dir)
    if manifest is None:
        raise FileNotFoundError(f"{run_dir} has no {MANIFEST_FILE}.")
    c = manifest["config"]
    return CollectJob(
        Path(run_dir),
        c["split"],
        c["first_episode"],
        c["episodes"],
        config_from_dict(EnvConfig, c["env"]),
        config_from_dict(ExpertConfig, c["expert"]),
        c["record"],
    )
