"""Just what the plots need from a ``simulation.mcap``: the scene, and the path with its speed.

:func:`tinylidar_gym.recording.read_episode` decodes every scan too; a report reads many
episodes, so here only the ``/tf`` and ``/env/step`` channels are decoded (about twice as fast)
and the scene comes from the attachments alone (well under a millisecond).
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from mcap.reader import make_reader

from tinylidar_gym.recording import schemas as s
from tinylidar_gym.recording.reader import (
    RecordingError,
    decode_frame_transform,
    protobuf_fields,
)

_STEP_SPEED_FIELD = next(number for name, number, _ in s.STEP_FIELDS if name == "speed_mps")


@dataclass
class Scene:
    """The course and obstacles of one recorded episode."""

    walls: np.ndarray
    """(S, 4) wall segments x0, y0, x1, y1 in m."""
    obstacles: np.ndarray
    """(K, 5) boxes x_m, y_m, yaw_rad, length_m, width_m."""

    @property
    def course_key(self) -> str:
        """Equal for episodes on the same course (a hash of the wall segments)."""
        return hashlib.sha1(np.ascontiguousarray(self.walls).tobytes()).hexdigest()[:12]


@dataclass
class Track:
    """The path driven: rear-axle positions and speeds, one per recorded step."""

    xy_m: np.ndarray
    """(T, 2) x_m, y_m."""
    speeds_mps: np.ndarray
    """(T,) speed in m/s."""


def _attachments(reader, path: Path) -> Scene:
    found = {a.name: a.data for a in reader.iter_attachments()}
    arrays = []
    for name, cols in ((s.ATTACHMENT_WALLS, 4), (s.ATTACHMENT_OBSTACLES, 5)):
        if name not in found:
            raise RecordingError(f"{path}: attachment {name!r} is missing.")
        arrays.append(np.load(io.BytesIO(found[name]), allow_pickle=False).reshape(-1, cols))
    return Scene(*arrays)


def read_scene(path: str | Path) -> Scene:
    """Walls and obstacles of a recording. Raises RecordingError naming the file."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            return _attachments(make_reader(f), path)
    except RecordingError:
        raise
    except Exception as exc:  # missing, truncated, corrupt: all mean "cannot draw it"
        raise RecordingError(f"{path}: not a readable recording ({exc}).") from exc


def read_track(path: str | Path) -> Track:
    """The driven path of a recording. Raises RecordingError naming the file."""
    path = Path(path)
    xy: list[tuple[float, float]] = []
    speeds: list[float] = []
    try:
        with open(path, "rb") as f:
            reader = make_reader(f)
            topics = [s.TOPIC_TF, s.TOPIC_STEP]
            for _, channel, message in reader.iter_messages(topics=topics, log_time_order=False):
                if channel.topic == s.TOPIC_TF:
                    x, y, _ = decode_frame_transform(message.data)["translation"]
                    xy.append((x, y))
                else:
                    values = protobuf_fields(message.data).get(_STEP_SPEED_FIELD)
                    speeds.append(float(values[-1]) if values else np.nan)
    except Exception as exc:
        raise RecordingError(f"{path}: not a readable recording ({exc}).") from exc
    n = min(len(xy), len(speeds))  # a step message follows each pose
    return Track(np.asarray(xy[:n], dtype=np.float64).reshape(-1, 2), np.asarray(speeds[:n]))
