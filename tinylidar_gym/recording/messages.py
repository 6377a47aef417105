"""Protobuf bytes of the recorded messages, built directly rather than through message objects.

A ``foxglove.LaserScan`` is a timestamp, a constant prefix (:func:`laser_scan_prefix`) and the
ranges as little-endian float64; a ``foxglove.FrameTransform`` and a ``tinylidar.ControlCommand``
have a fixed layout (one ``struct.pack`` each, see :mod:`tinylidar_gym.recording.writer`); a
``foxglove.SceneUpdate`` is encoded vectorised over the wall points; a ``tinylidar.EnvStep`` is one
``struct.pack`` per step-dict layout (:class:`StepEncoder`, :class:`InfoStepEncoder`).
``tests/test_recording.py`` checks these bytes against ``foxglove-sdk`` and Google's protobuf
runtime.
"""

from __future__ import annotations

import functools
import json
import math
import struct
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from tinylidar_gym.recording import schemas as s
from tinylidar_gym.recording.schemas import varint
from tinylidar_gym.sim.config import LidarConfig

NS_PER_S = 1_000_000_000

# --------------------------------------------------------------------------- protobuf fields


def len_field(field: int, payload: bytes) -> bytes:
    """A length-delimited field (bytes, string or sub-message)."""
    return varint(field << 3 | 2) + varint(len(payload)) + payload


def double_field(field: int, value: float) -> bytes:
    """A double field."""
    return varint(field << 3 | 1) + struct.pack("<d", value)


IDENTITY_POSE = len_field(1, b"") + len_field(2, double_field(4, 1.0))
"""``foxglove.Pose`` at the origin, unrotated (position empty, orientation w=1)."""


def laser_scan_prefix(lidar: LidarConfig) -> bytes:
    """``foxglove.LaserScan`` bytes after the timestamp and before the ``8 * n_beams`` bytes of
    little-endian float64 ranges: frame ``lidar``, identity pose, start/end angle (rad)."""
    return (
        len_field(2, s.FRAME_LIDAR.encode())
        + len_field(3, IDENTITY_POSE)
        + double_field(4, lidar.angle_min_rad)
        + double_field(5, lidar.angle_max_rad)
        + varint(6 << 3 | 2)
        + varint(8 * lidar.n_beams)
    )


def frames_field(parent: str, child: str) -> bytes:
    """``parent_frame_id`` (2) and ``child_frame_id`` (3) of a ``foxglove.FrameTransform``."""
    return len_field(2, parent.encode()) + len_field(3, child.encode())


def timestamp_field(t_ns: int) -> bytes:
    """Field 1 (``timestamp``, a google.protobuf.Timestamp) of a Foxglove message."""
    sec, nsec = divmod(t_ns, NS_PER_S)
    body = (b"\x08" + varint(sec) if sec else b"") + (b"\x10" + varint(nsec) if nsec else b"")
    return b"\x0a" + bytes((len(body),)) + body


TIMESTAMP_FIELDS: dict[int, bytes] = {}
"""Memo of :func:`cached_timestamp_field` (simulation ns -> field bytes)."""


def cached_timestamp_field(t_ns: int) -> bytes:
    """:func:`timestamp_field`, memoised: episodes repeat the same step times."""
    stamp = TIMESTAMP_FIELDS.get(t_ns)
    if stamp is None:
        if len(TIMESTAMP_FIELDS) >= 1 << 16:
            TIMESTAMP_FIELDS.clear()
        stamp = TIMESTAMP_FIELDS[t_ns] = timestamp_field(t_ns)
    return stamp


