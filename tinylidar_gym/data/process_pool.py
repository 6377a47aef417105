"""Tasks on local worker processes that outlive a killed worker.

joblib's loky backend gives up the whole ``Parallel`` call when one worker dies (``kill -9``,
the OOM killer): every result not yet returned is lost. Here at most ``workers`` tasks are in
flight at once, so when a worker dies the tasks in flight are exactly the ones the pool reports
broken; those are handed back as errors, a fresh pool starts, and the remaining tasks run on it.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, wait
from typing import Any

from joblib.executor import get_memmapping_executor
from joblib.externals.loky.process_executor import BrokenProcessPool

# Inner thread pools per worker, as joblib limits them: the workers share the cores.
_THREAD_VARS = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMBA_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)


def _worker_env(workers: int) -> dict[str, str]:
    threads = str(max(1, (os.cpu_count() or 1) // workers))
    return {var: os.environ.get(var, threads) for var in _THREAD_VARS}


def stream(
    fn: Callable[..., Any], calls: Iterable[tuple[Any, tuple[Any, ...]]], workers: int
) -> Iterator[tuple[Any, Any]]:
    """Run ``fn(*args)`` for each ``(key, args)`` of ``calls`` on ``workers`` processes.

    Yields ``(key, result)`` in completion order; a task that raised, or whose worker (or a
    neighbour's) died while it ran, yields ``(key, exception)`` instead. Closing the generator
    early stops the workers, so no task goes on writing after its caller has given up.
    """
    pending = deque(calls)
    running: dict[Future, Any] = {}
    env = _worker_env(workers)
    executor = None
    try:
        while pending or running:
            # joblib's process-wide executor: its workers (and their warm caches) are shared
            # with joblib's own Parallel calls, and a broken one is replaced here.
            executor = get_memmapping_executor(workers, env=env)
            broken = False
            while running or (pending and not broken):
                while pending and not broken and len(running) < workers:
                    key, args = pending[0]
                    try:
                        running[executor.submit(fn, *args)] = key
                    except BrokenProcessPool:
                        broken = True
                        break
                    pending.popleft()
                if not running:
                    break
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    key = running.pop(future)
                    try:
                        yield key, future.result()
                    except BrokenProcessPool as exc:
                        broken = True  # a worker died: the next tasks need a fresh pool
                        yield key, exc
                    except Exception as exc:
                        yield key, exc
    finally:
        if (pending or running) and executor is not None:  # closed early: stop the tasks
            for future in running:
                future.cancel()
            executor.terminate(kill_workers=True)
