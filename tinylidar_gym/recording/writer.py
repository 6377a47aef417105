"""Write one episode to a Foxglove-ready ``simulation.mcap``.

Encoding, chosen by measurement (``benchmarks/recording_throughput.py``): protobuf everywhere,
with the messages built directly as bytes rather than through message objects. A LaserScan is a
constant prefix plus the ranges cast to float64 straight into the chunk buffer; a FrameTransform
and a ControlCommand are one ``struct.pack`` each; an EnvStep is one ``struct.pack`` per step-dict
layout (:class:`StepEncoder`). Chunks are compressed and written by one background thread; zstd,
lz4 and ``os.writev`` release the GIL, so on a machine with a spare core the compression cost
(~25 us/step of CPU for a 1081-beam scan) leaves the stepping thread.

Integrity: chunks carry the compressor's frame checksum (zstd/lz4 content checksum, xxhash)
instead of MCAP's chunk CRC32: cheaper (no zlib.crc32 pass over every byte) and, unlike a
separate CRC call, it costs the background thread no extra GIL hand-over per chunk, each of which
stalls the stepping thread. Readers verify it when they decompress a chunk; the summary section
has its CRC. Rare records (metadata, attachments, summary) use the ``mcap`` package's record
classes.

Process-wide state: one idle worker thread (re-created in a forked child) and a few reusable
chunk buffers. Writers may run one after another or side by side, in threads or processes.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import json
import math
import os
import struct
import threading
import uuid
import warnings
import zlib
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from functools import cache
from operator import itemgetter
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import numpy as np
from mcap.data_stream import RecordBuilder
from mcap.opcode import Opcode
from mcap.records import (
    Attachment,
    AttachmentIndex,
    Channel,
    ChunkIndex,
    DataEnd,
    Header,
    Metadata,
    MetadataIndex,
    Schema,
    Statistics,
    SummaryOffset,
)

from tinylidar_gym.recording import schemas as s
from tinylidar_gym.recording.schemas import varint
from tinylidar_gym.sim.config import LidarConfig

Compression = Literal["zstd", "lz4"]

MAGIC = b"\x89MCAP0\r\n"
CHUNK_SIZE_BYTES = 1 << 19
"""Target uncompressed chunk size: ~57 steps (1.4 s at 40 Hz) of a 1081-beam scan. Compresses as
well as 1 MiB chunks and keeps the wait in :meth:`EpisodeWriter.close` (last chunk) short."""
ZSTD_LEVEL = -1
"""zstd level of the chunks. On 1081-beam chunks level -1 is both faster and smaller than level 1
(ratio ~2.4 at ~22 us/step of worker CPU vs 2.2 at ~25 us); level 3 (ratio 2.7) needs ~38 us/step
and would fall behind the simulation (``write_step`` then waits for the worker)."""
MAX_PENDING_CHUNKS = 4
"""Chunks queued for the worker before ``write_step`` waits (bounds memory to a few MB)."""

# Channel ids (MCAP ids are per file; these are fixed for every recording).
CH_SCAN, CH_TF, CH_COMMAND, CH_STEP, CH_TF_STATIC, CH_SCENE = 1, 2, 3, 4, 5, 6
_CHANNELS: tuple[tuple[int, str, str, str], ...] = (
    # (channel id, topic, schema name, message encoding)
    (CH_SCAN, s.TOPIC_SCAN, s.SCHEMA_LASER_SCAN, s.ENCODING_PROTOBUF),
    (CH_TF, s.TOPIC_TF, s.SCHEMA_FRAME_TRANSFORM, s.ENCODING_PROTOBUF),
    (CH_COMMAND, s.TOPIC_COMMAND, s.SCHEMA_COMMAND, s.ENCODING_PROTOBUF),
    (CH_STEP, s.TOPIC_STEP, s.SCHEMA_STEP, s.ENCODING_PROTOBUF),
    (CH_TF_STATIC, s.TOPIC_TF_STATIC, s.SCHEMA_FRAME_TRANSFORM, s.ENCODING_PROTOBUF),
    (CH_SCENE, s.TOPIC_SCENE, s.SCHEMA_SCENE_UPDATE, s.ENCODING_PROTOBUF),
)
_STEP_CHANNELS = (CH_SCAN, CH_TF, CH_COMMAND, CH_STEP)

# Message record header: opcode, record length, channel id, sequence, log time, publish time.
_MSG_HEADER = struct.Struct("<BQHIQQ").pack
_MSG_FIXED = 2 + 4 + 8 + 8  # record length = this + len(data)
_MSG_HEADER_SIZE = 9 + _MSG_FIXED
_OP_MESSAGE = int(Opcode.MESSAGE)
_CHUNK_HEADER = struct.Struct("<BQQQQI").pack
# FrameTransform tail: translation (Vector3, field 4) and rotation (Quaternion, field 5), with
# every component written (explicit zeros are valid proto3) so the layout is fixed.
_TF_TAIL = struct.Struct("<2sBdBdBd2sBdBdBdBd").pack
_TF_TAIL_SIZE = 67
_TF_TAIL_ARGS = (b"\x22\x1b", 0x09, 0x11, 0x19, b"\x2a\x24")
_NS_PER_S = 1_000_000_000
# ControlCommand: steering_rad (1), speed_mps (2), action (3, packed, 2 doubles).
_COMMAND = struct.Struct("<BdBdBBdd").pack
_F8 = np.dtype("<f8")


class RecordingWriteError(RuntimeError):
    """Writing a recording failed (write after close, disk full, ...)."""


# --------------------------------------------------------------------------- protobuf bytes


def _len_field(field: int, payload: bytes) -> bytes:
    return varint(field << 3 | 2) + varint(len(payload)) + payload


def _double_field(field: int, value: float) -> bytes:
    return varint(field << 3 | 1) + struct.pack("<d", value)


_IDENTITY_POSE = _len_field(1, b"") + _len_field(2, _double_field(4, 1.0))


def laser_scan_prefix(lidar: LidarConfig) -> bytes:
    """``foxglove.LaserScan`` bytes after the timestamp and before the ``8 * n_beams`` bytes of
    little-endian float64 ranges: frame ``lidar``, identity pose, start/end angle (rad)."""
    return (
        _len_field(2, s.FRAME_LIDAR.encode())
        + _len_field(3, _IDENTITY_POSE)
        + _double_field(4, lidar.angle_min_rad)
        + _double_field(5, lidar.angle_max_rad)
        + varint(6 << 3 | 2)
        + varint(8 * lidar.n_beams)
    )


def _frames_field(parent: str, child: str) -> bytes:
    return _len_field(2, parent.encode()) + _len_field(3, child.encode())


def timestamp_field(t_ns: int) -> bytes:
    """Field 1 (``timestamp``, a google.protobuf.Timestamp) of a Foxglove message."""
    sec, nsec = divmod(t_ns, _NS_PER_S)
    body = (b"\x08" + varint(sec) if sec else b"") + (b"\x10" + varint(nsec) if nsec else b"")
    return b"\x0a" + bytes((len(body),)) + body


def frame_transform_bytes(
    t_ns: int, parent: str, child: str, x: float, y: float, yaw: float
) -> bytes:
    """A planar ``foxglove.FrameTransform`` (translation x/y in m, rotation yaw in rad)."""
    h = 0.5 * yaw
    c, d, e, f, g = _TF_TAIL_ARGS
    tail = _TF_TAIL(c, d, x, e, y, f, 0.0, g, d, 0.0, e, 0.0, f, math.sin(h), 0x21, math.cos(h))
    return timestamp_field(t_ns) + _frames_field(parent, child) + tail


_POINT = np.dtype(
    [("tag", "u1"), ("len", "u1"), ("tx", "u1"), ("x", "<f8"), ("ty", "u1"), ("y", "<f8")]
    + [("tz", "u1"), ("z", "<f8")]
)  # one LinePrimitive.points entry (field 5): a Point3 with x, y, z all written (29 bytes)


def _vector3(x: float, y: float, z: float) -> bytes:
    return struct.pack("<BdBdBd", 0x09, x, 0x11, y, 0x19, z)


def _quaternion_z(yaw: float) -> bytes:
    h = 0.5 * yaw
    return struct.pack("<BdBdBdBd", 0x09, 0.0, 0x11, 0.0, 0x19, math.sin(h), 0x21, math.cos(h))


def _color(r: float, g: float, b: float, a: float) -> bytes:
    return struct.pack("<BdBdBdBd", 0x09, r, 0x11, g, 0x19, b, 0x21, a)


def scene_update_bytes(t_ns: int, walls: np.ndarray, boxes: np.ndarray) -> bytes:
    """``foxglove.SceneUpdate`` with entity ``walls`` (one LINE_LIST, two points per (S, 4)
    segment, at z=0) and entity ``obstacles`` (one cube per (K, 5) box, ``OBSTACLE_HEIGHT_M``
    high, standing on z=0), both in frame ``map``, lifetime 0 (forever), not frame-locked.

    Encoded directly (vectorised over the wall points; a Python object per point would cost
    ~1 ms per episode); tests check it against ``foxglove-sdk``'s own encoder."""
    points = np.zeros(2 * len(walls), dtype=_POINT)
    points["tag"], points["len"] = 5 << 3 | 2, _POINT.itemsize - 2
    points["tx"], points["ty"], points["tz"] = 0x09, 0x11, 0x19
    xy = walls.reshape(-1, 2)
    points["x"], points["y"] = xy[:, 0], xy[:, 1]
    line = (
        b"\x08\x02"  # type = LINE_LIST
        + _len_field(2, _IDENTITY_POSE)
        + _double_field(3, s.WALL_THICKNESS_M)
        + points.tobytes()
        + _len_field(6, _color(0.85, 0.85, 0.85, 1.0))
    )
    height = s.OBSTACLE_HEIGHT_M
    cubes = b"".join(
        _len_field(
            8,
            _len_field(
                1, _len_field(1, _vector3(x, y, 0.5 * height)) + _len_field(2, _quaternion_z(yaw))
            )
            + _len_field(2, _vector3(length, width, height))
            + _len_field(3, _color(0.9, 0.35, 0.1, 0.9)),
        )
        for x, y, yaw, length, width in boxes.tolist()
    )
    head = timestamp_field(t_ns) + _len_field(2, s.FRAME_MAP.encode())
    lifetime = _len_field(4, b"")  # Duration 0 = forever; frame_locked (5) false = omitted
    walls_entity = head + _len_field(3, b"walls") + lifetime + _len_field(11, line)
    obstacles_entity = head + _len_field(3, b"obstacles") + lifetime + cubes
    return _len_field(2, walls_entity) + _len_field(2, obstacles_entity)


