"""ROS 2 bag import: values, pairing, resampling, range cleaning, topics, errors, training."""

import math
from pathlib import Path

import numpy as np
import pytest
from mcap.reader import make_reader
from mcap_ros2.decoder import DecoderFactory
from mcap_ros2.writer import Writer

from experiments.experiment_runner import main
from tinylidar_gym.data.extract import DatasetExistsError, read_stats
from tinylidar_gym.data.ros2_bag import Ros2BagConfig, Ros2BagError, import_bags
from tinylidar_gym.data.ros2_msgdefs import (
    ACKERMANN_DRIVE_STAMPED,
    ACKERMANN_DRIVE_STAMPED_MSGDEF,
    LASER_SCAN,
    LASER_SCAN_MSGDEF,
)
from tinylidar_gym.data.ros2_reader import decode_scan_fast
from tinylidar_gym.data.scan_resample import BeamResampler, ScanGrid, ScanGridError
from tinylidar_gym.envs.action import from_physical
from tinylidar_gym.sim.config import EnvConfig, LidarConfig

LIDAR = LidarConfig()  # target: 1081 beams over 270 deg, 30 m
MS = 1_000_000


def _stamp(t_ns):
    return {"sec": t_ns // 10**9, "nanosec": t_ns % 10**9}


def write_bag(
    path,
    scans,
    drives,
    scan_topic="/scan",
    drive_topic="/drive",
    grid=(LIDAR.angle_min_rad, LIDAR.angle_increment_rad),
    range_limits=(0.02, 30.0),
    extra_topics=False,
):
    """scans: [(stamp_ns, log_ns, ranges)], drives: [(stamp_ns, log_ns, steer_rad, speed_mps)]."""
    with open(path, "wb") as f, Writer(f) as w:
        scan_schema = w.register_msgdef(LASER_SCAN, LASER_SCAN_MSGDEF)
        drive_schema = w.register_msgdef(ACKERMANN_DRIVE_STAMPED, ACKERMANN_DRIVE_STAMPED_MSGDEF)
        events = [(log, 0, k) for k, (_, log, _) in enumerate(scans)]
        events += [(log, 1, k) for k, (_, log, _, _) in enumerate(drives)]
        for log, kind, k in sorted(events):
            if kind == 0:
                stamp, _, ranges = scans[k]
                n = len(ranges)
                msg = {
                    "header": {"stamp": _stamp(stamp), "frame_id": "laser" + "x" * k},
                    "angle_min": grid[0],
                    "angle_max": grid[0] + (n - 1) * grid[1],
                    "angle_increment": grid[1],
                    "scan_time": 0.025,
                    "range_min": range_limits[0],
                    "range_max": range_limits[1],
                    "ranges": [float(r) for r in ranges],
                    "intensities": [],
                }
                w.write_message(scan_topic, scan_schema, msg, log_time=log)
            else:
                stamp, _, steer, speed = drives[k]
                msg = {
                    "header": {"stamp": _stamp(stamp), "frame_id": "base_link"},
                    "drive": {"steering_angle": steer, "speed": speed},
                }
                w.write_message(drive_topic, drive_schema, msg, log_time=log)
            if extra_topics and kind == 0:  # a LaserScan on another topic must be ignored
                w.write_message("/scan_rear", scan_schema, msg, log_time=log)
    return path


def _profile(n, seed=0):
    return np.random.default_rng(seed).uniform(0.5, 25.0, n).astype(np.float32)


def test_values_round_trip_and_commands_pair_by_header_stamp(tmp_path, capsys):
    # Scans at 40 Hz, commands at 20 Hz starting after the first scan; log times lag the stamps
    # by a jitter that reorders messages, so only the header stamps give the right pairing.
    t0 = 1_700_000_000 * 10**9
    scan_stamps = [t0 + k * 25 * MS for k in range(12)]
    drive_stamps = [t0 + 10 * MS + k * 50 * MS for k in range(6)]
    rng = np.random.default_rng(1)
    profiles = [_profile(1081, k) for k in range(12)]
    scans = [
        (s, s + int(rng.integers(0, 30)) * MS, p)
        for s, p in zip(scan_stamps, profiles, strict=True)
    ]
    drives = [(s, s + 2 * MS, 0.1 * k - 0.2, 1.0 + k) for k, s in enumerate(drive_stamps)]
    bag = write_bag(tmp_path / "run.mcap", scans, drives)
    stats = import_bags([bag], tmp_path / "ds")

    ds = tmp_path / "ds"
    x = np.load(ds / "scans.npy", mmap_mode="r")
    cmds = np.load(ds / "commands.npy")
    acts = np.load(ds / "actions.npy")
    t = np.load(ds / "timestamps_ns.npy")
    # Scan 0 (t0) precedes the first command (t0 + 10 ms): skipped; the rest all pair.
    assert stats["n_samples"] == 11 and x.shape == (11, 1081)
    assert np.array_equal(x, np.stack(profiles[1:]))
    expected = [(k * 25 - 10) // 50 for k in range(1, 12)]  # latest command at or before
    assert cmds[:, 1].tolist() == [1.0 + k for k in expected]
    assert np.allclose(cmds[:, 0], [0.1 * k - 0.2 for k in expected])
    env = EnvConfig()
    assert np.array_equal(acts, np.stack([from_physical(s, v, env) for s, v in cmds]))
    assert t.tolist() == [k * 25 * MS for k in range(11)]

    rec = stats["source"]["recordings"][0]
    assert stats["source"]["kind"] == "ros2_bag"
    assert (stats["source"]["scan_topic"], stats["source"]["drive_topic"]) == ("/scan", "/drive")
    assert rec["stamps"] == "header" and rec["start_time_ns"] == scan_stamps[1]
    assert rec["skipped_scans"] == {"before_first_command": 1, "stale_command": 0}
    assert rec["beams"]["source_beams"] == 1081 and not rec["beams"]["resampled"]
    assert rec["clipped_commands"] == 0
    assert stats["env"]["lidar"]["n_beams"] == 1081 and read_stats(ds) == stats
    assert "copied unchanged" in capsys.readouterr().out


def test_the_fast_scan_decoder_matches_the_generic_one(tmp_path):
    # Header frame_ids of every length modulo 4 shift the float fields' alignment.
    scans = [(k * 10**9 + 7, k, _profile(37 + k, k)) for k in range(6)]
    bag = write_bag(tmp_path / "b.mcap", scans, [], grid=(-1.0, 0.01))
    with open(bag, "rb") as f:
        reader = make_reader(f, decoder_factories=[DecoderFactory()])
        for k, (_, _, msg, ros) in enumerate(reader.iter_decoded_messages(topics=["/scan"])):
            fast = decode_scan_fast(msg.data)
            assert fast is not None
            stamp_ns, angle_min, inc, range_min, range_max, ranges = fast
            assert stamp_ns == ros.header.stamp.sec * 10**9 + ros.header.stamp.nanosec
            assert (angle_min, inc) == (ros.angle_min, ros.angle_increment)
            assert (range_min, range_max) == (ros.range_min, ros.range_max)
            assert ranges.tolist() == ros.ranges and ros.header.frame_id == "laser" + "x" * k
    assert k == 5


def test_1080_beams_over_the_full_fov_are_resampled_by_linear_interpolation(tmp_path, capsys):
    # A profile linear in angle must come out exactly linear on the target grid.
    n = 1080
    inc = math.radians(270.0) / (n - 1)
    src_angles = LIDAR.angle_min_rad + np.arange(n) * inc
    profile = 10.0 + 2.0 * src_angles
    scans = [(k * 25 * MS + 1, k * 25 * MS + 1, profile) for k in range(3)]
    drives = [(0 + 1, 1, 0.0, 2.0)]
    bag = write_bag(tmp_path / "b.mcap", scans, drives, grid=(LIDAR.angle_min_rad, inc))
    stats = import_bags([bag], tmp_path / "ds", Ros2BagConfig(max_command_age_s=1.0))
    x = np.load(tmp_path / "ds" / "scans.npy")
    tgt = LIDAR.angle_min_rad + np.arange(1081) * LIDAR.angle_increment_rad
    assert x.shape == (3, 1081)
    np.testing.assert_allclose(x[0], 10.0 + 2.0 * tgt, atol=2e-5)
    beams = stats["source"]["recordings"][0]["beams"]
    assert beams["resampled"] and beams["source_beams"] == 1080 and beams["target_beams"] == 1081
    assert "resampled 1080→1081 beams by linear interpolation in angle" in capsys.readouterr().out


def test_a_narrower_scanner_fov_is_refused_unless_opted_in():
    # 1080 beams 0.25 deg apart from -135 deg end at +134.75 deg: the target's last beam is out.
    src = ScanGrid(1080, LIDAR.angle_min_rad, LIDAR.angle_increment_rad)
    with pytest.raises(ScanGridError, match="1 target beams lie outside.*--ros2.outside-fov"):
        BeamResampler(src, LIDAR)
    r = np.arange(1080, dtype=np.float32)[None, :]
    edge = BeamResampler(src, LIDAR, "edge")(r)
    assert np.array_equal(edge[0, :1080], r[0]) and edge[0, 1080] == 1079.0
    assert BeamResampler(src, LIDAR, "max-range")(r)[0, 1080] == LIDAR.max_range_m
    # Between neighbours the interpolation weights are exact: half-way reads the mean.
    half = BeamResampler(ScanGrid(541, LIDAR.angle_min_rad, 2 * LIDAR.angle_increment_rad), LIDAR)
    out = half(np.arange(541, dtype=np.float32)[None, :] * 2.0)
    assert np.allclose(out[0], np.arange(1081))


def test_a_reversed_scanner_is_flipped_and_a_matching_grid_is_copied():
    tgt = LidarConfig(n_beams=5, fov_deg=180.0)
    r = np.array([[1.0, 2.0, 3.0, 4.0, 5.0]], dtype=np.float32)
    same = BeamResampler(ScanGrid.of(tgt), tgt)
    assert same.identical and np.array_equal(same(r), r)
    flipped = ScanGrid(5, tgt.angle_max_rad, -tgt.angle_increment_rad)
    assert np.array_equal(BeamResampler(flipped, tgt)(r), r[:, ::-1])


def test_inf_nan_and_out_of_range_readings(tmp_path):
    raw = np.full(1081, 5.0, dtype=np.float32)
    raw[:6] = [np.inf, np.nan, -np.inf, 31.0, 0.01, 12.0]  # range_min 0.02, range_max 30
    bag = write_bag(tmp_path / "b.mcap", [(2, 2, raw)], [(1, 1, 0.0, 1.0)])
    stats = import_bags([bag], tmp_path / "ds", log=None)
    x = np.load(tmp_path / "ds" / "scans.npy")
    assert x[0, :6].tolist() == pytest.approx([30.0, 30.0, 0.02, 30.0, 30.0, 12.0])
    assert (x[0, 6:] == 5.0).all()
    assert stats["source"]["recordings"][0]["invalid_ranges"] == {
        "nan": 1,
        "pos_inf": 1,
        "neg_inf": 1,
        "above_range_max": 1,
        "below_range_min": 1,
    }
    # The generic decoder (used for anything but little-endian CDR) gives the same dataset.
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("tinylidar_gym.data.ros2_reader.decode_scan_fast", lambda data: None)
        import_bags([bag], tmp_path / "generic", log=None)
    assert np.array_equal(np.load(tmp_path / "generic" / "scans.npy"), x)
    # A target with a shorter range clips everything to it.
    import_bags(
        [bag], tmp_path / "short", env=EnvConfig(lidar=LidarConfig(max_range_m=10.0)), log=None
    )
    short = np.load(tmp_path / "short" / "scans.npy")
    assert short[0, :6].tolist() == pytest.approx([10.0, 10.0, 0.02, 10.0, 10.0, 10.0])


def test_custom_topics_unset_stamps_use_log_time_and_clipping_is_counted(tmp_path):
    # Many car stacks publish drive commands with an empty header: auto falls back to log time.
    scans = [(0, k * 25 * MS, _profile(1081, k)) for k in range(1, 5)]
    drives = [(0, 10 * MS, 0.0, 12.0), (0, 60 * MS, -0.5, 3.0)]  # 12 m/s and -0.5 rad clip
    bag = write_bag(
        tmp_path / "b.mcap", scans, drives, "/car/scan", "/vesc/drive", extra_topics=True
    )
    cfg = Ros2BagConfig(scan_topic="/car/scan", drive_topic="/vesc/drive")
    stats = import_bags([bag], tmp_path / "ds", cfg, log=None)
    rec = stats["source"]["recordings"][0]
    assert rec["stamps"] == "log" and rec["clipped_commands"] == 4 and stats["n_samples"] == 4
    acts = np.load(tmp_path / "ds" / "actions.npy")
    assert acts.tolist() == [[0.0, 1.0], [0.0, 1.0], [-1.0, -0.25], [-1.0, -0.25]]
    with pytest.raises(Ros2BagError, match="unset header.stamp.*--ros2.stamps log"):
        import_bags([bag], tmp_path / "h", Ros2BagConfig("/car/scan", "/vesc/drive", "header"))


def test_long_recordings_are_cut_into_episodes_and_bag_directories_are_read(tmp_path):
    bag_dir = tmp_path / "rosbag2_run"
    bag_dir.mkdir()
    scans = [(1 + k * 100 * MS, 1 + k * 100 * MS, _profile(1081, k)) for k in range(25)]
    drives = [(k * 100 * MS, k * 100 * MS, 0.0, 2.0) for k in range(25)]
    write_bag(bag_dir / "rosbag2_run_0.mcap", scans[:12], drives[:12])
    write_bag(bag_dir / "rosbag2_run_1.mcap", scans[12:], drives[12:])
    cfg = Ros2BagConfig(episode_length_s=1.0)
    stats = import_bags([bag_dir], tmp_path / "ds", cfg, log=None)
    assert stats["n_samples"] == 25
    assert [e["samples"] for e in stats["episodes"]] == [10, 10, 5]
    ids = np.load(tmp_path / "ds" / "episode_ids.npy")
    assert ids.tolist() == [0] * 10 + [1] * 10 + [2] * 5
    assert len(stats["source"]["recordings"][0]["files"]) == 2


def test_clear_errors(tmp_path):
    good = write_bag(tmp_path / "g.mcap", [(2, 2, _profile(1081))], [(1, 1, 0.0, 1.0)])
    with pytest.raises(Ros2BagError, match=r"drive topic /cmd is missing.*/drive \[ackermann"):
        import_bags([good], tmp_path / "a", Ros2BagConfig(drive_topic="/cmd"), log=None)
    swapped = Ros2BagConfig(scan_topic="/drive", drive_topic="/scan")
    with pytest.raises(Ros2BagError, match="/drive carries ackermann.*expected sensor_msgs/msg/La"):
        import_bags([good], tmp_path / "a", swapped, log=None)
    with pytest.raises(ValueError, match="must differ"):
        Ros2BagConfig(scan_topic="/drive")
    empty = write_bag(tmp_path / "e.mcap", [], [])
    with pytest.raises(Ros2BagError, match="scan topic /scan is missing. Topics found: none"):
        import_bags([empty], tmp_path / "a", log=None)
    late = write_bag(tmp_path / "l.mcap", [(1, 1, _profile(1081))], [(5, 5, 0.0, 1.0)])
    with pytest.raises(Ros2BagError, match="none of the 1 scans.*before_first_command': 1"):
        import_bags([late], tmp_path / "a", log=None)
    narrow = write_bag(
        tmp_path / "n.mcap", [(2, 2, _profile(900))], [(1, 1, 0.0, 1.0)]
    )  # 900 beams 0.25 deg apart: 225 deg
    with pytest.raises(Ros2BagError, match="n.mcap: .* outside the scanner's field of view"):
        import_bags([narrow], tmp_path / "a", log=None)
    truncated = tmp_path / "t.mcap"
    truncated.write_bytes(good.read_bytes()[:200])
    with pytest.raises(Ros2BagError, match="not a readable ROS 2 MCAP file"):
        import_bags([truncated], tmp_path / "a", log=None)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        import_bags([tmp_path / "nope.mcap"], tmp_path / "a", log=None)
    no_bags = tmp_path / "not_a_bag"
    no_bags.mkdir()
    with pytest.raises(Ros2BagError, match="holds no .mcap files"):
        import_bags([no_bags], tmp_path / "a", log=None)
    assert not (tmp_path / "a").exists()  # failed imports leave nothing behind
    import_bags([good], tmp_path / "ok", log=None)
    with pytest.raises(DatasetExistsError, match="--overwrite"):
        import_bags([good], tmp_path / "ok", log=None)


def test_an_imported_dataset_trains_with_train_bc(tmp_path, capsys):
    from trainers.bc import train_bc
    from trainers.configs import BCConfig
    from trainers.dataset import LidarDataset
    from trainers.tracking import TrackingConfig

    # 4 s at 40 Hz, 1080 beams (resampled), steering follows the left-right range difference.
    n = 160
    inc = math.radians(270.0) / 1079
    rng = np.random.default_rng(0)
    base = rng.uniform(1.0, 8.0, (n, 1080)).astype(np.float32)
    steer = 0.3 * np.tanh(base[:, 700:800].mean(1) - base[:, 280:380].mean(1))
    scans = [(k * 25 * MS + 1, k * 25 * MS + 1, base[k]) for k in range(n)]
    drives = [(k * 25 * MS, k * 25 * MS, float(steer[k]), 3.0) for k in range(n)]
    bag = write_bag(tmp_path / "car.mcap", scans, drives, grid=(LIDAR.angle_min_rad, inc))
    data, model = tmp_path / "data", tmp_path / "model"
    main(["import-bag", str(bag), "--out", str(data), "--ros2.episode-length-s", "1.0"])
    out = capsys.readouterr().out
    assert "resampled 1080→1081" in out and f"{n} samples in 4 episodes" in out

    ds = LidarDataset(data)
    assert len(ds) == n and ds.n_beams == 1081 and ds.n_episodes == 4
    train_idx, val_idx = ds.split_by_episode(0.25)
    assert len(train_idx) == 120 and len(val_idx) == 40
    cfg = BCConfig(epochs=1, batch_size=32, threads=2, val_fraction=0.25)
    report = train_bc(data, model, cfg, TrackingConfig(tracker="none"), progress=False)
    assert report["best_epoch"] == 1 and math.isfinite(report["best_val_mse"])
    assert Path(model / "model.json").exists()
