"""Exclusive advisory file locks that keep two processes off the same run or dataset.

``fcntl.flock`` locks belong to the open file: the kernel drops them when their process dies,
``kill -9`` included, so a lock is never left held by a crashed run.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def exclusive_lock(path: str | Path, busy: Exception, wait_s: float = 0.0) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if missing) for the ``with`` block.

    The lock file is removed on release; a process that locked a file just removed by
    another one notices (the path no longer names its file) and locks the new one.

    Args:
        path: the lock file.
        busy: raised when another process holds the lock for longer than ``wait_s``.
        wait_s: how long to wait for the lock, seconds (0: do not wait).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + wait_s
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            if time.monotonic() >= deadline:
                raise busy from None
            time.sleep(0.05)
            continue
        if _names(path, fd):
            break
        os.close(fd)  # the holder removed this file as we locked it: lock the new one
    try:
        yield
    finally:
        path.unlink(missing_ok=True)  # still ours: nobody else can lock this file now
        os.close(fd)  # closing the descriptor releases the lock


def _names(path: Path, fd: int) -> bool:
    """Whether ``path`` still names the open file ``fd``."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return False
    own = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (own.st_dev, own.st_ino)
