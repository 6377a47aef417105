"""Read a ``simulation.mcap`` written by :class:`~tinylidar_gym.recording.EpisodeWriter` back
into numpy arrays."""

from __future__ import annotations

import io
import json
import math
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from mcap.reader import make_reader

from tinylidar_gym.recording import schemas as s
from tinylidar_gym.recording.mcap_chunks import wait_until_written
from tinylidar_gym.sim.errors import UserError

_DOUBLE = struct.Struct("<d")
_INT32 = struct.Struct("<i")


class RecordingError(UserError, ValueError):
    """A recording is missing, truncated, corrupt or not a tinylidar recording (names the file)."""


@dataclass
class EpisodeData:
    """One recorded episode. ``T`` = steps recorded; all times are simulation ns (int64).

    Poses are ``base_link`` (rear axle) in ``map``: x_m, y_m, yaw_rad (yaw in (-pi, pi]).
    """

    scan_t_ns: np.ndarray
    """(T,) int64 log time of each scan."""
    scans: np.ndarray
    """(T, n_beams) float32 ranges, m (exactly as written)."""
    pose_t_ns: np.ndarray
    """(T,) int64."""
    poses: np.ndarray
    """(T, 3) float64 x_m, y_m, yaw_rad."""
    command_t_ns: np.ndarray
    """(T,) int64."""
    commands: np.ndarray
    """(T, 2) float64 steering_rad, speed_mps."""
    actions: np.ndarray
    """(T, 2) float64 raw actions (float32 actions are exact)."""
    step_t_ns: np.ndarray
    """(T,) int64."""
    steps: list[dict[str, Any]]
    """Step dicts as written (plus ``speed_mps``); see :data:`schemas.STEP_FIELDS`."""
    speeds_mps: np.ndarray
    """(T,) float64 vehicle speed from the step messages."""
    angle_min: float
    """Angle of beam 0, rad."""
    angle_increment: float
    """Angle between beams, rad."""
    angle_max: float
    """Angle of the last beam, rad."""
    range_max: float
    """Max range, m."""
    mount_offset_m: float
    """LiDAR position ahead of base_link, m."""
    walls: np.ndarray
    """(S, 4) float64 wall segments, m."""
    obstacle_boxes: np.ndarray
    """(K, 5) float64 boxes [x, y, yaw, length, width]."""
    metadata: dict[str, Any] = field(default_factory=dict)
    """The writer's ``metadata`` (JSON round trip)."""

    @property
    def n_steps(self) -> int:
        return int(self.scans.shape[0])


# --------------------------------------------------------------------------- protobuf wire


