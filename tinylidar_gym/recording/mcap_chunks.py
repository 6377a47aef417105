"""Raw MCAP writing for :class:`~tinylidar_gym.recording.writer.EpisodeWriter`: reusable chunk
buffers, the background thread that compresses and writes chunks, and the file being written.
The bytes themselves are encoded by :mod:`~tinylidar_gym.recording.mcap_records`.

Chunks are compressed and written by one background thread; zstd, lz4 and ``os.writev`` release
the GIL, so on a machine with a spare core the compression leaves the stepping thread
(``benchmarks/recording.md`` has the costs). The worker holds the GIL for a few microseconds per
chunk only: every GIL hand-over between it and the stepping thread costs the latter time.

Integrity: chunks carry the compressor's frame checksum (zstd/lz4 content checksum, xxhash)
instead of MCAP's chunk CRC32: cheaper (no zlib.crc32 pass over every byte), and readers verify
it when they decompress a chunk; the summary section has its CRC.

Process-wide state: one idle worker thread (re-created in a forked child), a compressor per
thread, a few reusable chunk buffers and the encoded attachments of the last few arrays.
"""

from __future__ import annotations

import atexit
import functools
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from queue import SimpleQueue
from typing import Any, Literal

import numpy as np

from tinylidar_gym.recording.mcap_records import (
    Chunk,
    attachment_index_record,
    chunk_index_record,
    chunk_record_head,
    file_head,
    metadata_index_record,
    statistics_record,
    summary_parts,
)

Compression = Literal["zstd", "lz4"]

CHUNK_SIZE_BYTES = 1 << 19
"""Target uncompressed chunk size: ~57 steps (1.4 s at 40 Hz) of a 1081-beam scan."""
ZSTD_PARAMETERS = {
    "strategy": 1,  # ZSTD_fast, as the negative levels
    "window_log": 18,
    "hash_log": 13,
    "chain_log": 13,
    "min_match": 4,
    "target_length": 2,  # "acceleration" 2, as level -2
}
"""zstd parameters of the chunks, chosen by measurement (``benchmarks/recording.md``): on
1081-beam chunks both faster and smaller than level -1, because float32 ranges cast to float64
end in 4 zero bytes, which a 4-byte minimum match finds; lower levels give much bigger files and
higher ones fall behind the simulation."""
MAX_PENDING_CHUNKS = 4
"""Chunks queued for the worker before ``write_step`` waits (bounds memory to a few MB)."""


class RecordingWriteError(RuntimeError):
    """Writing a recording failed (write after close, disk full, ...)."""


# --------------------------------------------------------------------------- chunk buffers

CHUNK_CAPACITY = CHUNK_SIZE_BYTES + (1 << 16)
"""Bytes allocated per chunk buffer: the target size plus room for the step that crosses it."""
_F8 = np.dtype("<f8")


