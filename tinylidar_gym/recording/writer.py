"""Write one episode to a Foxglove-ready ``simulation.mcap``.

Encoding, chosen by measurement (``benchmarks/recording_throughput.py``): protobuf everywhere,
with the messages built directly as bytes rather than through message objects
(:mod:`~tinylidar_gym.recording.messages`), straight into the current chunk buffer: per step,
one ``struct.pack_into`` for the scan's record header, the ranges cast from float32 to float64
in place, and one ``struct.pack_into`` for the transform, command and step records together
(costs: ``benchmarks/recording.md``). Chunks are compressed and written by a background thread
(:mod:`~tinylidar_gym.recording.mcap_chunks`), which can also finish the file
(``close(wait=False)``): the stepping thread then only hands over the last chunk.
"""

from __future__ import annotations

import functools
import json
import math
import struct
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple

import numpy as np

from tinylidar_gym.recording import schemas as s
from tinylidar_gym.recording.mcap_chunks import (
    CHUNK_CAPACITY,
    CHUNK_SIZE_BYTES,
    ChunkBuffer,
    Compression,
    McapFile,
    RecordingWriteError,
)
from tinylidar_gym.recording.mcap_records import (
    CH_COMMAND,
    CH_SCAN,
    CH_SCENE,
    CH_STEP,
    CH_TF,
    CH_TF_STATIC,
    MSG_FIXED,
    MSG_HEAD_FORMAT,
    MSG_HEADER,
    MSG_HEADER_SIZE,
    OP_MESSAGE,
    STEP_CHANNELS,
    make_chunk,
    message_head,
    metadata_record,
    npy_attachment,
)
from tinylidar_gym.recording.messages import (
    COMMAND_ACTION_HEAD,
    COMMAND_FORMAT,
    COMMAND_SIZE,
    COMMAND_SPEED_TAG,
    COMMAND_STEER_TAG,
    TF_AFTER_Y,
    TF_TRANSLATION_HEAD,
    TF_W_TAG,
    TF_XY_FORMAT,
    TF_XY_SIZE,
    TF_Y_TAG,
    TIMESTAMP_FIELDS,
    StepEncoder,
    cached_timestamp_field,
    frame_transform_bytes,
    frames_field,
    json_default,
    laser_scan_prefix,
    scene_update_bytes,
    static_transform_bytes,
    timestamp_field,
)
from tinylidar_gym.sim.config import LidarConfig

__all__ = [
    "EpisodeWriter",
    "RecordingWriteError",
    "StepEncoder",
    "frame_transform_bytes",
    "laser_scan_prefix",
    "scene_update_bytes",
    "timestamp_field",
]

_sin, _cos = math.sin, math.cos
_metadata_json = json.JSONEncoder(default=json_default).encode  # = json.dumps(v, default=...)
_ndarray = np.ndarray


class _StepLayout(NamedTuple):
    """Sizes, offsets and packers of one step's records (scan, transform, command, step) for a
    scan prefix, a ranges size, a timestamp length and a step message length. A writer sees a
    handful; they are shared by the writers of a scanner (:data:`_LAYOUTS`). A tuple, so that
    :meth:`EpisodeWriter.write_step_message` unpacks it at once."""

    size: int
    scan_pack: Callable[..., None]  # pack_into: scan record up to the ranges
    scan_head: bytes  # its first 11 bytes (opcode, length, channel)
    ranges_at: int  # offsets from the scan record: its ranges, then the other records
    tail_pack: Callable[..., None]  # pack_into: transform, command and step records
    tf_head: bytes
    cmd_head: bytes
    step_head: bytes
    tf_at: int
    cmd_at: int
    step_at: int


