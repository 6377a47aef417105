"""MCAP recording of episodes, Foxglove-ready (see :mod:`tinylidar_gym.recording.schemas`).

with EpisodeWriter(path, cfg.lidar, cfg.lidar.mount_offset_m, course.walls, boxes) as rec:
    rec.write_step(t_ns, scan, (x, y, yaw), speed, (steer, speed_cmd), action, step)
episode = read_episode(path)  # numpy arrays
"""

from tinylidar_gym.recording.reader import EpisodeData, RecordingError, read_episode
from tinylidar_gym.recording.writer import EpisodeWriter, RecordingWriteError

__all__ = ["EpisodeData", "EpisodeWriter", "RecordingError", "RecordingWriteError", "read_episode"]