# --------------------------------------------------------------------------- JSON


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic | np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable: {value!r}")


_JSON = json.JSONEncoder(separators=(",", ":"), default=_json_default).encode


def _finite_or_text(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, np.generic | np.ndarray):
        return _finite_or_text(value.tolist())
    if isinstance(value, list | tuple):
        return [_finite_or_text(v) for v in value]
    if isinstance(value, dict):
        return {k: _finite_or_text(v) for k, v in value.items()}
    return value


def json_bytes(obj: Mapping[str, Any]) -> bytes:
    """Compact JSON; numpy scalars become Python ones, non-finite floats the strings
    ``"Infinity"``, ``"-Infinity"``, ``"NaN"`` (JSON has no such numbers)."""
    text = _JSON(obj)
    if "Infinity" in text or "NaN" in text:  # rare: re-encode with the floats replaced
        text = _JSON(_finite_or_text(dict(obj)))
    return text.encode()


# --------------------------------------------------------------------------- EnvStep

_STEP_KINDS = {name: (number, kind) for name, number, kind in s.STEP_FIELDS}
_VALUE_FORMAT = {"double": "d", "bool": "?", "int": "i"}
_SPEED_FIELD = struct.Struct("<Bd").pack
_SPEED_TAG = _STEP_KINDS["speed_mps"][0] << 3 | 1