class ChunkBuffer:
    """A reusable chunk buffer with float64 views at each of the 8 byte alignments, so that a
    scan is cast straight into place (no temporary array, no join)."""

    _free: list[ChunkBuffer] = []  # shared by all writers of the process (list ops are atomic)

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.data = bytearray(capacity)
        self.views = tuple(
            np.frombuffer(self.data, _F8, count=(capacity - r) // 8, offset=r) for r in range(8)
        )

    @classmethod
    def get(cls, capacity: int = CHUNK_CAPACITY) -> ChunkBuffer:
        if capacity <= CHUNK_CAPACITY:
            try:
                return cls._free.pop()
            except IndexError:
                capacity = CHUNK_CAPACITY
        return cls(capacity)

    def view(self, size: int) -> memoryview:
        return memoryview(self.data)[:size]

    def release(self) -> None:
        """Return the buffer for reuse (keeps a few; the others are freed)."""
        if self.capacity == CHUNK_CAPACITY and len(self._free) < 2 * MAX_PENDING_CHUNKS:
            self._free.append(self)


# --------------------------------------------------------------------------- shared worker


class _Worker:
    """The process's chunk-writer thread: runs ``(job, done)`` items in order (one thread, so
    each file's chunks are written in order) and puts each job's exception, or None, on its
    ``done`` queue. Leaner than a ``ThreadPoolExecutor`` (no Future, lock or semaphore per
    chunk): queueing a chunk costs the stepping thread little."""

    def __init__(self) -> None:
        self.jobs: SimpleQueue[tuple[Callable[[], None], SimpleQueue[BaseException | None]]]
        self.jobs = SimpleQueue()
        threading.Thread(target=self._run, name="mcap-writer", daemon=True).start()
        atexit.register(self.drain)  # a daemon thread: files finishing at exit must complete

    def drain(self) -> None:
        """Wait until the jobs queued so far are done."""
        if _worker_instance is self:  # not in a forked child (no thread there)
            done: SimpleQueue[BaseException | None] = SimpleQueue()
            self.jobs.put((lambda: None, done))
            done.get()

    def _run(self) -> None:
        get = self.jobs.get
        while True:
            job, done = get()
            try:
                job()
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
                done.put(exc)
            else:
                done.put(None)


_worker_lock = threading.Lock()
_worker_instance: _Worker | None = None
_local = threading.local()


def _worker() -> _Worker:
    global _worker_instance
    if _worker_instance is None:
        with _worker_lock:
            if _worker_instance is None:
                _worker_instance = _Worker()
    return _worker_instance


def _forget_worker_after_fork() -> None:
    """In a forked child: the worker thread does not exist there, nor do the parent's files
    being finished (their locks would never be released)."""
    global _worker_instance, _worker_lock, _finishing_lock
    _worker_instance = None
    _worker_lock = threading.Lock()
    _finishing.clear()
    _finishing_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_worker_after_fork)


def _new_compressor(name: str) -> Callable[[Any], bytes]:
    if name == "zstd":
        import zstandard

        params = zstandard.ZstdCompressionParameters(**ZSTD_PARAMETERS, write_checksum=True)
        return zstandard.ZstdCompressor(compression_params=params).compress
    if name == "lz4":
        import lz4.frame

        return functools.partial(lz4.frame.compress, content_checksum=True)
    raise ValueError(f"compression={name!r} is not supported; use 'zstd' or 'lz4'.")


def compressor(name: str) -> Callable[[Any], bytes]:
    """The calling thread's compressor (a zstd context is not shared between threads; reusing
    one saves allocating its tables for every chunk)."""
    cache_ = _local.__dict__.setdefault("compressors", {})
    compress = cache_.get(name)
    if compress is None:
        compress = cache_[name] = _new_compressor(name)
    return compress


# --------------------------------------------------------------------------- the file

_finishing: dict[str, threading.Lock] = {}
"""Absolute path -> a lock held until the worker has finished that file (the latest one)."""
_finishing_lock = threading.Lock()


def wait_until_written(path: str | os.PathLike[str]) -> None:
    """Wait until ``path`` is in place if this process is finishing it in the background
    (:meth:`McapFile.finish_in_background`); return at once otherwise."""
    finished = _finishing.get(os.path.abspath(path))
    if finished is not None:
        with finished:
            pass