def _step_layout(
    prefix_size: int, ranges_size: int, stamp_size: int, step_size: int
) -> _StepLayout:
    frames_size = len(_TF_FRAMES)
    scan_data = stamp_size + prefix_size + ranges_size
    tf_data = stamp_size + frames_size + TF_XY_SIZE
    ranges_at = MSG_HEADER_SIZE + stamp_size + prefix_size
    tf_at = ranges_at + ranges_size
    cmd_at = tf_at + MSG_HEADER_SIZE + tf_data
    step_at = cmd_at + MSG_HEADER_SIZE + COMMAND_SIZE
    return _StepLayout(
        size=step_at + MSG_HEADER_SIZE + step_size,
        scan_pack=struct.Struct(f"<{MSG_HEAD_FORMAT}{stamp_size}s{prefix_size}s").pack_into,
        scan_head=message_head(CH_SCAN, scan_data),
        ranges_at=ranges_at,
        tail_pack=struct.Struct(
            f"<{MSG_HEAD_FORMAT}{stamp_size}s{frames_size}s{TF_XY_FORMAT}"
            f"{MSG_HEAD_FORMAT}{COMMAND_FORMAT}{MSG_HEAD_FORMAT}{step_size}s"
        ).pack_into,
        tf_head=message_head(CH_TF, tf_data),
        cmd_head=message_head(CH_COMMAND, COMMAND_SIZE),
        step_head=message_head(CH_STEP, step_size),
        tf_at=tf_at,
        cmd_at=cmd_at,
        step_at=step_at,
    )


_TF_FRAMES = frames_field(s.FRAME_MAP, s.FRAME_BASE_LINK) + TF_TRANSLATION_HEAD
"""A pose transform's bytes between its timestamp and its x."""
_LAYOUTS: dict[tuple[int, int], dict[int, _StepLayout]] = {}
"""Step layouts by (scan prefix size, ranges size), then by ``step size << 5 | stamp size``."""


def _layouts_for(prefix_size: int, ranges_size: int) -> dict[int, _StepLayout]:
    if len(_LAYOUTS) >= 16:
        _LAYOUTS.clear()
    return _LAYOUTS.setdefault((prefix_size, ranges_size), {})


