"""ROS 2 bag import throughput: a synthetic car log (LaserScan + AckermannDriveStamped at 40 Hz,
1080 beams with intensities, like a Hokuyo UST-10LX under urg_node) imported into a dataset.

Prints the import wall time, scans/s, and recorded seconds per wall second (median of repeats).

    uv run python benchmarks/bag_import_throughput.py [--seconds 60] [--repeats 3]
"""

from __future__ import annotations

import math
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tyro
from mcap_ros2.writer import Writer

from tinylidar_gym.data.ros2_bag import Ros2BagConfig, import_bags
from tinylidar_gym.data.ros2_msgdefs import (
    ACKERMANN_DRIVE_STAMPED,
    ACKERMANN_DRIVE_STAMPED_MSGDEF,
    LASER_SCAN,
    LASER_SCAN_MSGDEF,
)


@dataclass
class Args:
    seconds: float = 60.0
    """Length of the synthetic recording (40 Hz scans and commands)."""
    repeats: int = 3
    """Imports timed (each into a fresh directory); the median is reported."""


def write_log(path: Path, seconds: float) -> int:
    n = int(seconds * 40)
    rng = np.random.default_rng(0)
    inc = math.radians(270.0) / 1079  # 1080 beams over the full 270 deg: resampled to 1081
    with open(path, "wb") as f, Writer(f) as w:
        scan = w.register_msgdef(LASER_SCAN, LASER_SCAN_MSGDEF)
        drive = w.register_msgdef(ACKERMANN_DRIVE_STAMPED, ACKERMANN_DRIVE_STAMPED_MSGDEF)
        for k in range(n):
            t = 10**18 + k * 25_000_000
            stamp = {"sec": t // 10**9, "nanosec": t % 10**9}
            cmd = {"steering_angle": 0.1, "speed": 3.0}
            w.write_message("/drive", drive, {"header": {"stamp": stamp}, "drive": cmd}, log_time=t)
            ranges = rng.uniform(0.5, 12.0, 1080).astype(np.float32).tolist()
            msg = {
                "header": {"stamp": stamp, "frame_id": "laser"},
                "angle_min": -math.radians(135.0),
                "angle_max": math.radians(135.0),
                "angle_increment": inc,
                "range_min": 0.02,
                "range_max": 30.0,
                "ranges": ranges,
                "intensities": ranges,
            }
            w.write_message("/scan", scan, msg, log_time=t + 1)
    return n


def main(args: Args) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        bag = Path(tmp) / "car.mcap"
        n = write_log(bag, args.seconds)
        times = []
        for r in range(args.repeats):
            t0 = time.perf_counter()
            import_bags([bag], Path(tmp) / f"ds{r}", Ros2BagConfig(), log=None)
            times.append(time.perf_counter() - t0)
        wall = statistics.median(times)
        print(
            f"{n} scans ({args.seconds:.0f} s recorded, {bag.stat().st_size / 1e6:.1f} MB): "
            f"import {wall:.2f} s = {n / wall:,.0f} scans/s, {args.seconds / wall:.1f} recorded "
            f"s per wall s (median of {args.repeats}; times {[round(t, 2) for t in times]})"
        )


if __name__ == "__main__":
    main(tyro.cli(Args))
