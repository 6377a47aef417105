"""Raw MCAP writing for :class:`~tinylidar_gym.recording.writer.EpisodeWriter`: the file's head,
compressed chunks (with their message indexes), summary section and footer.

Chunks are compressed and written by one background thread; zstd, lz4 and ``os.writev`` release
the GIL, so on a machine with a spare core the compression (~20 us/step of CPU for a 1081-beam
scan) leaves the stepping thread. The worker holds the GIL for a few microseconds per chunk only:
every GIL hand-over between it and the stepping thread costs the latter time.

Integrity: chunks carry the compressor's frame checksum (zstd/lz4 content checksum, xxhash)
instead of MCAP's chunk CRC32: cheaper (no zlib.crc32 pass over every byte), and readers verify
it when they decompress a chunk; the summary section has its CRC. Records are encoded here with
``struct`` (``tests/test_recording.py`` checks them against the ``mcap`` package's classes);
the constant schema, channel and header records come from the ``mcap`` package.

Process-wide state: one idle worker thread (re-created in a forked child), a compressor per
thread, a few reusable chunk buffers and the encoded attachments of the last few arrays.
"""

from __future__ import annotations

import array
import atexit
import dataclasses
import functools
import io
import os
import struct
import threading
import zlib
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from pathlib import Path
from queue import SimpleQueue
from typing import Any, Literal

import numpy as np
from mcap.data_stream import RecordBuilder
from mcap.opcode import Opcode
from mcap.records import Channel, Header, Schema

from tinylidar_gym.recording import schemas as s

Compression = Literal["zstd", "lz4"]

MAGIC = b"\x89MCAP0\r\n"
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
"""zstd parameters of the chunks. On 1081-beam chunks these are both faster and smaller than
level -1 (ratio 2.38 at ~21 us/step of worker CPU vs 2.29 at ~23 us): float32 ranges cast to
float64 end in 4 zero bytes, which a 4-byte minimum match finds. Level -3 (ratio 1.6) or -5
(1.3) save a little more CPU for much bigger files; level 3 (ratio 2.5) needs ~37 us/step and
would fall behind the simulation."""
MAX_PENDING_CHUNKS = 4
"""Chunks queued for the worker before ``write_step`` waits (bounds memory to a few MB)."""

# Channel ids (MCAP ids are per file; these are fixed for every recording).
CH_SCAN, CH_TF, CH_COMMAND, CH_STEP, CH_TF_STATIC, CH_SCENE = 1, 2, 3, 4, 5, 6
CHANNELS: tuple[tuple[int, str, str, str], ...] = (
    # (channel id, topic, schema name, message encoding)
    (CH_SCAN, s.TOPIC_SCAN, s.SCHEMA_LASER_SCAN, s.ENCODING_PROTOBUF),
    (CH_TF, s.TOPIC_TF, s.SCHEMA_FRAME_TRANSFORM, s.ENCODING_PROTOBUF),
    (CH_COMMAND, s.TOPIC_COMMAND, s.SCHEMA_COMMAND, s.ENCODING_PROTOBUF),
    (CH_STEP, s.TOPIC_STEP, s.SCHEMA_STEP, s.ENCODING_PROTOBUF),
    (CH_TF_STATIC, s.TOPIC_TF_STATIC, s.SCHEMA_FRAME_TRANSFORM, s.ENCODING_PROTOBUF),
    (CH_SCENE, s.TOPIC_SCENE, s.SCHEMA_SCENE_UPDATE, s.ENCODING_PROTOBUF),
)
STEP_CHANNELS = (CH_SCAN, CH_TF, CH_COMMAND, CH_STEP)
"""The channels with one message per step, in the order of a step's records."""

# Message record: opcode, record length, channel id | sequence, log time, publish time, data.
MSG_HEAD = struct.Struct("<BQH").pack
MSG_HEADER = struct.Struct("<BQHIQQ").pack
MSG_HEAD_FORMAT = "11sIQQ"
"""``struct`` format of a message record header as a constant 11-byte head (opcode, record
length, channel: :func:`message_head`) and then sequence, log time, publish time."""
MSG_FIXED = 2 + 4 + 8 + 8  # record length = this + len(data)
MSG_HEADER_SIZE = 9 + MSG_FIXED
OP_MESSAGE = int(Opcode.MESSAGE)


def message_head(channel: int, data_size: int) -> bytes:
    """The first 11 bytes of a message record: opcode, record length, channel id."""
    return MSG_HEAD(OP_MESSAGE, MSG_FIXED + data_size, channel)


class RecordingWriteError(RuntimeError):
    """Writing a recording failed (write after close, disk full, ...)."""


# --------------------------------------------------------------------------- records


def record_bytes(*records: Any) -> bytes:
    """Records built with the ``mcap`` package's record classes."""
    builder = RecordBuilder()
    for record in records:
        record.write(builder)
    return builder.end()


def _record(opcode: Opcode, body: bytes) -> bytes:
    return struct.pack("<BQ", opcode, len(body)) + body


def _string(text: str) -> bytes:
    data = text.encode()
    return struct.pack("<I", len(data)) + data