class EpisodeWriter:
    """Records one episode to ``path`` (normally ``.../simulation.mcap``).

    Data goes to a hidden temp file next to ``path`` (``.<name>.<pid>.<random>.tmp``) that is
    renamed onto ``path`` only once :meth:`close` has written all of it (``close(wait=False)``
    leaves that to the background thread); an exception inside ``with EpisodeWriter(...)`` (or
    :meth:`abort`) deletes it, so ``path`` is never a half-written file.

    Args:
        path: the ``.mcap`` file to create (its directory must exist; an old file is replaced).
        lidar: the scanner (beam count, angles, max range).
        mount_offset_m: scanner position ahead of the rear axle (the ``base_link`` -> ``lidar``
            transform), m.
        walls: (S, 4) course wall segments ``[x0, y0, x1, y1]`` in ``map``, m.
        obstacle_boxes: (K, 5) boxes ``[x_m, y_m, yaw_rad, length_m, width_m]`` in ``map``.
        metadata: JSON-serialisable values (seed, config, ...), stored in the file.
        compression: chunk compression, ``"zstd"`` (default; smaller files) or ``"lz4"``
            (bigger files, less CPU).
        fsync: ``fsync`` the file before the rename in :meth:`close`, so that it also survives
            a power loss (at some cost per episode). The rename alone already guarantees
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
        self._finishing = False  # close(wait=False) queued the finish, nobody waited yet
        self._file: McapFile | None = None
        self.path = Path(path)
        self.lidar = lidar
        self.mount_offset_m = float(mount_offset_m)
        if not math.isfinite(self.mount_offset_m):
            raise ValueError(f"mount_offset_m must be finite, got {mount_offset_m!r}.")
        self._walls = _checked_array("walls", walls, 4)
        self._boxes = _checked_array("obstacle_boxes", obstacle_boxes, 5)
        user_metadata = {str(k): _metadata_json(v) for k, v in (metadata or {}).items()}

        self._n_beams = lidar.n_beams
        self._scan_shape = (lidar.n_beams,)
        self._scan_prefix = _by_lidar(_scan_prefix, lidar)
        self._ranges_size = 8 * lidar.n_beams
        self._layouts = _layouts_for(len(self._scan_prefix), self._ranges_size)
        self._encode_step: Callable[[Mapping[str, Any], float], bytes] = StepEncoder()

        # Current chunk (main thread): message records and their index entries.
        self._chunk = ChunkBuffer.get()
        self._size = 0  # bytes used in _chunk
        self._idx: list[int] = []  # per step: t, scan/tf/cmd/step offsets
        self._extra: list[tuple[int, int, int]] = []  # channel, t, offset (static messages)
        self._seq = 0
        self._last_t = 0
        self._next_static_t = 0
        self._scene_written = False
        self._extra_counts = {CH_TF_STATIC: 0, CH_SCENE: 0}

        self._file = McapFile(self.path, compression, fsync)
        try:
            self._file.write_head(
                [
                    (s.METADATA_LIDAR, _by_lidar(_lidar_metadata, lidar, self.mount_offset_m)),
                    (s.METADATA_EPISODE, metadata_record(s.METADATA_EPISODE, user_metadata)),
                ],
                [
                    (s.ATTACHMENT_WALLS, *npy_attachment(s.ATTACHMENT_WALLS, self._walls)),
                    (s.ATTACHMENT_OBSTACLES, *npy_attachment(s.ATTACHMENT_OBSTACLES, self._boxes)),
                ],
            )
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
        self.write_step_message(
            t_ns, scan, pose, command, action, self._encode_step(step, speed_mps)
        )

    def write_step_message(
        self,
        t_ns: int,
        scan: np.ndarray,
        pose: Sequence[float],
        command: Sequence[float],
        action: Sequence[float] | np.ndarray,
        step_message: bytes,
    ) -> None:
        """:meth:`write_step` with the ``tinylidar.EnvStep`` message already encoded, the
        vehicle speed included (``step_message``: bytes from
        :class:`~tinylidar_gym.recording.messages.StepEncoder` or
        :class:`~tinylidar_gym.recording.messages.InfoStepEncoder`)."""
        if self._closed:
            raise RecordingWriteError(f"{self.path}: write_step() after close() or abort().")
        t = int(t_ns)
        if t < self._last_t:
            raise ValueError(f"t_ns={t_ns} is < 0 or before the previous step ({self._last_t}).")
        if scan.shape != self._scan_shape:
            raise ValueError(f"scan must have shape {self._scan_shape}, got {scan.shape}.")
        if t >= self._next_static_t:
            self._write_static(t)
        stamp = TIMESTAMP_FIELDS.get(t) or cached_timestamp_field(t)
        key = len(step_message) << 5 | len(stamp)  # a timestamp field is < 32 bytes
        lay = self._layouts.get(key)
        if lay is None:
            if len(self._layouts) >= 256:  # step messages of many sizes (extra keys)
                self._layouts.clear()
            lay = self._layouts[key] = _step_layout(
                len(self._scan_prefix), self._ranges_size, len(stamp), len(step_message)
            )
        size, scan_pack, scan_head, ranges_at, tail_pack, tf_head, cmd_head, step_head = lay[:8]
        x, y, yaw = pose
        steer, speed_cmd = command
        a0, a1 = action.tolist() if type(action) is _ndarray else action  # type: ignore[union-attr]
        seq = self._seq

        off = self._size
        end = off + size
        chunk = self._chunk
        if end > chunk.capacity:  # rare: a huge step message; start a new chunk
            self._flush_chunk(size)
            chunk, off, end = self._chunk, 0, size
        data = chunk.data
        # /scan: header, timestamp, constant prefix, then the ranges cast to float64 in place
        # (through the float64 view with the right alignment).
        scan_pack(data, off, scan_head, seq, t, t, stamp, self._scan_prefix)
        ranges = off + ranges_at
        q = ranges >> 3
        chunk.views[ranges & 7][q : q + self._n_beams] = scan
        # /tf (map -> base_link), /control/command, /env/step: one pack.
        h = 0.5 * yaw
        tail_pack(
            data,
            off + lay.tf_at,
            tf_head, seq, t, t, stamp, _TF_FRAMES,
            x, TF_Y_TAG, y, TF_AFTER_Y, _sin(h), TF_W_TAG, _cos(h),
            cmd_head, seq, t, t,
            COMMAND_STEER_TAG, steer, COMMAND_SPEED_TAG, speed_cmd, COMMAND_ACTION_HEAD, a0, a1,
            step_head, seq, t, t, step_message,
        )  # fmt: skip
        self._idx += (t, off, off + lay.tf_at, off + lay.cmd_at, off + lay.step_at)
        self._size = end
        self._seq = seq + 1
        self._last_t = t
        if end >= CHUNK_SIZE_BYTES:
            self._flush_chunk()

    def close(self, wait: bool = True) -> None:
        """Finish the file (last chunk, indexes, summary) and rename it onto ``path``.
        Idempotent; does nothing after :meth:`abort`.

        With ``wait=False`` the background thread finishes the file (compressing the last
        chunk) while the caller goes on: the file is in place a few milliseconds later. A later
        ``close()`` waits for it and raises its error (the temp file is then deleted, as by
        :meth:`abort`), and so does :func:`~tinylidar_gym.recording.read_episode` on ``path``
        in this process; the process waits for it at exit."""
        if self._closed:
            if wait and self._finishing:
                self._finishing = False
                assert self._file is not None
                self._file.wait()
            return
        try:
            if not self._scene_written:  # an episode without steps still shows its layout
                self._write_static(self._last_t)
            last = None
            if self._size:
                last = make_chunk(self._chunk, self._size, self._idx, self._extra)
            else:
                self._chunk.release()
            counts = {cid: self._seq for cid in STEP_CHANNELS} | self._extra_counts
            assert self._file is not None
            if wait:
                self._file.finish(last, counts)
            else:
                self._file.finish_in_background(last, counts)
                self._finishing = True
            self._closed = True
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        """Stop writing and delete the temp file; ``path`` is left untouched. Idempotent.
        After ``close(wait=False)`` it waits for the file to be finished instead."""
        self._closed = True
        if self._finishing:
            self._finishing = False
            assert self._file is not None
            try:
                self._file.wait()
            except Exception:  # noqa: BLE001 - the failed finish deleted its temp file
                pass
        elif self._file is not None:
            self._file.abort()

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

    def _append_extra(self, channel: int, t: int, data: bytes) -> None:
        seq = self._extra_counts[channel]
        self._extra_counts[channel] = seq + 1
        record = MSG_HEADER(OP_MESSAGE, MSG_FIXED + len(data), channel, seq, t, t) + data
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
        tf = static_transform_bytes(t, s.FRAME_BASE_LINK, s.FRAME_LIDAR, self.mount_offset_m)
        self._append_extra(CH_TF_STATIC, t, tf)
        self._next_static_t = t + s.STATIC_TF_PERIOD_NS

    def _flush_chunk(self, next_capacity: int = 0) -> None:
        """Hand the current chunk to the worker and start a new one (of at least
        ``next_capacity`` bytes)."""
        if self._size:
            assert self._file is not None
            self._file.submit(make_chunk(self._chunk, self._size, self._idx, self._extra))
            self._chunk = ChunkBuffer.get(max(CHUNK_CAPACITY, next_capacity))
            self._size, self._idx, self._extra = 0, [], []
        elif next_capacity > self._chunk.capacity:
            self._chunk = ChunkBuffer.get(next_capacity)


def _by_lidar(fn: Callable[..., bytes], lidar: LidarConfig, *args: Any) -> bytes:
    """``fn(lidar, *args)``, memoised when the config is hashable (a frozen ``LidarConfig``)."""
    try:
        hash(lidar)
    except TypeError:
        return fn.__wrapped__(lidar, *args)  # type: ignore[attr-defined]
    return fn(lidar, *args)


@functools.lru_cache(maxsize=8)
def _scan_prefix(lidar: LidarConfig) -> bytes:
    return laser_scan_prefix(lidar)


@functools.lru_cache(maxsize=8)
def _lidar_metadata(lidar: LidarConfig, mount_offset_m: float) -> bytes:
    """The ``tinylidar.lidar`` metadata record: scanner geometry (``repr`` of numbers)."""
    return metadata_record(
        s.METADATA_LIDAR,
        {
            "n_beams": str(lidar.n_beams),
            "fov_deg": repr(float(lidar.fov_deg)),
            "angle_min_rad": repr(lidar.angle_min_rad),
            "angle_max_rad": repr(lidar.angle_max_rad),
            "angle_increment_rad": repr(lidar.angle_increment_rad),
            "max_range_m": repr(float(lidar.max_range_m)),
            "noise_std_m": repr(float(lidar.noise_std_m)),
            "mount_offset_m": repr(mount_offset_m),
        },
    )


def _checked_array(name: str, value: np.ndarray, cols: int) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.size == 0:
        arr = arr.reshape(0, cols)
    if arr.ndim != 2 or arr.shape[1] != cols:
        raise ValueError(f"{name} must have shape (N, {cols}), got {np.shape(value)}.")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite.")
    return np.ascontiguousarray(arr)
