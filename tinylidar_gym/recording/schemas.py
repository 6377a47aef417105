"""Topic names, frame ids and schemas of a ``simulation.mcap`` recording, in one place.

Channels (every message: ``log_time == publish_time`` = simulation time in ns, episode start 0;
all protobuf, so Foxglove decodes each from the schema stored in the file):

======================  ============================  =========================================
topic                   schema                        content
======================  ============================  =========================================
``/scan``               ``foxglove.LaserScan``        one scan per step, frame ``lidar``
``/tf``                 ``foxglove.FrameTransform``   ``map`` -> ``base_link`` every step
``/tf_static``          ``foxglove.FrameTransform``   ``base_link`` -> ``lidar`` (LiDAR mount)
``/scene``              ``foxglove.SceneUpdate``      walls (line list) and obstacles (cubes)
``/control/command``    ``tinylidar.ControlCommand``  steering_rad, speed_mps, action [2]
``/env/step``           ``tinylidar.EnvStep``         reward, terminated, ..., info per step
======================  ============================  =========================================

The ``foxglove.*`` schemas are the well-known ones (from ``foxglove-sdk``), so the 3D panel draws
scan, car and course once the ``/scan`` and ``/scene`` topics are switched on (3D topics start
hidden; the viewer picks display frame ``base_link``, ``map`` is the root). The ``tinylidar.*``
schemas are defined here (:data:`COMMAND_FIELDS`, :data:`STEP_FIELDS`) and stored in the file as
a protobuf ``FileDescriptorSet`` (:func:`tinylidar_descriptor_set`), so their fields can be
plotted too. Why protobuf and not JSON for these: see ``benchmarks/recording.md`` (a step
message costs several times less as protobuf).
"""

from __future__ import annotations

from functools import cache
from typing import Literal

# --------------------------------------------------------------------------- topics

TOPIC_SCAN = "/scan"
"""LiDAR scans (``foxglove.LaserScan``)."""
TOPIC_TF = "/tf"
"""Vehicle pose, ``map`` -> ``base_link`` (``foxglove.FrameTransform``), every step."""
TOPIC_TF_STATIC = "/tf_static"
"""LiDAR mount, ``base_link`` -> ``lidar`` (``foxglove.FrameTransform``): with the first step and
then every :data:`STATIC_TF_PERIOD_NS` of simulation time, so a viewer opened mid-file has it."""
TOPIC_SCENE = "/scene"
"""Course walls and obstacles (``foxglove.SceneUpdate``), once with the first step."""
TOPIC_COMMAND = "/control/command"
"""Control commands (``tinylidar.ControlCommand``)."""
TOPIC_STEP = "/env/step"
"""Environment step results (``tinylidar.EnvStep``)."""

# --------------------------------------------------------------------------- frames

FRAME_MAP = "map"
"""World frame: course walls and obstacles are in it."""
FRAME_BASE_LINK = "base_link"
"""Vehicle frame at the rear-axle centre, x forward, y left."""
FRAME_LIDAR = "lidar"
"""Scanner frame: ``mount_offset_m`` ahead of ``base_link`` along x, same orientation."""

# --------------------------------------------------------------------------- schema names

SCHEMA_LASER_SCAN = "foxglove.LaserScan"
SCHEMA_FRAME_TRANSFORM = "foxglove.FrameTransform"
SCHEMA_SCENE_UPDATE = "foxglove.SceneUpdate"
SCHEMA_COMMAND = "tinylidar.ControlCommand"
SCHEMA_STEP = "tinylidar.EnvStep"
ENCODING_PROTOBUF = "protobuf"
"""Message encoding of every channel (schema encoding ``protobuf``)."""

# --------------------------------------------------------------------------- file layout

STATIC_TF_PERIOD_NS = 1_000_000_000
"""Re-send period of the static ``base_link`` -> ``lidar`` transform (simulation ns)."""
OBSTACLE_HEIGHT_M = 0.3
"""Height of the obstacle cubes drawn in the scene (the simulation is 2D)."""
WALL_THICKNESS_M = 0.05
"""Line width of the walls drawn in the scene."""
METADATA_LIDAR = "tinylidar.lidar"
"""MCAP metadata record with the scanner geometry (values: ``repr`` of numbers)."""
METADATA_EPISODE = "tinylidar.episode"
"""MCAP metadata record with the caller's metadata (values: JSON text)."""
ATTACHMENT_WALLS = "walls.npy"
"""Attachment: (S, 4) float64 wall segments ``[x0, y0, x1, y1]`` in metres (``.npy``)."""
ATTACHMENT_OBSTACLES = "obstacle_boxes.npy"
"""Attachment: (K, 5) float64 boxes ``[x, y, yaw, length, width]`` (``.npy``)."""
NPY_MEDIA_TYPE = "application/x-npy"
PROFILE = ""
"""MCAP header profile (none: protobuf schemas are self-describing)."""
LIBRARY = "tinylidar_gym.recording"

# --------------------------------------------------------------------------- tinylidar schemas

