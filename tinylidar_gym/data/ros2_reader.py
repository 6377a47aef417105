"""Read LaserScan and AckermannDriveStamped messages of a ROS 2 MCAP recording into arrays.

Messages are decoded with ``mcap_ros2`` from the ``ros2msg`` schemas stored in the file, so any
rosbag2 MCAP recording works without a ROS install. LaserScan ranges, the bulk of a bag, are read
straight into numpy when the message is little-endian CDR (what ROS 2 writes on every common
platform); :func:`decode_scan_fast` documents the layout.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from mcap.reader import make_reader
from mcap.records import Channel, Message, Schema
from mcap.stream_reader import StreamReader
from mcap_ros2.decoder import DecoderFactory

from tinylidar_gym.data.ros2_msgdefs import ACKERMANN_DRIVE_STAMPED, LASER_SCAN
from tinylidar_gym.sim.errors import UserError

SCAN_TYPES = (LASER_SCAN, "sensor_msgs/LaserScan")
DRIVE_TYPES = (ACKERMANN_DRIVE_STAMPED, "ackermann_msgs/AckermannDriveStamped")
_ANGLE_TOL_RAD = 1e-5


class Ros2BagError(UserError, ValueError):
    """A ROS 2 recording cannot be imported; the message names the file and the fix."""


@dataclass
class BagMessages:
    """The scan and drive messages of one recording, in file order. All times are int64 ns."""

    scan_stamp_ns: np.ndarray
    """(T,) ``header.stamp`` of each scan (0 when unset)."""
    scan_log_ns: np.ndarray
    """(T,) bag log time of each scan."""
    ranges: np.ndarray
    """(T, n) float32 raw ranges, m (inf/NaN as recorded)."""
    range_min_m: np.ndarray
    """(T,) float32 ``range_min`` of each scan."""
    range_max_m: np.ndarray
    """(T,) float32 ``range_max`` of each scan."""
    angle_min_rad: float
    """Angle of beam 0 (the same in every scan)."""
    angle_increment_rad: float
    """Angle between beams (the same in every scan)."""
    drive_stamp_ns: np.ndarray
    """(C,) ``header.stamp`` of each drive command (0 when unset)."""
    drive_log_ns: np.ndarray
    """(C,) bag log time of each drive command."""
    commands: np.ndarray
    """(C, 2) float64 ``drive.steering_angle`` (rad), ``drive.speed`` (m/s)."""
    damaged: list[dict[str, Any]] = field(default_factory=list)
    """Files cut off or damaged part way (no summary): what was recovered before the damage."""


def _stamp_ns(msg: Any) -> int:
    return int(msg.header.stamp.sec) * 1_000_000_000 + int(msg.header.stamp.nanosec)


_ScanFields = tuple[int, float, float, float, float, np.ndarray]
"""stamp_ns, angle_min, angle_increment, range_min, range_max, ranges (float32)."""


def decode_scan_fast(data: bytes) -> _ScanFields | None:
    """A little-endian CDR ``sensor_msgs/msg/LaserScan`` read with numpy, or None for another
    encoding (the generic decoder reads ranges float by float, far slower:
    ``benchmarks/recording.md``).

    Layout after the 4-byte encapsulation header: stamp (int32 sec, uint32 nanosec), frame_id
    (uint32 length incl. NUL + bytes, padded to 4), 7 float32 (angle_min, angle_max,
    angle_increment, time_increment, scan_time, range_min, range_max), uint32 n, float32[n] ranges.
    """
    if len(data) < 16 or data[0:2] != b"\x00\x01":  # CDR little-endian
        return None
    sec, nanosec, str_len = np.frombuffer(data, "<u4", 3, 4).tolist()
    o = 4 + ((12 + str_len + 3) & ~3)
    f = np.frombuffer(data, "<f4", 7, o)
    (n,) = np.frombuffer(data, "<u4", 1, o + 28).tolist()
    ranges = np.frombuffer(data, "<f4", n, o + 32).copy()
    sec = sec - (1 << 32) if sec >= 1 << 31 else sec  # the field is int32
    return sec * 1_000_000_000 + nanosec, float(f[0]), float(f[2]), float(f[5]), float(f[6]), ranges


def _scan_fields(msg: Any) -> _ScanFields:
    ranges = np.asarray(msg.ranges, dtype=np.float32)
    return (
        _stamp_ns(msg),
        float(msg.angle_min),
        float(msg.angle_increment),
        float(msg.range_min),
        float(msg.range_max),
        ranges,
    )


class _Collector:
    def __init__(self, files: list[Path], scan_topic: str, drive_topic: str) -> None:
        self.files, self.scan_topic, self.drive_topic = files, scan_topic, drive_topic
        self.topics: dict[str, str] = {}  # topic -> schema name, over all files
        self.scan_t: list[tuple[int, int]] = []
        self.ranges: list[np.ndarray] = []
        self.limits: list[tuple[float, float]] = []
        self.grid: tuple[float, float, int] | None = None
        self.drive_t: list[tuple[int, int]] = []
        self.commands: list[tuple[float, float]] = []
        self.damaged: list[dict[str, Any]] = []
        self.factory = DecoderFactory()

    def check_type(self, path: Path, topic: str, schema_name: str) -> None:
        expected = {self.scan_topic: SCAN_TYPES, self.drive_topic: DRIVE_TYPES}.get(topic)
        if expected is not None and schema_name not in expected:
            flag = "--ros2.scan-topic" if topic == self.scan_topic else "--ros2.drive-topic"
            raise Ros2BagError(
                f"{path}: topic {topic} carries {schema_name or 'schemaless messages'}, expected "
                f"{expected[0]}. Name the right topic with {flag} (topics: {self._listing()})."
            )

    def _listing(self) -> str:
        return ", ".join(f"{t} [{s}]" for t, s in sorted(self.topics.items())) or "none"

    def add_scan(self, path: Path, fields: _ScanFields, log_ns: int) -> None:
        stamp_ns, angle_min, angle_inc, range_min, range_max, ranges = fields
        grid = (angle_min, angle_inc, len(ranges))
        if self.grid is None:
            self.grid = grid
        elif grid[2] != self.grid[2] or not (
            math.isclose(grid[0], self.grid[0], abs_tol=_ANGLE_TOL_RAD)
            and math.isclose(grid[1], self.grid[1], abs_tol=_ANGLE_TOL_RAD / max(grid[2], 1))
        ):
            raise Ros2BagError(
                f"{path}: scan {len(self.ranges)} on {self.scan_topic} has {grid[2]} beams from "
                f"{grid[0]:.6f} rad every {grid[1]:.8f} rad, but the first scan had "
                f"{self.grid[2]} from {self.grid[0]:.6f} every {self.grid[1]:.8f}: the beam grid "
                "must not change within a recording (split the bag where it changes)."
            )
        self.scan_t.append((stamp_ns, log_ns))
        self.ranges.append(ranges)
        self.limits.append((range_min, range_max))

    def add_drive(self, msg: Any, log_ns: int) -> None:
        self.drive_t.append((_stamp_ns(msg), log_ns))
        self.commands.append((float(msg.drive.steering_angle), float(msg.drive.speed)))

    def read(self, path: Path) -> None:
        with open(path, "rb") as f:
            reader = make_reader(f, decoder_factories=[DecoderFactory()])
            try:
                summary = reader.get_summary()
            except Exception:  # a damaged footer
                summary = None
            if summary is None:  # e.g. a recording cut off by a crash: read what was written
                f.seek(0)
                self.read_stream(path, f)
                return
            for ch in summary.channels.values():
                schema = summary.schemas.get(ch.schema_id)
                self.topics[ch.topic] = schema.name if schema else ""
                self.check_type(path, ch.topic, self.topics[ch.topic])
            wanted = sorted({self.scan_topic, self.drive_topic})
            for schema, channel, message in reader.iter_messages(
                topics=wanted, log_time_order=False
            ):
                self.add_message(path, schema, channel, message)

    def read_stream(self, path: Path, f: BinaryIO) -> None:
        """Read records front to back up to the first damaged one (a file without a summary)."""
        schemas: dict[int, Schema] = {}
        channels: dict[int, Channel] = {}
        scans, drives = len(self.ranges), len(self.commands)
        try:
            for record in StreamReader(f, skip_magic=False).records:
                if isinstance(record, Schema):
                    schemas[record.id] = record
                elif isinstance(record, Channel):
                    channels[record.id] = record
                elif isinstance(record, Message):
                    channel = channels[record.channel_id]
                    self.add_message(path, schemas.get(channel.schema_id), channel, record)
        except Ros2BagError:
            raise
        except Exception as exc:  # the damage: keep every message before it
            scans, drives = len(self.ranges) - scans, len(self.commands) - drives
            if scans == 0 and drives == 0:
                raise
            self.damaged.append(
                {
                    "file": str(path),
                    "error": f"{type(exc).__name__}: {exc}"[:300],
                    "file_bytes": path.stat().st_size,
                    "scans_recovered": scans,
                    "drive_commands_recovered": drives,
                }
            )

    def add_message(
        self, path: Path, schema: Schema | None, channel: Channel, message: Message
    ) -> None:
        """Decode one message of any topic (those not asked for are only listed)."""
        if channel.topic not in self.topics:
            self.topics[channel.topic] = schema.name if schema else ""
            self.check_type(path, channel.topic, self.topics[channel.topic])
        if channel.topic not in (self.scan_topic, self.drive_topic):
            return
        if channel.message_encoding != "cdr":
            raise Ros2BagError(
                f"{path}: topic {channel.topic} is {channel.message_encoding!r}-encoded; "
                "ROS 2 bags store CDR messages."
            )
        decode = self.factory.decoder_for(channel.message_encoding, schema)
        if decode is None:
            raise Ros2BagError(
                f"{path}: topic {channel.topic} has a "
                f"{schema.encoding if schema else 'missing'} schema; only ros2msg "
                "schemas (what `ros2 bag record -s mcap` writes) can be decoded."
            )
        if channel.topic == self.scan_topic:
            fields = decode_scan_fast(message.data) or _scan_fields(decode(message.data))
            self.add_scan(path, fields, message.log_time)
        else:
            self.add_drive(decode(message.data), message.log_time)


def read_recording(files: list[Path], scan_topic: str, drive_topic: str) -> BagMessages:
    """The scan and drive messages of the MCAP ``files`` of one recording.

    Raises:
        Ros2BagError: unreadable file, a topic missing (the topics found are listed) or
            carrying another message type, or a beam grid that changes within the recording.
    """
    col = _Collector(files, scan_topic, drive_topic)
    for path in files:
        try:
            col.read(path)
        except Ros2BagError:
            raise
        except Exception as exc:  # mcap, zstd, CDR decoding errors: all mean "unreadable"
            raise Ros2BagError(
                f"{path}: not a readable ROS 2 MCAP file ({type(exc).__name__}: {exc}). A "
                "recording cut off by a crash can often be repaired with `mcap recover`."
            ) from exc
    names = [str(f) for f in files]
    for topic, what, got in (
        (scan_topic, "scan", col.ranges),
        (drive_topic, "drive", col.commands),
    ):
        if not got:
            present = "is in the bag but has no messages" if topic in col.topics else "is missing"
            raise Ros2BagError(
                f"{names}: {what} topic {topic} {present}. Topics found: {col._listing()}. "
                f"Choose the topic with --ros2.{what}-topic."
            )
    assert col.grid is not None
    limits = np.asarray(col.limits, dtype=np.float32)
    scan_t = np.asarray(col.scan_t, dtype=np.int64)
    drive_t = np.asarray(col.drive_t, dtype=np.int64)
    return BagMessages(
        scan_stamp_ns=scan_t[:, 0],
        scan_log_ns=scan_t[:, 1],
        ranges=np.stack(col.ranges),
        range_min_m=limits[:, 0],
        range_max_m=limits[:, 1],
        angle_min_rad=col.grid[0],
        angle_increment_rad=col.grid[1],
        drive_stamp_ns=drive_t[:, 0],
        drive_log_ns=drive_t[:, 1],
        commands=np.asarray(col.commands, dtype=np.float64),
        damaged=col.damaged,
    )