def _tag(number: int, kind: str) -> bytes:
    wire = {"double": 1, "bool": 0, "int": 5, "string": 2}[kind]
    return varint(number << 3 | wire)


def _string_field(name: str, text: str) -> bytes:
    return _len_field(_STEP_KINDS[name][0], text.encode())


class _StepPlan:
    """How to encode step dicts with one particular key sequence: the fixed-size fields in one
    ``struct.pack``, with the tags pre-filled in an argument template."""

    def __init__(self, keys: tuple[str, ...]) -> None:
        fixed = [k for k in keys if _STEP_KINDS.get(k, (0, "string"))[1] != "string"]
        fixed = [k for k in fixed if k != "speed_mps"]  # comes from write_step's argument
        fmt, template = "<", []
        for key in fixed:
            number, kind = _STEP_KINDS[key]
            tag = _tag(number, kind)
            fmt += f"{len(tag)}s{_VALUE_FORMAT[kind]}"
            template += [tag, None]
        self.pack = struct.Struct(fmt).pack
        self.template = template
        self.get = itemgetter(*fixed) if len(fixed) > 1 else None
        self.single = fixed[0] if len(fixed) == 1 else None
        self.has_reason = "end_reason" in keys
        self.extra = [k for k in keys if k not in _STEP_KINDS or k == s.STEP_EXTRA_FIELD]

    def encode(self, step: Mapping[str, Any], speed_mps: float) -> bytes:
        args = self.template[:]
        if self.get is not None:
            args[1::2] = self.get(step)
        elif self.single is not None:
            args[1] = step[self.single]
        out = self.pack(*args) + _SPEED_FIELD(_SPEED_TAG, speed_mps)
        if self.has_reason:
            out += _reason_field(step["end_reason"])
        if self.extra:
            extra = json_bytes({k: step[k] for k in self.extra}).decode()
            out += _string_field(s.STEP_EXTRA_FIELD, extra)
        return out


@functools.lru_cache(maxsize=64)
def _reason_field(reason: str) -> bytes:
    if not isinstance(reason, str):
        raise TypeError(f"end_reason must be a str, got {type(reason).__name__}")
    return _string_field("end_reason", reason)


class StepEncoder:
    """Encodes a step dict (plus the vehicle speed) as a ``tinylidar.EnvStep`` message.

    Keys of :data:`~tinylidar_gym.recording.schemas.STEP_FIELDS` are stored with the field's type
    (double, bool, int32, string); other keys, and values that do not convert, go JSON-encoded
    to ``extra_json``. About 1 us for a full env ``info`` dict (``json.dumps``: ~8 us). The
    fast path packs each key layout (cached) with one ``struct.pack``."""

    def __init__(self) -> None:
        self._plans: dict[tuple[str, ...], _StepPlan] = {}

    def __call__(self, step: Mapping[str, Any], speed_mps: float) -> bytes:
        keys = tuple(step)
        plan = self._plans.get(keys)
        if plan is None:
            if len(self._plans) >= 64:
                self._plans.clear()
            plan = self._plans[keys] = _StepPlan(keys)
        try:
            return plan.encode(step, speed_mps)
        except (struct.error, TypeError, ValueError, OverflowError):
            return _encode_step_slowly(step, speed_mps)