FieldKind = Literal["double", "bool", "int", "string", "doubles"]

COMMAND_FIELDS: tuple[tuple[str, int, FieldKind], ...] = (
    ("steering_rad", 1, "double"),  # steering angle command, rad
    ("speed_mps", 2, "double"),  # speed command, m/s
    ("action", 3, "doubles"),  # raw policy action [steering, speed] in [-1, 1] (packed)
)
"""``tinylidar.ControlCommand`` fields: (name, field number, kind)."""

STEP_FIELDS: tuple[tuple[str, int, FieldKind], ...] = (
    ("reward", 1, "double"),
    ("terminated", 2, "bool"),
    ("truncated", 3, "bool"),
    ("end_reason", 4, "string"),  # 'running', 'goal_reached', 'collision_wall', ...
    ("is_success", 5, "bool"),
    ("progress_m", 6, "double"),
    ("progress", 7, "double"),
    ("speed_mps", 8, "double"),  # vehicle speed (write_step's speed_mps argument)
    ("checkpoints_passed", 9, "int"),
    ("checkpoints_total", 10, "int"),
    ("lateral_offset_m", 11, "double"),
    ("distance_m", 12, "double"),
    ("time_s", 13, "double"),
    ("min_obstacle_clearance_m", 14, "double"),
    ("x_m", 15, "double"),
    ("y_m", 16, "double"),
    ("yaw_rad", 17, "double"),
    ("steer_rad", 18, "double"),
    ("steer_cmd_rad", 19, "double"),
    ("speed_cmd_mps", 20, "double"),
    ("extra_json", 100, "string"),  # any other keys of the step dict, as a JSON object
)
"""``tinylidar.EnvStep`` fields: the env's step results and ``info`` keys (see
:mod:`tinylidar_gym.envs.info`). Known keys are stored with the field's type (``int`` is
``sfixed32``); other keys go to ``extra_json``. A key absent from a step is absent from its
message, so the reader gives back exactly the keys that were written."""

STEP_EXTRA_FIELD = "extra_json"

NON_FINITE_JSON = {"Infinity": float("inf"), "-Infinity": float("-inf"), "NaN": float("nan")}
"""JSON has no inf/nan: such floats in ``extra_json`` are written as these strings and read
back as floats."""

# descriptor.proto: FieldDescriptorProto.Type and .Label values.
_PROTO_TYPE = {"double": 1, "bool": 8, "int": 15, "string": 9, "doubles": 1}  # int: SFIXED32
_LABEL_OPTIONAL, _LABEL_REPEATED = 1, 3


def varint(value: int) -> bytes:
    """Protobuf base-128 varint encoding of a non-negative integer."""
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _field(number: int, payload: bytes | str | int) -> bytes:
    if isinstance(payload, int):
        return varint(number << 3) + varint(payload)
    data = payload.encode() if isinstance(payload, str) else payload
    return varint(number << 3 | 2) + varint(len(data)) + data


def _message_descriptor(name: str, fields: tuple[tuple[str, int, FieldKind], ...]) -> bytes:
    out = _field(1, name)  # DescriptorProto.name
    for field_name, number, kind in fields:
        label = _LABEL_REPEATED if kind == "doubles" else _LABEL_OPTIONAL
        out += _field(
            2,  # DescriptorProto.field: FieldDescriptorProto
            _field(1, field_name)  # name
            + _field(3, number)  # number
            + _field(4, label)  # label
            + _field(5, _PROTO_TYPE[kind])  # type
            + _field(10, _json_name(field_name)),  # json_name
        )
    return out


def _json_name(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


@cache
def tinylidar_descriptor_set() -> bytes:
    """Serialised ``FileDescriptorSet`` of ``tinylidar/recording.proto`` (proto3, package
    ``tinylidar``) with ``ControlCommand`` and ``EnvStep``: the schema data of both channels."""
    file = (
        _field(1, "tinylidar/recording.proto")  # FileDescriptorProto.name
        + _field(2, "tinylidar")  # package
        + _field(4, _message_descriptor("ControlCommand", COMMAND_FIELDS))  # message_type
        + _field(4, _message_descriptor("EnvStep", STEP_FIELDS))
        + _field(12, "proto3")  # syntax
    )
    return _field(1, file)  # FileDescriptorSet.file


@cache
def protobuf_schema_data(name: str) -> bytes:
    """Schema data (a serialised ``FileDescriptorSet``) of a schema name used in recordings:
    the well-known ``foxglove.*`` ones come from the installed ``foxglove-sdk``."""
    if name in (SCHEMA_COMMAND, SCHEMA_STEP):
        return tinylidar_descriptor_set()
    from foxglove import messages

    schema = getattr(messages, name.removeprefix("foxglove.")).get_schema()
    if schema.name != name or schema.encoding != ENCODING_PROTOBUF:
        raise RuntimeError(f"foxglove-sdk returned {schema.name}/{schema.encoding} for {name}.")
    return bytes(schema.data)