class McapFile:
    """An MCAP file being written under a hidden temp name next to ``path``, renamed onto
    ``path`` by :meth:`finish` or :meth:`finish_in_background` (:meth:`abort` deletes it).

    The calling thread creates the file and prepares the head; the worker thread writes the
    chunks (the head with the first), in order; the last chunk, the summary and the footer are
    written by :meth:`finish` once the worker is done, or by the worker after the chunks
    (:meth:`finish_in_background`): never two threads at once."""

    def __init__(self, path: Path, compression: Compression, fsync: bool) -> None:
        compressor(compression)  # validates the name
        self.path = path
        self.tmp = Path(path.parent, f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
        self.compression = compression
        self._name = compression.encode()
        self._fsync = fsync
        self._done: SimpleQueue[BaseException | None] = SimpleQueue()
        self._in_flight = 0  # chunks queued for the worker and not yet reported done
        self._dropped = False  # set by abort: queued chunks are skipped
        self._failed = False  # a chunk failed: later ones are skipped, the file is not finished
        self._pos = 0  # file size once everything so far is written
        self._head: tuple[bytes | bytearray, ...] = ()  # not written yet
        self._chunk_times: list[tuple[int, int]] = []  # of the chunks submitted (this thread)
        self._chunk_indexes: list[bytes] = []  # ChunkIndex records (worker thread)
        self._attachment_indexes: list[bytes] = []
        self._metadata_indexes: list[bytes] = []
        self._fd = -1
        # Unbuffered: every write is one large os.writev (see write).
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
        self._fd = os.open(self.tmp, flags, 0o666)

    def write(self, *parts: bytes | bytearray | memoryview) -> None:
        """Append to the file with one system call (``os.writev``), after the head if it is
        not written yet. The caller has counted the parts in ``_pos``."""
        if self._head:
            parts, self._head = (*self._head, *parts), ()
        views = [memoryview(p) for p in parts if len(p)]
        while views:
            n = os.writev(self._fd, views)
            while views and n >= len(views[0]):
                n -= len(views.pop(0))
            if n:
                views[0] = views[0][n:]

    def write_head(
        self,
        metadata: Sequence[tuple[str, bytes]],
        attachments: Sequence[tuple[str, bytes, int]],
    ) -> None:
        """Magic, header, schemas, channels, then metadata ``(name, record)`` and attachment
        ``(name, record, payload size)`` records (see :func:`metadata_record`,
        :func:`npy_attachment`). Written with the first chunk (by the worker thread)."""
        out = bytearray(file_head())
        for name, data in metadata:
            self._metadata_indexes.append(metadata_index_record(len(out), len(data), name))
            out += data
        for name, data, size in attachments:
            self._attachment_indexes.append(
                attachment_index_record(len(out), len(data), size, name)
            )
            out += data
        self._head = (out,)
        self._pos = len(out)

    def submit(self, chunk: Chunk) -> None:
        """Queue a chunk for the worker thread (waits while it has too many)."""
        while self._in_flight >= MAX_PENDING_CHUNKS:
            self._wait_one()
        self._chunk_times.append((chunk.start, chunk.end))
        self._queue(functools.partial(self._write_chunk, chunk))

    def finish(self, last: Chunk | None, message_counts: Mapping[int, int]) -> None:
        """Write the last chunk, the summary and the footer, and rename the file onto
        ``path``. ``message_counts``: channel id -> messages written."""
        statistics = self._statistics(last, message_counts)
        # The last chunk is compressed here, while the worker finishes the previous ones.
        compressed = compressor(self.compression)(last.buffer.view(last.size)) if last else None
        self.wait()
        self._finish(last, statistics, compressed)

    def finish_in_background(self, last: Chunk | None, message_counts: Mapping[int, int]) -> None:
        """:meth:`finish` by the worker thread, after the chunks queued before; returns at
        once. :meth:`wait` waits for it (and raises its error), and so does
        :func:`wait_until_written`; on error the temp file is deleted. What does not depend on
        the compressed sizes is prepared here: the worker would hold the GIL for it while this
        thread, starting the next episode, needs it."""
        statistics = self._statistics(last, message_counts)
        key = os.path.abspath(self.path)
        finished = threading.Lock()
        finished.acquire()
        with _finishing_lock:
            _finishing[key] = finished
        self._queue(functools.partial(self._finish_or_abort, last, statistics, key, finished))

    def wait(self) -> None:
        """Wait until the worker has written everything queued for this file; raise the first
        error it met."""
        error = None
        while self._in_flight:
            try:
                self._wait_one()
            except BaseException as exc:  # noqa: BLE001 - keep waiting, then raise the first
                error = error or exc
        if error is not None:
            raise error

    def abort(self) -> None:
        """Stop writing and delete the temp file; ``path`` is left untouched. A finish queued by
        :meth:`finish_in_background` is dropped too unless it has run. Idempotent."""
        self._dropped = True
        while self._in_flight:  # a chunk being written must finish before the file is closed
            self._in_flight -= 1
            self._done.get()
        self._close_and_delete()

    # ------------------------------------------------------------------ internals

    def _queue(self, job: Callable[[], None]) -> None:
        _worker().jobs.put((job, self._done))
        self._in_flight += 1

    def _finish(self, last: Chunk | None, statistics: bytes, compressed: bytes | None) -> None:
        parts = self._chunk_parts(last, compressed) if last is not None else []
        self.write(*parts, *self._end_parts(statistics))
        if self._fsync:
            os.fsync(self._fd)
        fd, self._fd = self._fd, -1
        os.close(fd)
        os.replace(self.tmp, self.path)

    def _finish_or_abort(
        self, last: Chunk | None, statistics: bytes, key: str, finished: threading.Lock
    ) -> None:
        """:meth:`_finish` (worker thread), or, after an abort or a failed chunk (whose error
        :meth:`wait` raises), delete the temp file; then release ``finished``."""
        try:
            if self._dropped or self._failed:
                if last is not None:
                    last.buffer.release()
                self._close_and_delete()
                return
            self._finish(last, statistics, None)
        except BaseException:
            self._close_and_delete()
            raise
        finally:
            with _finishing_lock:
                if _finishing.get(key) is finished:
                    del _finishing[key]
            finished.release()

    def _close_and_delete(self) -> None:
        if self._fd >= 0:
            fd, self._fd = self._fd, -1
            try:
                os.close(fd)
            except OSError:
                pass
        self.tmp.unlink(missing_ok=True)

    def _wait_one(self) -> None:
        """Wait for the worker to finish one chunk of this file; re-raise its error."""
        error = self._done.get()
        self._in_flight -= 1
        if error is not None:
            raise error

    def _write_chunk(self, chunk: Chunk, compressed: bytes | None = None) -> None:
        """Write one chunk record and its message index records (worker thread, or the main
        thread in :meth:`finish` with the last chunk already compressed)."""
        if self._dropped or self._failed:
            chunk.buffer.release()
            return
        try:
            self.write(*self._chunk_parts(chunk, compressed))
        except BaseException:
            self._failed = True
            raise

    def _chunk_parts(self, chunk: Chunk, compressed: bytes | None) -> list[bytes]:
        """The chunk record (compressed here unless ``compressed`` is given) and its message
        index records, to be written next.

        Little Python around the two calls that release the GIL (compress, and the writev of
        these parts): the stepping thread waits for the GIL while this thread holds it."""
        if compressed is None:
            compressed = compressor(self.compression)(chunk.buffer.view(chunk.size))
        chunk.buffer.release()
        head = chunk_record_head(chunk, self._name, len(compressed))
        offset, length = self._pos, len(head) + len(compressed)
        self._chunk_indexes.append(
            chunk_index_record(
                chunk.start,
                chunk.end,
                offset,
                length,
                {channel: offset + length + rel for channel, rel in chunk.index_offsets},
                len(chunk.index),
                self.compression,
                len(compressed),
                chunk.size,
            )
        )
        self._pos += length + len(chunk.index)
        return [head, compressed, chunk.index]

    def _statistics(self, last: Chunk | None, message_counts: Mapping[int, int]) -> bytes:
        """The Statistics record, once every chunk is submitted (this thread)."""
        times = self._chunk_times + ([(last.start, last.end)] if last is not None else [])
        return statistics_record(
            message_counts, len(self._attachment_indexes), len(self._metadata_indexes), times
        )

    def _end_parts(self, statistics: bytes) -> list[bytes]:
        """DataEnd, summary section, footer, magic: to be written after everything else."""
        parts = summary_parts(
            self._pos,
            statistics,
            self._chunk_indexes,
            self._attachment_indexes,
            self._metadata_indexes,
        )
        self._pos += sum(map(len, parts))
        return parts