def _string_map(values: Mapping[str, str]) -> bytes:
    body = b"".join(_string(k) + _string(v) for k, v in values.items())
    return struct.pack("<I", len(body)) + body


def _id_map(values: Mapping[int, int]) -> bytes:
    """A map<uint16, uint64> (channel id to offset or count)."""
    flat = [x for item in values.items() for x in item]
    return struct.pack(f"<I{'HQ' * len(values)}", 10 * len(values), *flat)


def metadata_record(name: str, values: Mapping[str, str]) -> bytes:
    """A Metadata record."""
    return _record(Opcode.METADATA, _string(name) + _string_map(values))


@functools.lru_cache(maxsize=8)
def _attachment_record(name: str, media_type: str, payload: bytes) -> bytes:
    body = struct.pack("<QQ", 0, 0) + _string(name) + _string(media_type)  # log, create time 0
    body += struct.pack("<Q", len(payload))
    crc = zlib.crc32(payload, zlib.crc32(body))
    head = struct.pack("<BQ", Opcode.ATTACHMENT, len(body) + len(payload) + 4)
    return head + body + payload + struct.pack("<I", crc)


@functools.lru_cache(maxsize=16)
def _npy_header(shape: tuple[int, ...], dtype: str) -> bytes:
    """The ``.npy`` bytes that ``np.save`` writes before the data of such an array."""
    npy = io.BytesIO()
    zeros = np.zeros(shape, dtype=dtype)
    np.save(npy, zeros, allow_pickle=False)
    data = npy.getvalue()
    return data[: len(data) - zeros.nbytes]


def npy_attachment(name: str, array: np.ndarray) -> tuple[bytes, int]:
    """An Attachment record (log/create time 0) holding a C-contiguous ``array`` as ``.npy``
    bytes (those of ``np.save``), and the payload size. Recent ones are memoised (the course's
    walls repeat every episode)."""
    payload = _npy_header(array.shape, array.dtype.str) + array.tobytes()
    return _attachment_record(name, s.NPY_MEDIA_TYPE, payload), len(payload)


def chunk_index_record(
    start: int,
    end: int,
    offset: int,
    length: int,
    index_offsets: Mapping[int, int],
    index_length: int,
    compression: str,
    compressed_size: int,
    uncompressed_size: int,
) -> bytes:
    """A ChunkIndex record."""
    return _record(
        Opcode.CHUNK_INDEX,
        struct.pack("<QQQQ", start, end, offset, length)
        + _id_map(index_offsets)
        + struct.pack("<Q", index_length)
        + _string(compression)
        + struct.pack("<QQ", compressed_size, uncompressed_size),
    )


@cache
def schemas_and_channels() -> tuple[tuple[Schema, ...], tuple[Channel, ...], bytes, bytes]:
    """The (constant) schema and channel records, and the bytes of each group."""
    names = (
        s.SCHEMA_LASER_SCAN,
        s.SCHEMA_FRAME_TRANSFORM,
        s.SCHEMA_SCENE_UPDATE,
        s.SCHEMA_COMMAND,
        s.SCHEMA_STEP,
    )
    schemas = [
        Schema(i + 1, s.protobuf_schema_data(n), s.ENCODING_PROTOBUF, n)
        for i, n in enumerate(names)
    ]
    ids = {schema.name: schema.id for schema in schemas}
    channels = tuple(
        Channel(id=cid, topic=topic, message_encoding=enc, metadata={}, schema_id=ids[name])
        for cid, topic, name, enc in CHANNELS
    )
    return tuple(schemas), channels, record_bytes(*schemas), record_bytes(*channels)


@cache
def file_head() -> bytes:
    """Magic, Header, and the schema and channel records (repeated in the summary)."""
    _, _, schema_bytes, channel_bytes = schemas_and_channels()
    header = record_bytes(Header(profile=s.PROFILE, library=s.LIBRARY))
    return MAGIC + header + schema_bytes + channel_bytes


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


@dataclasses.dataclass
class Chunk:
    """A finished chunk, ready for the worker thread: its buffer and the bytes used, its time
    range, and its message index records (see :func:`make_chunk`)."""

    buffer: ChunkBuffer
    size: int
    start: int
    """Earliest message log time."""
    end: int
    """Latest message log time."""
    index: bytes
    """Its MessageIndex records, one per channel (in channel order)."""
    index_offsets: tuple[tuple[int, int], ...]
    """``(channel id, offset of its record in index)``."""


