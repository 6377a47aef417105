"""Parallel, resumable collection of expert episodes into a run directory.

Run directory layout::

    <run_dir>/manifest.json         command, git commit, versions, config, seeds, timings
    <run_dir>/<split>/seed_<seed>/  one episode: config.yaml, simulation.mcap, result.json

Seeds come from the split's range (:mod:`tinylidar_gym.data.seeds`) and are assigned here, so two
workers never share one. Before a new run starts, every other run under the same output root is
checked: a run that would reuse another run's seeds of the same split is refused; a lock in the
output root makes that check and the new manifest one step, so two runs started at once cannot
both take the same seeds. Re-running the same command resumes: finished episodes are skipped,
failed ones retried. A seed whose worker raises or dies (``kill -9``) is marked failed and the
others go on; a full disk stops the run with the manifest saying which seeds are done.
"""

from __future__ import annotations

import datetime as dt
import errno
import os
import sys
import time
from collections.abc import Generator, Iterator
from contextlib import ExitStack, closing, nullcontext
from pathlib import Path
from typing import Any

from joblib import Parallel, delayed
from tqdm import tqdm

from tinylidar_gym.data import collect_job, process_pool
from tinylidar_gym.data.atomic import atomic_write_json
from tinylidar_gym.data.collect_job import CollectConfigError, CollectJob, record_episode
from tinylidar_gym.data.episode import episode_dir, is_complete, read_result
from tinylidar_gym.data.locks import exclusive_lock
from tinylidar_gym.data.manifest import (
    MANIFEST_FILE,
    RunConflictError,
    check_resume,
    check_seed_overlap,
    failed_with_error,
    outcome,
    read_manifest,
)
from tinylidar_gym.data.provenance import git_commit, package_versions
from tinylidar_gym.experts.expert import ExpertConfig
from tinylidar_gym.sim.config import EnvConfig, config_from_dict
from tinylidar_gym.sim.errors import UserError

# Importers of the job and manifest helpers from their former home keep working.
__all__ = [
    "MANIFEST_FILE",
    "CollectConfigError",
    "CollectJob",
    "DiskFullError",
    "RunConflictError",
    "collect",
    "failed_with_error",
    "job_from_manifest",
    "read_manifest",
    "record_episode",
]

FORMAT_VERSION = 1


# The task the runs hand to their workers (looked up here at run time).
_collect_task = collect_job.collect_task


# ---------------------------------------------------------------------------------- the run


class DiskFullError(UserError, OSError):
    """The disk filled up during collection; the run stopped with its manifest up to date."""


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

    A seed whose task raises or whose worker process dies is marked ``failed`` with the error
    and the other seeds go on (:func:`~tinylidar_gym.data.manifest.failed_with_error` lists
    them). Locks beside the run keep two processes from taking the same seeds.

    Raises:
        RunConflictError: the run would overlap or overwrite another, or another process is
            collecting it right now.
        DiskFullError: the disk filled up; the manifest says which seeds are done.
    """
    if backend == "ray":
        from tinylidar_gym.data.ray_backend import import_ray

        import_ray()  # a missing extra fails before the run directory is touched
    root = job.run_dir.parent
    root.mkdir(parents=True, exist_ok=True)
    with ExitStack() as held:
        # The root lock covers the seed-overlap check and the manifest creation (a second run
        # waits, then sees this one's seeds); the run lock is held for the whole run.
        with exclusive_lock(root / ROOT_LOCK, _busy(root, "checking seeds in"), wait_s=60.0):
            held.enter_context(
                exclusive_lock(
                    root / f".{job.run_dir.name}.run.lock", _busy(job.run_dir, "collecting")
                )
            )
            manifest, todo = _open_run(job)
        return _run(job, manifest, todo, workers, backend, progress)


ROOT_LOCK = ".runs.lock"


def _busy(path: Path, doing: str) -> RunConflictError:
    return RunConflictError(
        f"another process is {doing} {path} right now (wait for it to finish, or pass another "
        "--run-name or --out)"
    )


def _open_run(job: CollectJob) -> tuple[dict[str, Any], list[tuple[int, int]]]:
    """The run's manifest (new, or resumed after the checks) and its ``(index, seed)`` to do;
    writes the manifest with every seed's status."""
    manifest = read_manifest(job.run_dir)
    if manifest is not None:
        check_resume(job.run_dir, manifest, job.config_doc())
    else:
        if job.run_dir.exists() and any(job.run_dir.iterdir()):
            raise RunConflictError(
                f"{job.run_dir} exists and is not a collection run (pass another --run-name)"
            )
        check_seed_overlap(job.run_dir, job.split, job.seeds)
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
    status: dict[str, dict[str, Any]] = manifest["seeds"]
    todo = []
    for index, seed in enumerate(job.seeds, start=job.first_episode):
        out = episode_dir(job.run_dir, job.split, seed)
        if is_complete(out):
            result = read_result(out)
            status.setdefault(str(seed), {"status": "done", "success": result["success"]})
            status[str(seed)].update(status="done", success=result["success"])
        else:
            status[str(seed)] = {"status": "pending"}
            todo.append((index, seed))
    _write_manifest(job, manifest)
    return manifest, todo


