"""Collection and evaluation as tasks on a Ray cluster (``backend="ray"``, the optional extra).

Only the ray paths import this module, so the local default never imports Ray. :func:`connect`
joins the cluster Ray's usual settings name: ``RAY_ADDRESS``, else the cluster a ``ray start``
left on this machine, else a new local instance on this machine's cores.

The driver keeps the bookkeeping (manifest, progress bar, ``evaluation.json``); the tasks write
the episode directories, so every node must see the run directory (and a model directory) at the
same path: one machine, or a shared filesystem.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator
from contextlib import closing
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np
from tqdm import tqdm

if TYPE_CHECKING:
    from tinylidar_gym.data.collect import CollectJob
    from tinylidar_gym.evaluation import PolicyFactory
    from tinylidar_gym.experts.expert import ExpertConfig
    from tinylidar_gym.sim.config import EnvConfig

INSTALL_HINT = "install the optional extra: uv sync --extra ray"


class RayNotInstalledError(ImportError):
    """``backend="ray"`` was asked for but Ray is not installed; the message says how to fix it."""


def import_ray() -> ModuleType:
    """The ``ray`` module, or :class:`RayNotInstalledError` naming the extra to install."""
    # Under `uv run`, Ray 2.x builds a uv runtime env for every worker (about 10 s and package
    # installs per node). Our workers run in the driver's own environment (a local instance, or
    # nodes with the project installed), so it is off unless the user asks for it. Ray reads
    # the flag when it is first imported.
    os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
    try:
        import ray
    except ImportError as exc:
        raise RayNotInstalledError(
            f"backend 'ray' needs Ray, which is not installed; {INSTALL_HINT}"
        ) from exc
    return ray


def connect() -> ModuleType:
    """Import Ray and join a cluster (unless this process already has); returns ``ray``."""
    ray = import_ray()
    if not ray.is_initialized():
        try:
            ray.init()
        except ConnectionError as exc:
            where = os.environ.get("RAY_ADDRESS") or "the cluster last started on this machine"
            raise ConnectionError(
                f"could not connect to the Ray cluster at {where} ({exc}). Start one "
                "(uv run ray start --head), point RAY_ADDRESS at a running one (with "
                "RAY_AUTH_MODE=token when it uses token authentication), or unset RAY_ADDRESS "
                "and run `uv run ray stop` to forget a dead local cluster."
            ) from exc
    return ray


def cluster_cpus(ray: ModuleType) -> int:
    """The CPUs the cluster offers (at least 1)."""
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def stream(
    ray: ModuleType,
    remote_fn: Any,
    calls: Iterable[tuple[Any, tuple[Any, ...]]],
    max_in_flight: int,
) -> Iterator[tuple[Any, Any]]:
    """Run ``remote_fn.remote(*args)`` for each ``(key, args)``, at most ``max_in_flight`` at a
    time; yields ``(key, result)`` as tasks finish, with a :class:`ray.exceptions.RayError` as the
    result of a task that raised or whose worker died (the others go on)."""
    pending: dict[Any, Any] = {}
    todo = iter(calls)

    def submit() -> None:
        while len(pending) < max_in_flight:
            call = next(todo, None)
            if call is None:
                return
            key, args = call
            pending[remote_fn.remote(*args)] = key

    try:
        submit()
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                key = pending.pop(ref)
                try:
                    result = ray.get(ref)
                except ray.exceptions.RayError as exc:
                    result = exc
                yield key, result
            submit()
    finally:
        for ref in pending:  # interrupted (Ctrl-C, an error in the driver): stop the rest
            ray.cancel(ref, force=True)


def describe_error(exc: BaseException) -> str:
    """``Type: message`` of the error a task raised (Ray wraps it) or of a lost worker."""
    cause = getattr(exc, "cause", None) or exc
    lines = str(cause).strip().splitlines() or [""]
    return f"{type(cause).__name__}: {lines[0]}"


# ---------------------------------------------------------------------------------- collection


def collect_stream(
    job: CollectJob, todo: list[tuple[int, int]], workers: int
) -> tuple[Iterator[dict[str, Any]], int]:
    """Episodes ``todo`` (``(index, seed)`` pairs) of ``job`` as Ray tasks; returns the stream of
    status dicts (as :func:`tinylidar_gym.data.collect.collect` records them) and the number of
    tasks in flight (``workers``, or the cluster's CPUs for -1)."""
    import tinylidar_gym.data.collect as collect_mod

    ray = connect()
    in_flight = workers if workers > 0 else cluster_cpus(ray)
    in_flight = max(1, min(in_flight, len(todo)))
    # No automatic retry: a seed that kills its worker is recorded as failed, and re-running
    # the command retries it, as with local processes.
    task = ray.remote(num_cpus=1, max_retries=0)(collect_mod._collect_task)
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


# ---------------------------------------------------------------------------------- evaluation


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
    from tinylidar_gym.evaluation import drive_seeds

    # One CPU per task: cars stepped one after another, not on the node's every core.
    return drive_seeds(
        make_policy(), seeds, run_dir, env_cfg, split, driver, num_envs, record,
        progress=False, expert_cfg=expert_cfg, parallel=False, first_index=first_index,
    )  # fmt: skip


def chunk_seeds(seeds: list[int], num_envs: int, workers: int) -> list[list[int]]:
    """Split ``seeds`` into at most ``workers`` consecutive chunks of at least ``num_envs`` seeds
    (one chunk when there are fewer). Each chunk then drives as many cars as a local run does, so
    a model sees batches of the same size and gives bit-identical actions."""
    n_chunks = max(1, min(workers, len(seeds) // max(1, num_envs)))
    size, extra = divmod(len(seeds), n_chunks)
    chunks, start = [], 0
    for k in range(n_chunks):
        end = start + size + (k < extra)
        chunks.append(seeds[start:end])
        start = end
    return chunks


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
    """:func:`tinylidar_gym.evaluation.evaluate` with chunks of seeds as Ray tasks (``workers``
    at once; -1: the cluster's CPUs). ``make_policy`` must be picklable (see
    :data:`~tinylidar_gym.evaluation.PolicyFactory`). Same episode directories and
    ``evaluation.json`` as a local run; a failed chunk raises, as a local error does."""
    from tinylidar_gym.evaluation import check_new_evaluation, write_evaluation

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
    bar = tqdm(total=len(seeds), desc=f"evaluate {driver}", unit="ep", disable=not progress)
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