# FrameTransform after the frames: translation (Vector3, field 4) and rotation (Quaternion,
# field 5), with every component written (explicit zeros are valid proto3) so the layout is fixed.
TF_TRANSLATION_HEAD = b"\x22\x1b\x09"  # field 4, 27 bytes; x (field 1, double)
TF_Y_TAG = b"\x11"
TF_AFTER_Y = struct.pack("<Bd2sBdBdB", 0x19, 0.0, b"\x2a\x24", 0x09, 0.0, 0x11, 0.0, 0x19)
"""From translation z (0) to the tag of rotation z: z = 0, field 5 (36 bytes), x = 0, y = 0."""
TF_W_TAG = b"\x21"
TF_XY_FORMAT = f"d1sd{len(TF_AFTER_Y)}sd1sd"
"""``struct`` format of a transform after :data:`TF_TRANSLATION_HEAD`: x, tag, y, constant,
sin(yaw/2), tag, cos(yaw/2)."""
TF_XY_SIZE = struct.calcsize("<" + TF_XY_FORMAT)
_TF_XY = struct.Struct("<" + TF_XY_FORMAT).pack


def frame_transform_bytes(
    t_ns: int, parent: str, child: str, x: float, y: float, yaw: float
) -> bytes:
    """A planar ``foxglove.FrameTransform`` (translation x/y in m, rotation yaw in rad)."""
    h = 0.5 * yaw
    xy = _TF_XY(x, TF_Y_TAG, y, TF_AFTER_Y, math.sin(h), TF_W_TAG, math.cos(h))
    return timestamp_field(t_ns) + frames_field(parent, child) + TF_TRANSLATION_HEAD + xy


# ControlCommand: steering_rad (1), speed_mps (2), action (3, packed, 2 doubles).
COMMAND_STEER_TAG = b"\x09"
COMMAND_SPEED_TAG = b"\x11"
COMMAND_ACTION_HEAD = b"\x1a\x10"
COMMAND_FORMAT = "1sd1sd2sdd"
"""``struct`` format of a ControlCommand: tag, steering, tag, speed, action head, a0, a1."""
COMMAND_SIZE = struct.calcsize("<" + COMMAND_FORMAT)


# --------------------------------------------------------------------------- SceneUpdate

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


def _wall_line(walls: np.ndarray) -> bytes:
    """The walls' ``LinePrimitive`` (one LINE_LIST, two points per segment, at z=0)."""
    points = np.zeros(2 * len(walls), dtype=_POINT)
    points["tag"], points["len"] = 5 << 3 | 2, _POINT.itemsize - 2
    points["tx"], points["ty"], points["tz"] = 0x09, 0x11, 0x19
    xy = walls.reshape(-1, 2)
    points["x"], points["y"] = xy[:, 0], xy[:, 1]
    return (
        b"\x08\x02"  # type = LINE_LIST
        + len_field(2, IDENTITY_POSE)
        + double_field(3, s.WALL_THICKNESS_M)
        + points.tobytes()
        + len_field(6, _color(0.85, 0.85, 0.85, 1.0))
    )


_ENTITY_LIFETIME = len_field(4, b"")  # Duration 0 = forever; frame_locked (5) false = omitted
_WALL_ENTITIES: dict[tuple[int, bytes], bytes] = {}


def _entity_head(t_ns: int, entity_id: bytes) -> bytes:
    return (
        timestamp_field(t_ns)
        + len_field(2, s.FRAME_MAP.encode())
        + len_field(3, entity_id)
        + _ENTITY_LIFETIME
    )


def _walls_entity_field(t_ns: int, walls: np.ndarray) -> bytes:
    """SceneUpdate field 2 with the ``walls`` entity; memoised by time and wall coordinates
    (the course rarely changes between episodes, which start at the same time)."""
    key = (t_ns, walls.tobytes())
    field = _WALL_ENTITIES.get(key)
    if field is None:
        if len(_WALL_ENTITIES) >= 8:
            _WALL_ENTITIES.clear()
        entity = _entity_head(t_ns, b"walls") + len_field(11, _wall_line(walls))
        field = _WALL_ENTITIES[key] = len_field(2, entity)
    return field


