"""Import ROS 2 bag recordings (MCAP) from a real car into a training dataset.

    uv run experiment-runner import-bag car_run1/ car_run2.mcap --out data/car

The extractor's counterpart for real-car logs: sensor_msgs/msg/LaserScan on --ros2.scan-topic
(default /scan) paired with ackermann_msgs/msg/AckermannDriveStamped on --ros2.drive-topic
(default /drive) by the same zero-order hold, written in the same dataset format, so
`experiment-runner train-bc --data data/car` trains on it unchanged. Scans whose beam grid differs
from the target LiDAR (--env.lidar.*) are resampled by linear interpolation in angle, and the
command line says so; actions are normalised by the --env vehicle and speed-command limits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import tyro

from tinylidar_gym.data.ros2_bag import Ros2BagConfig
from tinylidar_gym.sim.config import EnvConfig


@dataclass
class Args:
    bags: tyro.conf.Positional[list[Path]]
    """ROS 2 recordings: .mcap files or rosbag2 directories (one recording each)."""
    out: Path = Path("data/car")
    """Dataset directory to create (never overwritten unless --overwrite)."""
    overwrite: bool = False
    """Replace an existing dataset directory."""
    ros2: Ros2BagConfig = field(default_factory=Ros2BagConfig)
    """Topics, timing, pairing tolerance, FOV handling and episode length."""
    env: EnvConfig = field(default_factory=EnvConfig)
    """Target env: LiDAR grid and range, steering and speed-command limits of the actions."""


def run(args: Args) -> Path:
    """Import the recordings into a dataset and print its counts."""
    from tinylidar_gym.data.ros2_bag import import_bags

    stats = import_bags(args.bags, args.out, args.ros2, args.env, overwrite=args.overwrite)
    print(
        f"{args.out}: {stats['n_samples']:,} samples in {stats['counts']['episodes_used']} "
        f"episodes from {len(stats['source']['recordings'])} recordings; {stats['n_beams']} "
        f"beams; hash {stats['content_hash']}"
    )
    return args.out