def make_chunk(
    buffer: ChunkBuffer, size: int, idx: Sequence[int], extra: Sequence[tuple[int, int, int]]
) -> Chunk:
    """The :class:`Chunk` of ``buffer[:size]``, given where its messages are: ``idx``, per step
    (flat) the log time and the offsets of its ``STEP_CHANNELS`` messages; ``extra``, other
    messages as ``(channel, log time, offset)``.

    Built by the stepping thread, which holds the GIL anyway: in the worker thread these ~10 us
    of Python would cost the stepping thread several times that, waiting for the GIL."""
    per_channel: dict[int, bytes] = {}
    n_steps = len(idx) // 5
    times = [row[1] for row in extra]
    if n_steps:  # (t, offset) pairs of each step channel, from the (n, 5) rows
        rows = np.frombuffer(array.array("Q", idx), "=u8").reshape(n_steps, 5)
        pairs = np.empty((len(STEP_CHANNELS), n_steps, 2), "<u8")
        pairs[:, :, 0] = rows[:, 0]
        pairs[:, :, 1] = rows[:, 1:].T
        for i, channel in enumerate(STEP_CHANNELS):
            per_channel[channel] = pairs[i].tobytes()
        times += (idx[0], idx[-5])
    flat_by_channel: dict[int, list[int]] = {}
    for channel, t, offset in extra:
        flat_by_channel.setdefault(channel, []).extend((t, offset))
    for channel, flat in flat_by_channel.items():
        per_channel[channel] = struct.pack(f"<{len(flat)}Q", *flat)
    index = bytearray()
    offsets = []
    for channel in sorted(per_channel):
        body = per_channel[channel]
        offsets.append((channel, len(index)))
        index += struct.pack("<BQHI", Opcode.MESSAGE_INDEX, 6 + len(body), channel, len(body))
        index += body
    return Chunk(buffer, size, min(times), max(times), bytes(index), tuple(offsets))


# --------------------------------------------------------------------------- shared worker


class _Worker:
    """The process's chunk-writer thread: runs ``(job, done)`` items in order (one thread, so
    each file's chunks are written in order) and puts each job's exception, or None, on its
    ``done`` queue. Leaner than a ``ThreadPoolExecutor`` (no Future, lock or semaphore per
    chunk): the stepping thread pays ~1 us to queue a chunk."""

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
            self._metadata_indexes.append(
                _record(
                    Opcode.METADATA_INDEX, struct.pack("<QQ", len(out), len(data)) + _string(name)
                )
            )
            out += data
        for name, data, size in attachments:
            self._attachment_indexes.append(
                _record(
                    Opcode.ATTACHMENT_INDEX,
                    struct.pack("<QQQQQ", len(out), len(data), 0, 0, size)
                    + _string(name)
                    + _string(s.NPY_MEDIA_TYPE),
                )
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
        name = self._name
        head = struct.pack(
            f"<BQQQQII{len(name)}sQ",
            Opcode.CHUNK,
            8 + 8 + 8 + 4 + 4 + len(name) + 8 + len(compressed),  # record length
            chunk.start,
            chunk.end,
            chunk.size,
            0,  # uncompressed CRC: not computed (the zstd/lz4 frame has a checksum)
            len(name),
            name,
            len(compressed),
        )
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
        schemas, channels, _, _ = schemas_and_channels()
        counts = {cid: n for cid, n in message_counts.items() if n}
        times = self._chunk_times + ([(last.start, last.end)] if last is not None else [])
        return _record(
            Opcode.STATISTICS,
            struct.pack(
                "<QHIIIIQQ",
                sum(counts.values()),
                len(schemas),
                len(channels),
                len(self._attachment_indexes),
                len(self._metadata_indexes),
                len(times),
                min((t[0] for t in times), default=0),
                max((t[1] for t in times), default=0),
            )
            + _id_map(counts),
        )

    def _end_parts(self, statistics: bytes) -> list[bytes]:
        """DataEnd, summary section (schemas, channels, statistics, indexes), footer, magic:
        to be written after everything else."""
        data_end = _record(Opcode.DATA_END, struct.pack("<I", 0))  # 0: CRC not computed
        _, _, schema_bytes, channel_bytes = schemas_and_channels()
        summary_start = self._pos + len(data_end)
        groups = [
            (Opcode.SCHEMA, schema_bytes),
            (Opcode.CHANNEL, channel_bytes),
            (Opcode.STATISTICS, statistics),
            (Opcode.CHUNK_INDEX, b"".join(self._chunk_indexes)),
            (Opcode.ATTACHMENT_INDEX, b"".join(self._attachment_indexes)),
            (Opcode.METADATA_INDEX, b"".join(self._metadata_indexes)),
        ]
        parts = [data_end]
        offsets = bytearray()
        start = summary_start
        for opcode, data in groups:
            if data:
                group = struct.pack("<BQQ", opcode, start, len(data))
                offsets += _record(Opcode.SUMMARY_OFFSET, group)
                parts.append(data)
                start += len(data)
        footer_head = struct.pack("<BQQQ", Opcode.FOOTER, 20, summary_start, start)
        # CRC of the summary: the constant schemas and channels (cached), then the rest, small
        # enough for zlib to keep the GIL (instead of handing it over twice).
        summary_crc = _schemas_and_channels_crc()
        for data in parts[3:]:
            summary_crc = zlib.crc32(data, summary_crc)
        summary_crc = zlib.crc32(footer_head, zlib.crc32(offsets, summary_crc))
        parts += (offsets, footer_head, struct.pack("<I", summary_crc), MAGIC)
        self._pos += sum(map(len, parts))
        return parts


@cache
def _schemas_and_channels_crc() -> int:
    _, _, schema_bytes, channel_bytes = schemas_and_channels()
    return zlib.crc32(channel_bytes, zlib.crc32(schema_bytes))