def scene_update_bytes(t_ns: int, walls: np.ndarray, boxes: np.ndarray) -> bytes:
    """``foxglove.SceneUpdate`` with entity ``walls`` (one LINE_LIST, two points per (S, 4)
    segment, at z=0) and entity ``obstacles`` (one cube per (K, 5) box, ``OBSTACLE_HEIGHT_M``
    high, standing on z=0), both in frame ``map``, lifetime 0 (forever), not frame-locked.

    Encoded directly (vectorised over the wall points instead of a Python object per point;
    the walls entity is memoised); tests check it against ``foxglove-sdk``'s
    own encoder."""
    walls_field = _walls_entity_field(t_ns, np.ascontiguousarray(walls, dtype=np.float64))
    height = s.OBSTACLE_HEIGHT_M
    cubes = b"".join(
        len_field(
            8,
            len_field(
                1, len_field(1, _vector3(x, y, 0.5 * height)) + len_field(2, _quaternion_z(yaw))
            )
            + len_field(2, _vector3(length, width, height))
            + len_field(3, _color(0.9, 0.35, 0.1, 0.9)),
        )
        for x, y, yaw, length, width in boxes.tolist()
    )
    return walls_field + len_field(2, _entity_head(t_ns, b"obstacles") + cubes)


@functools.lru_cache(maxsize=256)
def static_transform_bytes(t_ns: int, parent: str, child: str, x: float) -> bytes:
    """:func:`frame_transform_bytes` of a fixed translation along x, memoised (episodes repeat
    the times of the static transform)."""
    return frame_transform_bytes(t_ns, parent, child, x, 0.0, 0.0)


# --------------------------------------------------------------------------- JSON