def _encode_step_slowly(step: Mapping[str, Any], speed_mps: float) -> bytes:
    """Field by field, converting values; a value that does not fit its field's type (or an
    unknown key) goes to ``extra_json`` unchanged."""
    out = bytearray()
    extra: dict[str, Any] = {}
    for key, value in step.items():
        number, kind = _STEP_KINDS.get(key, (0, ""))
        if key == "speed_mps":
            continue
        try:
            if kind == "double":
                out += _tag(number, kind) + struct.pack("<d", float(value))
            elif kind == "bool":
                out += _tag(number, kind) + (b"\x01" if bool(value) else b"\x00")
            elif kind == "int":
                out += _tag(number, kind) + struct.pack("<i", int(value))
            elif kind == "string" and key != s.STEP_EXTRA_FIELD and isinstance(value, str):
                out += _string_field(key, value)
            else:
                extra[key] = value
        except (TypeError, ValueError, OverflowError, struct.error):
            extra[key] = value
    out += _SPEED_FIELD(_SPEED_TAG, float(speed_mps))
    if extra:
        out += _string_field(s.STEP_EXTRA_FIELD, json_bytes(extra).decode())
    return bytes(out)


# --------------------------------------------------------------------------- shared worker

_worker_lock = threading.Lock()
_worker_pool: ThreadPoolExecutor | None = None


def _worker() -> ThreadPoolExecutor:
    """The process's chunk-writer thread (one, so each writer's chunks are written in order)."""
    global _worker_pool
    with _worker_lock:
        if _worker_pool is None:
            _worker_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mcap-writer")
        return _worker_pool


def _forget_worker_after_fork() -> None:  # the thread does not exist in a forked child
    global _worker_pool, _worker_lock
    _worker_pool = None
    _worker_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_worker_after_fork)


# --------------------------------------------------------------------------- file head


def _record_bytes(*records: Any) -> bytes:
    builder = RecordBuilder()
    for record in records:
        record.write(builder)
    return builder.end()


@cache
def _schemas_and_channels() -> tuple[tuple[Schema, ...], tuple[Channel, ...], bytes, bytes]:
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
        for cid, topic, name, enc in _CHANNELS
    )
    return tuple(schemas), channels, _record_bytes(*schemas), _record_bytes(*channels)


@cache
def _file_head() -> bytes:
    _, _, schema_bytes, channel_bytes = _schemas_and_channels()
    header = _record_bytes(Header(profile=s.PROFILE, library=s.LIBRARY))
    return MAGIC + header + schema_bytes + channel_bytes


# --------------------------------------------------------------------------- chunk buffers

CHUNK_CAPACITY = CHUNK_SIZE_BYTES + (1 << 16)
"""Bytes allocated per chunk buffer: the target size plus room for the step that crosses it."""