def _write_manifest(job: CollectJob, manifest: dict[str, Any]) -> None:
    manifest["outcome"] = outcome(manifest)
    try:
        atomic_write_json(job.run_dir / MANIFEST_FILE, manifest)
    except OSError as exc:
        if exc.errno != errno.ENOSPC:
            raise
        raise DiskFullError(
            errno.ENOSPC,
            f"the disk holding {job.run_dir} is full and manifest.json could not be updated "
            "(free space and run the same command again: finished episodes are kept and "
            "skipped)",
        ) from exc


def _results(
    job: CollectJob, todo: list[tuple[int, int]], workers: int, backend: str
) -> tuple[Iterator[dict[str, Any]], int]:
    """The status dicts of ``todo`` as they finish, and the number of episodes run at once."""
    if backend == "ray":
        return _ray_stream(job, todo, workers) if todo else (iter(()), 1)
    n_jobs = workers if workers > 0 else (os.cpu_count() or 1)
    n_jobs = max(1, min(n_jobs, len(todo))) if todo else 1
    if n_jobs == 1:  # in this process, as joblib runs one job
        return (_collect_task(job, index, seed) for index, seed in todo), 1
    if backend == "loky":
        return _local_stream(job, todo, n_jobs), n_jobs
    parallel = Parallel(n_jobs=n_jobs, backend=backend, return_as="generator_unordered")
    return parallel(delayed(_collect_task)(job, index, seed) for index, seed in todo), n_jobs


def _local_stream(
    job: CollectJob, todo: list[tuple[int, int]], n_jobs: int
) -> Iterator[dict[str, Any]]:
    calls = (((index, seed), (job, index, seed)) for index, seed in todo)
    with closing(process_pool.stream(_collect_task, calls, n_jobs)) as finished:
        for (_, seed), out in finished:
            if isinstance(out, BaseException):  # a worker died (or was killed)
                out = _after_worker_death(job, seed, out)
            yield out


def _after_worker_death(job: CollectJob, seed: int, exc: BaseException) -> dict[str, Any]:
    """The status of a seed whose result was lost with its pool: done if its episode was
    written in full before the pool went down, else failed with the error."""
    out = episode_dir(job.run_dir, job.split, seed)
    if is_complete(out):
        result = read_result(out)
        return {
            "seed": seed,
            "status": "done",
            "success": result["success"],
            "reason": result["reason"],
        }
    error = f"worker process died ({type(exc).__name__}: {exc})"
    return {"seed": seed, "status": "failed", "error": error[:500]}


def _run(
    job: CollectJob,
    manifest: dict[str, Any],
    todo: list[tuple[int, int]],
    workers: int,
    backend: str,
    progress: bool,
) -> dict[str, Any]:
    """Run ``todo``, recording each seed's status in the manifest as it finishes."""
    t0 = time.perf_counter()
    status: dict[str, dict[str, Any]] = manifest["seeds"]
    results, n_jobs = _results(job, todo, workers, backend)
    disk_full: str | None = None
    last_write = time.monotonic()
    n = len(job.seeds)
    bar = tqdm(total=n, initial=n - len(todo), desc="episodes", unit="ep", disable=not progress)
    with bar, closing(results) if isinstance(results, Generator) else nullcontext():
        for res in results:
            seed = str(res.pop("seed"))
            disk_full = res.pop("disk_full", None) or disk_full
            status[seed] = res
            bar.update(1)
            if res["status"] == "failed":
                tqdm.write(f"seed {seed} failed: {res['error']}")
            if disk_full:
                break  # closing the stream stops the episodes in flight; they stay pending
            if time.monotonic() - last_write > 2.0:
                _write_manifest(job, manifest)
                last_write = time.monotonic()
    manifest["timings"].setdefault("sessions", []).append(
        {
            "finished": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "episodes_run": len(todo),
            "workers": n_jobs,
            "backend": backend,
            "wall_s": time.perf_counter() - t0,
        }
    )
    _write_manifest(job, manifest)
    if disk_full:
        done = manifest["outcome"]["done"]
        raise DiskFullError(
            errno.ENOSPC,
            f"the disk holding {job.run_dir} is full ({disk_full}): {done} of {n} seeds done, "
            "the others failed or not run, as manifest.json says (free space and run the same "
            "command again to resume)",
        )
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
        raise RunConflictError(
            f"{run_dir} has no {MANIFEST_FILE} (pass a run made by `experiment-runner collect`)"
        )
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