def json_default(value: Any) -> Any:
    """``json`` fallback: numpy scalars and arrays become Python values."""
    if isinstance(value, np.generic | np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable: {value!r}")


_JSON = json.JSONEncoder(separators=(",", ":"), default=json_default).encode


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
_SPEED_TAG = bytes((_STEP_KINDS["speed_mps"][0] << 3 | 1,))
_ENCODE_ERRORS = (struct.error, TypeError, ValueError, OverflowError)


def _tag(number: int, kind: str) -> bytes:
    wire = {"double": 1, "bool": 0, "int": 5, "string": 2}[kind]
    return varint(number << 3 | wire)


def _string_field(name: str, text: str) -> bytes:
    return len_field(_STEP_KINDS[name][0], text.encode())


def _is_fixed(key: str) -> bool:
    """A key stored as a fixed-size field (double, bool, int32) by the fast path."""
    return key != "speed_mps" and _STEP_KINDS.get(key, (0, "string"))[1] != "string"


@functools.lru_cache(maxsize=64)
def _reason_field(reason: str) -> bytes:
    if not isinstance(reason, str):
        raise TypeError(f"end_reason must be a str, got {type(reason).__name__}")
    return _string_field("end_reason", reason)


def _compile_packer(
    params: str,
    fixed: Sequence[tuple[str, str]],
    reason: str | None,
    extra_keys: Sequence[str] = (),
) -> Callable[..., bytes]:
    """Compile ``encode(<params>, speed_mps) -> bytes``: the ``fixed`` fields, given as
    ``(step key, Python expression of its value)``, with their tags, then ``speed_mps``, in one
    ``struct.pack``; then ``end_reason`` (the expression ``reason``) and ``extra_json`` (the
    ``extra_keys`` of the parameter ``step``, JSON).

    Generated rather than looped over so that a step costs one call with the arguments in
    place (cheaper than a generic loop over an argument template).
    The expressions are the caller's fixed text (keys are ``STEP_FIELDS`` names, checked)."""
    fmt, args = "<", []
    namespace: dict[str, Any] = {
        "_reason_field": _reason_field,
        "_extra_field": _extra_field,
        "EXTRA": tuple(extra_keys),
    }
    for i, (key, value) in enumerate(fixed):
        if not (_is_fixed(key) and key.isidentifier()):  # only STEP_FIELDS names get here
            raise ValueError(f"{key!r} is not a fixed-size STEP_FIELDS field")
        number, kind = _STEP_KINDS[key]
        tag = _tag(number, kind)
        namespace[f"T{i}"] = tag
        fmt += f"{len(tag)}s{_VALUE_FORMAT[kind]}"
        args += [f"T{i}", value]
    fmt += f"{len(_SPEED_TAG)}sd"
    namespace["TS"], namespace["_pack"] = _SPEED_TAG, struct.Struct(fmt).pack
    body = f"_pack({', '.join([*args, 'TS', 'speed_mps'])})"
    if reason is not None:
        body += f" + _reason_field({reason})"
    if extra_keys:
        body += " + _extra_field({k: step[k] for k in EXTRA})"
    source = f"def encode({params}, speed_mps):\n    return {body}\n"
    exec(compile(source, "<tinylidar step packer>", "exec"), namespace)  # noqa: S102
    return namespace["encode"]


def _extra_field(extra: Mapping[str, Any]) -> bytes:
    return _string_field(s.STEP_EXTRA_FIELD, json_bytes(extra).decode())


class _StepPlan:
    """How to encode step dicts with one particular key sequence: the fixed-size fields (in key
    order) in one ``struct.pack``, then speed, ``end_reason`` and ``extra_json``."""

    def __init__(self, keys: tuple[str, ...]) -> None:
        self.encode = _compile_packer(
            "step",
            [(k, f"step[{k!r}]") for k in keys if _is_fixed(k)],
            "step['end_reason']" if "end_reason" in keys else None,
            [k for k in keys if k not in _STEP_KINDS or k == s.STEP_EXTRA_FIELD],
        )


class StepEncoder:
    """Encodes a step dict (plus the vehicle speed) as a ``tinylidar.EnvStep`` message.

    Keys of :data:`~tinylidar_gym.recording.schemas.STEP_FIELDS` are stored with the field's type
    (double, bool, int32, string); other keys, and values that do not convert, go JSON-encoded
    to ``extra_json``. Much cheaper than ``json.dumps`` of the dict. The fast path packs each key
    layout (cached) with one ``struct.pack``."""

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
        except _ENCODE_ERRORS:
            return encode_step_slowly(step, speed_mps)


class InfoStepEncoder:
    """The ``tinylidar.EnvStep`` of one env step, from the env's ``info`` without building a
    step dict: the same bytes as :class:`StepEncoder` gives for
    ``{**{k: info[k] for k in info_keys}, "reward": reward, "terminated": terminated,
    "truncated": truncated}`` (what :class:`~tinylidar_gym.recording.wrapper.RecordEpisode`
    records), in about a fifth of the time.

    Args:
        info_keys: the ``info`` keys to store, all :data:`~schemas.STEP_FIELDS` names.
    """

    def __init__(self, info_keys: Sequence[str]) -> None:
        self.info_keys = tuple(info_keys)
        keys = (*self.info_keys, "reward", "terminated", "truncated")
        unknown = [k for k in keys if k not in _STEP_KINDS or k in ("speed_mps", "extra_json")]
        if unknown or len(set(keys)) != len(keys):
            raise ValueError(f"info_keys must be distinct STEP_FIELDS names, got {info_keys}")
        values = {k: f"info[{k!r}]" for k in self.info_keys} | {
            k: k for k in ("reward", "terminated", "truncated")
        }
        strings = [k for k in keys if not _is_fixed(k)]
        if strings not in ([], ["end_reason"]):
            raise ValueError(f"only end_reason may be a string field, got {strings}")
        self._encode = _compile_packer(
            "info, reward, terminated, truncated",
            [(k, values[k]) for k in keys if _is_fixed(k)],
            values["end_reason"] if strings else None,
        )

    def __call__(
        self,
        info: Mapping[str, Any],
        reward: float,
        terminated: bool,
        truncated: bool,
        speed_mps: float,
    ) -> bytes:
        try:
            return self._encode(info, reward, terminated, truncated, speed_mps)
        except _ENCODE_ERRORS:
            step = {k: info[k] for k in self.info_keys}
            step.update(reward=reward, terminated=terminated, truncated=truncated)
            return encode_step_slowly(step, speed_mps)


def encode_step_slowly(step: Mapping[str, Any], speed_mps: float) -> bytes:
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
    out += _SPEED_TAG + struct.pack("<d", float(speed_mps))
    if extra:
        out += _extra_field(extra)
    return bytes(out)
