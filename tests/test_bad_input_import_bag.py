"""Bad input to import-bag: NaN/inf drive commands, bags cut off by a crash, bad options."""

import json
import math

import numpy as np
import pytest
from mcap_ros2.writer import Writer

from tinylidar_gym.data.ros2_bag import BagNotFoundError, Ros2BagConfig, Ros2BagError, import_bags
from tinylidar_gym.data.ros2_msgdefs import (
    ACKERMANN_DRIVE_STAMPED,
    ACKERMANN_DRIVE_STAMPED_MSGDEF,
    LASER_SCAN,
    LASER_SCAN_MSGDEF,
)
from tinylidar_gym.sim.errors import UserError

STEP_NS = 25_000_000


def write_bag(path, commands, beams=1081, chunk_size=64 * 1024):
    """One scan and one drive command (``commands[k]``, [steer, speed]) every 25 ms."""
    with open(path, "wb") as f, Writer(f, chunk_size=chunk_size) as w:
        scan = w.register_msgdef(LASER_SCAN, LASER_SCAN_MSGDEF)
        drive = w.register_msgdef(ACKERMANN_DRIVE_STAMPED, ACKERMANN_DRIVE_STAMPED_MSGDEF)
        for k, (steer, speed) in enumerate(commands):
            t_ns = k * STEP_NS
            cmd = {"steering_angle": steer, "speed": speed}
            w.write_message("/drive", drive, {"drive": cmd}, log_time=t_ns)
            msg = {
                "angle_min": -math.radians(135),
                "angle_increment": math.radians(270) / (beams - 1),
                "range_min": 0.02,
                "range_max": 30.0,
                "ranges": [2.0 + 0.001 * k] * beams,
            }
            w.write_message("/scan", scan, msg, log_time=t_ns + 1_000_000)
    return path


def test_nan_and_inf_drive_commands_are_skipped_and_counted(tmp_path):
    commands = [(0.1, 2.0)] * 40
    commands[10] = (math.nan, 2.0)
    commands[20] = (0.1, math.inf)
    commands[30] = (-math.inf, math.nan)
    bag = write_bag(tmp_path / "nan.mcap", commands)
    lines = []
    stats = import_bags([bag], tmp_path / "ds", log=lines.append)
    # Each scan after a dropped command keeps the previous one (25 ms old, within the 0.1 s).
    assert stats["n_samples"] == 40
    assert np.isfinite(np.load(tmp_path / "ds" / "commands.npy")).all()
    [rec] = stats["source"]["recordings"]
    assert rec["non_finite_commands"] == 3 and stats["counts"]["non_finite_commands"] == 3
    assert "3 NaN/inf drive commands skipped" in lines[0]
    json.loads((tmp_path / "ds" / "stats.json").read_text(), parse_constant=pytest.fail)


def test_a_bag_of_only_nan_commands_is_refused(tmp_path):
    bag = write_bag(tmp_path / "nan.mcap", [(math.nan, 1.0)] * 5)
    with pytest.raises(Ros2BagError, match="all 5 drive commands on /drive have a NaN"):
        import_bags([bag], tmp_path / "ds", log=None)


def test_a_bag_cut_off_by_a_crash_gives_what_was_written(tmp_path):
    n = 400
    good = write_bag(tmp_path / "good.mcap", [(0.1, 2.0)] * n)
    cut = tmp_path / "cut.mcap"
    data = good.read_bytes()
    cut.write_bytes(data[: int(len(data) * 0.7)])
    lines = []
    stats = import_bags([cut], tmp_path / "ds", log=lines.append)
    [rec] = stats["source"]["recordings"]
    [damage] = rec["damaged_files"]
    assert n // 2 < stats["n_samples"] < n  # the complete chunks before the cut
    assert damage["scans_recovered"] == rec["scans"] == stats["n_samples"]
    assert damage["file"] == str(cut) and stats["counts"]["damaged_files"] == 1
    assert f"recovered the {rec['scans']} scans" in lines[0]
    whole = import_bags([good], tmp_path / "whole", log=None)
    assert whole["source"]["recordings"][0]["damaged_files"] == []
    first = np.load(tmp_path / "ds" / "scans.npy")
    assert np.array_equal(first, np.load(tmp_path / "whole" / "scans.npy")[: len(first)])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"scan_topic": ""}, "must be non-empty"),
        ({"scan_topic": "/drive"}, "must differ"),
        ({"stamps": "gps"}, "use 'auto', 'header' or 'log'"),
        ({"max_command_age_s": 0.0}, "must be > 0"),
        ({"episode_length_s": -1.0}, "must be > 0 or None"),
    ],
)
def test_bad_options_are_user_errors(kwargs, match):
    with pytest.raises(UserError, match=match):
        Ros2BagConfig(**kwargs)


def test_missing_inputs_are_user_errors(tmp_path):
    with pytest.raises(BagNotFoundError, match="does not exist"):
        import_bags([tmp_path / "nope.mcap"], tmp_path / "ds", log=None)
    with pytest.raises(UserError, match="no ROS 2 bags given"):
        import_bags([], tmp_path / "ds", log=None)
    assert not (tmp_path / "ds").exists()
