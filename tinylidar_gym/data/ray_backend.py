"""Running tasks on a Ray cluster (``backend="ray"``, the optional extra): connect, stream, chunk.

A leaf: collection (:mod:`tinylidar_gym.data.collect`) and evaluation
(:mod:`tinylidar_gym.data.evaluation`) import it and hand it their own task functions; it imports
neither. Only the ray paths import this module, so the local default never imports Ray.
:func:`connect` joins the cluster Ray's usual settings name: ``RAY_ADDRESS``, else the cluster a
``ray start`` left on this machine, else a new local instance on this machine's cores.

The driver keeps the bookkeeping (manifest, progress bar, ``evaluation.json``); the tasks write
the episode directories, so every node must see the run directory (and a model directory) at the
same path: one machine, or a shared filesystem.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from types import ModuleType
from typing import Any

from tinylidar_gym.sim.errors import UserError

INSTALL_HINT = "install the optional extra: uv sync --extra ray"


class RayNotInstalledError(UserError, ImportError):
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