def _read_varint(buf: bytes | memoryview, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def protobuf_fields(buf: bytes | memoryview) -> dict[int, list[Any]]:
    """Generic protobuf wire decoding of one message: field number -> values in order
    (varints as int, fixed64 as float64 (every fixed64 field here is a double), fixed32 and
    length-delimited fields as memoryviews)."""
    view = memoryview(buf)
    out: dict[int, list[Any]] = {}
    pos, end = 0, len(view)
    while pos < end:
        key, pos = _read_varint(view, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _read_varint(view, pos)
        elif wire == 1:
            value = _DOUBLE.unpack_from(view, pos)[0] if pos + 8 <= end else 0.0
            pos += 8
        elif wire == 2:
            size, pos = _read_varint(view, pos)
            value = view[pos : pos + size]
            pos += size
        elif wire == 5:
            value = view[pos : pos + 4]
            pos += 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        if pos > end:
            raise ValueError("protobuf message is truncated")
        out.setdefault(number, []).append(value)
    return out


def _last(fields: dict[int, list[Any]], number: int, default: Any = 0) -> Any:
    values = fields.get(number)
    return values[-1] if values else default


def decode_timestamp_ns(fields: dict[int, list[Any]]) -> int:
    """Time in ns of the ``timestamp`` (field 1) of a decoded Foxglove message."""
    stamp = protobuf_fields(_last(fields, 1, b""))
    return int(_last(stamp, 1)) * 1_000_000_000 + int(_last(stamp, 2))


def decode_laser_scan(data: bytes) -> dict[str, Any]:
    """``foxglove.LaserScan`` -> dict(timestamp_ns, frame_id, start_angle, end_angle,
    ranges (float64 array), pose (dict of the position/orientation fields))."""
    f = protobuf_fields(data)
    pose = protobuf_fields(_last(f, 3, b""))
    position = protobuf_fields(_last(pose, 1, b""))
    orientation = protobuf_fields(_last(pose, 2, b""))
    ranges = _last(f, 6, b"")
    return {
        "timestamp_ns": decode_timestamp_ns(f),
        "frame_id": bytes(_last(f, 2, b"")).decode(),
        "start_angle": float(_last(f, 4, 0.0)),
        "end_angle": float(_last(f, 5, 0.0)),
        "ranges": np.frombuffer(ranges, "<f8"),
        "position": tuple(float(_last(position, i, 0.0)) for i in (1, 2, 3)),
        "orientation": tuple(float(_last(orientation, i, 0.0)) for i in (1, 2, 3, 4)),
    }


def decode_frame_transform(data: bytes) -> dict[str, Any]:
    """``foxglove.FrameTransform`` -> dict(timestamp_ns, parent, child, translation (x, y, z),
    rotation (x, y, z, w))."""
    f = protobuf_fields(data)
    tr = protobuf_fields(_last(f, 4, b""))
    rot = protobuf_fields(_last(f, 5, b""))
    return {
        "timestamp_ns": decode_timestamp_ns(f),
        "parent": bytes(_last(f, 2, b"")).decode(),
        "child": bytes(_last(f, 3, b"")).decode(),
        "translation": tuple(float(_last(tr, i, 0.0)) for i in (1, 2, 3)),
        "rotation": tuple(float(_last(rot, i, 0.0)) for i in (1, 2, 3, 4)),
    }


_STEP_BY_NUMBER = {number: (name, kind) for name, number, kind in s.STEP_FIELDS}


def decode_command(data: bytes) -> dict[str, Any]:
    """``tinylidar.ControlCommand`` -> dict(steering_rad, speed_mps, action (list of 2))."""
    f = protobuf_fields(data)
    return {
        "steering_rad": float(_last(f, 1, 0.0)),
        "speed_mps": float(_last(f, 2, 0.0)),
        "action": np.frombuffer(_last(f, 3, b""), "<f8").tolist(),
    }


def decode_step(data: bytes) -> dict[str, Any]:
    """``tinylidar.EnvStep`` -> the step dict as written (keys in schema order; the keys of
    ``extra_json`` merged in, non-finite floats restored)."""
    out: dict[str, Any] = {}
    for number, values in protobuf_fields(data).items():
        name, kind = _STEP_BY_NUMBER.get(number, ("", ""))
        value = values[-1]
        if kind == "double":
            out[name] = float(value)
        elif kind == "bool":
            out[name] = bool(value)
        elif kind == "int":
            out[name] = _INT32.unpack(value)[0]
        elif name == s.STEP_EXTRA_FIELD:
            out.update(_json(bytes(value)))
        elif kind == "string":
            out[name] = bytes(value).decode()
    return out


def _restore_non_finite(obj: Any) -> Any:
    if isinstance(obj, str):
        return s.NON_FINITE_JSON.get(obj, obj)
    if isinstance(obj, list):
        return [_restore_non_finite(v) for v in obj]
    return obj


def _json(data: bytes) -> dict[str, Any]:
    return {k: _restore_non_finite(v) for k, v in json.loads(data).items()}


# --------------------------------------------------------------------------- reader


def read_episode(path: str | Path) -> EpisodeData:
    """Read a recording written by :class:`~tinylidar_gym.recording.EpisodeWriter`.

    Raises:
        RecordingError: the file is missing, truncated, corrupt (CRCs are checked) or lacks the
            expected channels; the message names the file.
    """
    path = Path(path)
    wait_until_written(path)  # a recorder of this process may be finishing it
    if not path.is_file():
        raise RecordingError(f"{path}: no such recording file.")
    try:
        return _read(path)
    except RecordingError:
        raise
    except Exception as exc:  # mcap, zstd, struct, json, numpy errors: all mean "corrupt"
        raise RecordingError(
            f"{path}: not a readable MCAP recording (truncated or corrupt?): "
            f"{type(exc).__name__}: {exc}"
        ) from exc


def _read(path: Path) -> EpisodeData:
    with open(path, "rb") as f:
        reader = make_reader(f, validate_crcs=True)
        summary = reader.get_summary()
        if summary is None:
            raise RecordingError(f"{path}: MCAP file has no summary section (unfinished file?).")
        topics = {ch.topic: cid for cid, ch in summary.channels.items()}
        missing = [
            t for t in (s.TOPIC_SCAN, s.TOPIC_TF, s.TOPIC_COMMAND, s.TOPIC_STEP) if t not in topics
        ]
        if missing:
            raise RecordingError(f"{path}: not a tinylidar recording (no channels {missing}).")
        metadata = {m.name: dict(m.metadata) for m in reader.iter_metadata()}
        attachments = {a.name: a.data for a in reader.iter_attachments()}
        lidar = metadata.get(s.METADATA_LIDAR)
        if lidar is None:
            raise RecordingError(f"{path}: metadata record {s.METADATA_LIDAR!r} is missing.")
        n_beams = int(lidar["n_beams"])

        scan_id, tf_id = topics[s.TOPIC_SCAN], topics[s.TOPIC_TF]
        cmd_id, step_id = topics[s.TOPIC_COMMAND], topics[s.TOPIC_STEP]
        scan_t: list[int] = []
        scans: list[np.ndarray] = []
        pose_t: list[int] = []
        poses: list[tuple[float, float, float]] = []
        cmd_t: list[int] = []
        commands: list[tuple[float, float]] = []
        actions: list[tuple[float, float]] = []
        step_t: list[int] = []
        steps: list[dict[str, Any]] = []
        wanted = [s.TOPIC_SCAN, s.TOPIC_TF, s.TOPIC_COMMAND, s.TOPIC_STEP]
        for _, channel, message in reader.iter_messages(topics=wanted, log_time_order=False):
            cid, t, data = channel.id, message.log_time, message.data
            if cid == scan_id:
                ranges = decode_laser_scan(data)["ranges"]
                if ranges.shape[0] != n_beams:
                    raise RecordingError(
                        f"{path}: scan at t={t} ns has {ranges.shape[0]} beams, expected {n_beams}."
                    )
                scan_t.append(t)
                scans.append(ranges)
            elif cid == tf_id:
                tf = decode_frame_transform(data)
                x, y, _ = tf["translation"]
                _, _, qz, qw = tf["rotation"]
                pose_t.append(t)
                poses.append((x, y, 2.0 * math.atan2(qz, qw)))
            elif cid == cmd_id:
                cmd = decode_command(data)
                cmd_t.append(t)
                commands.append((cmd["steering_rad"], cmd["speed_mps"]))
                actions.append(cmd["action"])
            elif cid == step_id:
                step_t.append(t)
                steps.append(decode_step(data))

    def times(values: list[int]) -> np.ndarray:
        return np.asarray(values, dtype=np.int64)

    def rows(values: list[Any], cols: int) -> np.ndarray:
        return np.asarray(values, dtype=np.float64).reshape(-1, cols)

    return EpisodeData(
        scan_t_ns=times(scan_t),
        scans=(np.stack(scans) if scans else np.zeros((0, n_beams))).astype(np.float32),
        pose_t_ns=times(pose_t),
        poses=rows(poses, 3),
        command_t_ns=times(cmd_t),
        commands=rows(commands, 2),
        actions=rows(actions, 2),
        step_t_ns=times(step_t),
        steps=steps,
        speeds_mps=np.asarray([st.get("speed_mps", np.nan) for st in steps], dtype=np.float64),
        angle_min=float(lidar["angle_min_rad"]),
        angle_increment=float(lidar["angle_increment_rad"]),
        angle_max=float(lidar["angle_max_rad"]),
        range_max=float(lidar["max_range_m"]),
        mount_offset_m=float(lidar["mount_offset_m"]),
        walls=_npy(path, attachments, s.ATTACHMENT_WALLS, 4),
        obstacle_boxes=_npy(path, attachments, s.ATTACHMENT_OBSTACLES, 5),
        metadata={k: json.loads(v) for k, v in metadata.get(s.METADATA_EPISODE, {}).items()},
    )


def _npy(path: Path, attachments: dict[str, bytes], name: str, cols: int) -> np.ndarray:
    data = attachments.get(name)
    if data is None:
        raise RecordingError(f"{path}: attachment {name!r} is missing.")
    return np.load(io.BytesIO(data), allow_pickle=False).reshape(-1, cols)