class _ChunkBuffer:
    """A reusable chunk buffer with float64 views at each of the 8 byte alignments, so that a
    scan is cast straight into place (no temporary array, no join)."""

    _free: list[_ChunkBuffer] = []  # shared by all writers of the process (list ops are atomic)

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.data = bytearray(capacity)
        self.views = tuple(
            np.frombuffer(self.data, _F8, count=(capacity - r) // 8, offset=r) for r in range(8)
        )

    @classmethod
    def get(cls, capacity: int) -> _ChunkBuffer:
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
class _Chunk:
    buffer: _ChunkBuffer
    size: int
    idx: list[tuple[int, int, int, int, int]]
    extra: list[tuple[int, int, int]]


# --------------------------------------------------------------------------- writer


class EpisodeWriter:
    """Records one episode to ``path`` (normally ``.../simulation.mcap``).

    Data goes to a hidden temp file next to ``path`` (``.<name>.<pid>.<random>.tmp``) that is
    renamed onto ``path`` only by a successful :meth:`close`; an exception inside
    ``with EpisodeWriter(...)`` (or :meth:`abort`) deletes it, so ``path`` is never a
    half-written file.

    Args:
        path: the ``.mcap`` file to create (its directory must exist; an old file is replaced).
        lidar: the scanner (beam count, angles, max range).
        mount_offset_m: scanner position ahead of the rear axle (the ``base_link`` -> ``lidar``
            transform), m.
        walls: (S, 4) course wall segments ``[x0, y0, x1, y1]`` in ``map``, m.
        obstacle_boxes: (K, 5) boxes ``[x_m, y_m, yaw_rad, length_m, width_m]`` in ``map``.
        metadata: JSON-serialisable values (seed, config, ...), stored in the file.
        compression: chunk compression, ``"zstd"`` (default; ~2.4x smaller) or ``"lz4"``
            (~1.5x, about half the CPU).
        fsync: ``fsync`` the file before the rename in :meth:`close`, so that it also survives
            a power loss (costs ~0.3-3 ms per episode). The rename alone already guarantees
            that a crashed process never leaves a partial ``path``.

    Times are simulation times in ns (the episode starts at ``t_ns=0``); they become every
    message's ``log_time`` and ``publish_time`` and the ``timestamp`` of the Foxglove messages.
    The scene and the static transform are logged with the first step. Not thread-safe: one
    writer is used by one thread at a time.
    """

    def __init__(
        self,
        path: str | Path,
        lidar: LidarConfig,
        mount_offset_m: float,
        walls: np.ndarray,
        obstacle_boxes: np.ndarray,
        metadata: Mapping[str, Any] | None = None,
        *,
        compression: Compression = "zstd",
        fsync: bool = False,
    ) -> None:
        self._closed = True  # until fully set up (abort() and __del__ rely on it)
        self._file: io.FileIO | None = None
        self._pending: deque[Future[None]] = deque()
        self.path = Path(path)
        self._tmp = self.path.with_name(
            f".{self.path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
        )
        self.lidar = lidar
        self.mount_offset_m = float(mount_offset_m)
        if not math.isfinite(self.mount_offset_m):
            raise ValueError(f"mount_offset_m must be finite, got {mount_offset_m!r}.")
        self._walls = _checked_array("walls", walls, 4)
        self._boxes = _checked_array("obstacle_boxes", obstacle_boxes, 5)
        self._compress = _compressor(compression)  # worker thread
        self._compress_last = _compressor(compression)  # main thread (close); not shared
        self._compression = compression
        self._fsync = fsync
        user_metadata = {
            str(k): json.dumps(v, default=_json_default) for k, v in (metadata or {}).items()
        }

        self._n_beams = lidar.n_beams
        self._scan_shape = (lidar.n_beams,)
        self._scan_prefix = laser_scan_prefix(lidar)
        self._scan_fixed = _MSG_FIXED + len(self._scan_prefix) + 8 * lidar.n_beams
        self._ranges_size = 8 * lidar.n_beams
        self._tf_frames = _frames_field(s.FRAME_MAP, s.FRAME_BASE_LINK)
        self._tf_fixed = _MSG_FIXED + len(self._tf_frames) + _TF_TAIL_SIZE
        self._encode_step = StepEncoder()

        # Current chunk (main thread): message records and their index entries.
        self._chunk = _ChunkBuffer.get(CHUNK_CAPACITY)
        self._size = 0  # bytes used in _chunk
        self._idx: list[tuple[int, int, int, int, int]] = []  # t, scan/tf/cmd/step offsets
        self._extra: list[tuple[int, int, int]] = []  # channel, t, offset (static messages)
        self._seq = 0
        self._last_t = 0
        self._next_static_t = 0
        self._scene_written = False
        self._extra_counts = {CH_TF_STATIC: 0, CH_SCENE: 0}
        self._stamp_sec = -1
        self._stamp_heads: list[bytes] = []  # by length of the nanoseconds part
        self._nsec_parts: dict[int, bytes] = {}

        # The file: written by the main thread before the first chunk and after the last one,
        # by the worker thread in between (never both at once).
        self._pos = 0
        self._chunk_indexes: list[ChunkIndex] = []
        self._attachment_indexes: list[AttachmentIndex] = []
        self._metadata_indexes: list[MetadataIndex] = []
        try:
            # Unbuffered: every write is one large os.writev (see _write).
            self._file = open(self._tmp, "xb", buffering=0)  # noqa: SIM115 - closed by close()
            self._write_start(user_metadata)
        except BaseException:
            self.abort()
            raise
        self._closed = False

    # ------------------------------------------------------------------ public API

    def write_step(
        self,
        t_ns: int,
        scan: np.ndarray,
        pose: Sequence[float],
        speed_mps: float,
        command: Sequence[float],
        action: Sequence[float] | np.ndarray,
        step: Mapping[str, Any],
    ) -> None:
        """Record one env step: 4 messages (scan, pose transform, command, step) at ``t_ns``.

        Args:
            t_ns: simulation time of the step, ns (>= 0, non-decreasing over the episode).
            scan: (n_beams,) float32 ranges in m (written exactly).
            pose: ``(x_m, y_m, yaw_rad)`` of ``base_link`` (rear axle) in ``map``.
            speed_mps: vehicle speed, m/s (the step message's ``speed_mps``; a ``speed_mps`` key
                in ``step`` is ignored).
            command: ``(steering_rad, speed_mps)`` commanded this step.
            action: (2,) raw policy action.
            step: step results as plain scalars (reward, terminated, truncated, end_reason,
                progress_m, checkpoints_passed, the env's ``info``, ...; numpy scalars are
                fine). Known keys are typed protobuf fields, others go to ``extra_json``
                (see :data:`~tinylidar_gym.recording.schemas.STEP_FIELDS`).
        """
        if self._closed:
            raise RecordingWriteError(f"{self.path}: write_step() after close() or abort().")
        t = int(t_ns)
        if t < self._last_t:
            raise ValueError(f"t_ns={t_ns} is < 0 or before the previous step ({self._last_t}).")
        if scan.shape != self._scan_shape:
            raise ValueError(f"scan must have shape {self._scan_shape}, got {scan.shape}.")
        if t >= self._next_static_t:
            self._write_static(t)
        seq = self._seq

        # Timestamp field; its seconds part changes once per simulated second.
        sec, nsec = divmod(t, _NS_PER_S)
        if sec != self._stamp_sec:
            self._set_stamp_sec(sec)
        nsec_part = self._nsec_parts.get(nsec)
        if nsec_part is None:
            nsec_part = self._nsec_part(nsec)
        stamp = self._stamp_heads[len(nsec_part)] + nsec_part
        n_stamp = len(stamp)

        # /scan: header, timestamp, constant prefix, then the ranges as float64.
        scan_head = (
            _MSG_HEADER(_OP_MESSAGE, self._scan_fixed + n_stamp, CH_SCAN, seq, t, t)
            + stamp
            + self._scan_prefix
        )
        # /tf: map -> base_link.
        x, y, yaw = pose
        h = 0.5 * yaw
        c, d, e, f, g = _TF_TAIL_ARGS
        tf = (
            _MSG_HEADER(_OP_MESSAGE, self._tf_fixed + n_stamp, CH_TF, seq, t, t)
            + stamp
            + self._tf_frames
            + _TF_TAIL(c, d, x, e, y, f, 0.0, g, d, 0.0, e, 0.0, f, math.sin(h), 0x21, math.cos(h))
        )
        # /control/command, /env/step.
        steer, speed_cmd = command
        a0, a1 = action
        cmd = _COMMAND(0x09, steer, 0x11, speed_cmd, 0x1A, 16, a0, a1)
        res = self._encode_step(step, speed_mps)

        tail = (
            tf
            + _MSG_HEADER(_OP_MESSAGE, _MSG_FIXED + len(cmd), CH_COMMAND, seq, t, t)
            + cmd
            + _MSG_HEADER(_OP_MESSAGE, _MSG_FIXED + len(res), CH_STEP, seq, t, t)
            + res
        )
        off_scan = self._size
        off_ranges = off_scan + len(scan_head)
        off_tf = off_ranges + self._ranges_size
        end = off_tf + len(tail)
        chunk = self._chunk
        if end > chunk.capacity:  # rare: a huge step message; start a new chunk
            self._flush_chunk(end - off_scan)
            chunk, off_scan = self._chunk, 0
            off_ranges = len(scan_head)
            off_tf = off_ranges + self._ranges_size
            end = off_tf + len(tail)
        data = chunk.data
        data[off_scan:off_ranges] = scan_head
        # float32 -> float64 straight into the chunk, through the view with the right alignment.
        q = off_ranges >> 3
        chunk.views[off_ranges & 7][q : q + self._n_beams] = scan
        data[off_tf:end] = tail
        off_cmd = off_tf + len(tf)
        self._idx.append((t, off_scan, off_tf, off_cmd, off_cmd + _MSG_HEADER_SIZE + len(cmd)))
        self._size = end
        self._seq = seq + 1
        self._last_t = t
        if end >= CHUNK_SIZE_BYTES:
            self._flush_chunk()

    def close(self) -> None:
        """Finish the file (last chunk, indexes, summary) and rename it onto ``path``.
        Idempotent; does nothing after :meth:`abort`."""
        if self._closed:
            return
        try:
            if not self._scene_written:  # an episode without steps still shows its layout
                self._write_static(self._last_t)
            # The last chunk is compressed here, while the worker finishes the previous ones.
            last = self._take_chunk()
            compressed = self._compress_last(last.buffer.view(last.size)) if last else None
            while self._pending:
                self._pending.popleft().result()
            if last is not None:
                self._write_chunk(last, compressed)
            self._chunk.release()
            self._write_end()
            assert self._file is not None
            if self._fsync:
                os.fsync(self._file.fileno())
            self._file.close()
            self._file = None
            os.replace(self._tmp, self.path)
            self._closed = True
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        """Stop writing and delete the temp file; ``path`` is left untouched. Idempotent."""
        self._closed = True
        pending = [f for f in self._pending if not f.cancel()]
        self._pending.clear()
        wait_futures(pending)  # a chunk being written must finish before the file is closed
        if self._file is not None:
            try:
                self._file.close()
            except OSError:
                pass
            self._file = None
        self._tmp.unlink(missing_ok=True)

    @property
    def steps_written(self) -> int:
        """Number of :meth:`write_step` calls so far."""
        return self._seq

    def __enter__(self) -> EpisodeWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def __del__(self) -> None:
        if not getattr(self, "_closed", True):
            warnings.warn(
                f"EpisodeWriter for {self.path} was never closed; the recording is discarded.",
                ResourceWarning,
                stacklevel=1,
            )
            try:
                self.abort()
            except Exception:  # noqa: BLE001 - best effort during garbage collection
                pass

    # ------------------------------------------------------------------ internals

    def _set_stamp_sec(self, sec: int) -> None:
        self._stamp_sec = sec
        sec_part = b"\x08" + varint(sec) if sec else b""
        self._stamp_heads = [b"\x0a" + bytes((len(sec_part) + k,)) + sec_part for k in range(7)]

    def _nsec_part(self, nsec: int) -> bytes:
        part = b"\x10" + varint(nsec) if nsec else b""
        if len(self._nsec_parts) < 4096:
            self._nsec_parts[nsec] = part
        return part

    def _write(self, *parts: bytes | bytearray) -> None:
        """Append to the file with one system call (``os.writev``; unbuffered file)."""
        assert self._file is not None
        fd = self._file.fileno()
        views = [memoryview(p) for p in parts if len(p)]
        while views:
            n = os.writev(fd, views)
            self._pos += n
            while views and n >= len(views[0]):
                n -= len(views.pop(0))
            if n:
                views[0] = views[0][n:]

    def _write_start(self, user_metadata: dict[str, str]) -> None:
        lidar = self.lidar
        lidar_meta = {
            "n_beams": str(lidar.n_beams),
            "fov_deg": repr(float(lidar.fov_deg)),
            "angle_min_rad": repr(lidar.angle_min_rad),
            "angle_max_rad": repr(lidar.angle_max_rad),
            "angle_increment_rad": repr(lidar.angle_increment_rad),
            "max_range_m": repr(float(lidar.max_range_m)),
            "noise_std_m": repr(float(lidar.noise_std_m)),
            "mount_offset_m": repr(self.mount_offset_m),
        }
        out = bytearray(_file_head())
        for name, values in ((s.METADATA_LIDAR, lidar_meta), (s.METADATA_EPISODE, user_metadata)):
            data = _record_bytes(Metadata(name=name, metadata=values))
            self._metadata_indexes.append(MetadataIndex(len(out), len(data), name))
            out += data
        for name, array in (
            (s.ATTACHMENT_WALLS, self._walls),
            (s.ATTACHMENT_OBSTACLES, self._boxes),
        ):
            npy = io.BytesIO()
            np.save(npy, array, allow_pickle=False)
            payload = npy.getvalue()
            record = Attachment(0, 0, name, s.NPY_MEDIA_TYPE, payload)
            data = _record_bytes(record)
            self._attachment_indexes.append(
                AttachmentIndex(len(out), len(data), 0, 0, len(payload), name, s.NPY_MEDIA_TYPE)
            )
            out += data
        self._write(out)

    def _append_extra(self, channel: int, t: int, data: bytes) -> None:
        seq = self._extra_counts[channel]
        self._extra_counts[channel] = seq + 1
        record = _MSG_HEADER(_OP_MESSAGE, _MSG_FIXED + len(data), channel, seq, t, t) + data
        if self._size + len(record) > self._chunk.capacity:
            self._flush_chunk(len(record))
        self._extra.append((channel, t, self._size))
        self._chunk.data[self._size : self._size + len(record)] = record
        self._size += len(record)

    def _write_static(self, t: int) -> None:
        """The scene (first time only) and the static base_link -> lidar transform."""
        if not self._scene_written:
            self._append_extra(CH_SCENE, t, scene_update_bytes(t, self._walls, self._boxes))
            self._scene_written = True
        tf = frame_transform_bytes(
            t, s.FRAME_BASE_LINK, s.FRAME_LIDAR, self.mount_offset_m, 0.0, 0.0
        )
        self._append_extra(CH_TF_STATIC, t, tf)
        self._next_static_t = t + s.STATIC_TF_PERIOD_NS

    def _take_chunk(self, next_capacity: int = 0) -> _Chunk | None:
        """Hand over the current chunk and start a new one (of at least ``next_capacity``)."""
        if not self._size:
            return None
        taken = _Chunk(self._chunk, self._size, self._idx, self._extra)
        self._chunk = _ChunkBuffer.get(max(CHUNK_CAPACITY, next_capacity))
        self._size, self._idx, self._extra = 0, [], []
        return taken

    def _flush_chunk(self, next_capacity: int = 0) -> None:
        chunk = self._take_chunk(next_capacity)
        if chunk is None:
            if next_capacity > self._chunk.capacity:
                self._chunk = _ChunkBuffer.get(next_capacity)
            return
        while len(self._pending) >= MAX_PENDING_CHUNKS:
            self._pending.popleft().result()
        self._pending.append(_worker().submit(self._write_chunk, chunk))

    def _write_chunk(self, chunk: _Chunk, compressed: bytes | None = None) -> None:
        """Write one chunk record and its message index records (worker thread, or the main
        thread in :meth:`close` with the last chunk already compressed).

        Only two calls release the GIL (compress, writev): every GIL hand-over between this
        thread and the stepping thread costs the latter a few microseconds."""
        size = chunk.size
        data = self._compress(chunk.buffer.view(size)) if compressed is None else compressed
        chunk.buffer.release()
        per_channel: dict[int, bytes] = {}
        if chunk.idx:
            rows = np.array(chunk.idx, dtype="<u8")
            for col, channel in enumerate(_STEP_CHANNELS, start=1):
                per_channel[channel] = rows[:, (0, col)].tobytes()
        extra: dict[int, list[int]] = {}
        for channel, t, offset in chunk.extra:
            extra.setdefault(channel, []).extend((t, offset))
        for channel, flat in extra.items():
            per_channel[channel] = struct.pack(f"<{len(flat)}Q", *flat)
        times = [row[0] for row in chunk.idx[:1]] + [row[1] for row in chunk.extra]
        start = min(times)
        end = max([row[0] for row in chunk.idx[-1:]] + [row[1] for row in chunk.extra])

        name = self._compression.encode()
        length = 8 + 8 + 8 + 4 + 4 + len(name) + 8 + len(data)
        head = (
            _CHUNK_HEADER(int(Opcode.CHUNK), length, start, end, size, 0)
            + struct.pack("<I", len(name))
            + name
            + struct.pack("<Q", len(data))
        )
        chunk_start = self._pos
        index_start = chunk_start + len(head) + len(data)
        offsets: dict[int, int] = {}
        records = bytearray()
        for channel in sorted(per_channel):
            body = per_channel[channel]
            offsets[channel] = index_start + len(records)
            records += struct.pack(
                "<BQHI", int(Opcode.MESSAGE_INDEX), 6 + len(body), channel, len(body)
            )
            records += body
        self._write(head, data, records)
        self._chunk_indexes.append(
            ChunkIndex(
                message_start_time=start,
                message_end_time=end,
                chunk_start_offset=chunk_start,
                chunk_length=9 + length,
                message_index_offsets=offsets,
                message_index_length=len(records),
                compression=self._compression,
                compressed_size=len(data),
                uncompressed_size=size,
            )
        )

    def _write_end(self) -> None:
        """DataEnd, summary section (schemas, channels, statistics, indexes), footer, magic."""
        self._write(_record_bytes(DataEnd(data_section_crc=0)))  # 0: not computed
        schemas, channels, schema_bytes, channel_bytes = _schemas_and_channels()
        counts = {cid: self._seq for cid in _STEP_CHANNELS} | self._extra_counts
        counts = {cid: n for cid, n in counts.items() if n}
        chunks = self._chunk_indexes
        stats = Statistics(
            attachment_count=len(self._attachment_indexes),
            channel_count=len(channels),
            channel_message_counts=counts,
            chunk_count=len(chunks),
            message_count=sum(counts.values()),
            metadata_count=len(self._metadata_indexes),
            message_start_time=min((c.message_start_time for c in chunks), default=0),
            message_end_time=max((c.message_end_time for c in chunks), default=0),
            schema_count=len(schemas),
        )
        summary_start = self._pos
        groups = [
            (Opcode.SCHEMA, schema_bytes),
            (Opcode.CHANNEL, channel_bytes),
            (Opcode.STATISTICS, _record_bytes(stats)),
            (Opcode.CHUNK_INDEX, _record_bytes(*chunks)),
            (Opcode.ATTACHMENT_INDEX, _record_bytes(*self._attachment_indexes)),
            (Opcode.METADATA_INDEX, _record_bytes(*self._metadata_indexes)),
        ]
        summary = bytearray()
        offsets = []
        for opcode, data in groups:
            if data:
                offsets.append(SummaryOffset(int(opcode), summary_start + len(summary), len(data)))
                summary += data
        summary_offset_start = summary_start + len(summary)
        summary += _record_bytes(*offsets)
        footer_head = struct.pack(
            "<BQQQ", int(Opcode.FOOTER), 20, summary_start, summary_offset_start
        )
        summary_crc = zlib.crc32(footer_head, zlib.crc32(summary))
        self._write(summary + footer_head + struct.pack("<I", summary_crc) + MAGIC)


def _checked_array(name: str, value: np.ndarray, cols: int) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.size == 0:
        arr = arr.reshape(0, cols)
    if arr.ndim != 2 or arr.shape[1] != cols:
        raise ValueError(f"{name} must have shape (N, {cols}), got {np.shape(value)}.")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite.")
    return np.ascontiguousarray(arr)


def _compressor(name: str) -> Callable[[bytes], bytes]:
    if name == "zstd":
        import zstandard

        return zstandard.ZstdCompressor(level=ZSTD_LEVEL, write_checksum=True).compress
    if name == "lz4":
        import lz4.frame

        return functools.partial(lz4.frame.compress, content_checksum=True)
    raise ValueError(f"compression={name!r} is not supported; use 'zstd' or 'lz4'.")
