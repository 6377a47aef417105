"""Import ROS 2 bag recordings (MCAP) from a real car into the training dataset format.

A recording is one ``.mcap`` file or a rosbag2 directory (its ``*.mcap`` files are read as one
recording). From it we read ``sensor_msgs/msg/LaserScan`` on the scan topic and
``ackermann_msgs/msg/AckermannDriveStamped`` on the drive topic, then:

1. **Time**: each message's ``header.stamp`` (``stamps="auto"`` uses header stamps when every
   scan and drive message has a non-zero stamp, otherwise the bag's log time for both topics, so
   the two are never compared across clocks; ``"header"``/``"log"`` force one).
2. **Pairing**: the zero-order hold of :func:`~tinylidar_gym.data.extract.pair_scans_with_commands`
   (each scan gets the latest drive command at or before it; none yet or older than
   ``max_command_age_s`` -> skipped and counted).
3. **Ranges**: :func:`~tinylidar_gym.data.scan_resample.clean_ranges` (inf/NaN/out-of-range), then
   :class:`~tinylidar_gym.data.scan_resample.BeamResampler` onto the target LiDAR's beams.
4. **Labels**: ``commands`` keep ``drive.steering_angle`` (rad) and ``drive.speed`` (m/s);
   ``actions`` are :func:`~tinylidar_gym.envs.action.from_physical` of them under the target
   ``EnvConfig`` (steering / ``vehicle.max_steer_rad``; speed mapped from
   ``[min_speed_command_mps, max_speed_command_mps]`` to [-1, 1]), clipped to [-1, 1]; how many
   were clipped is counted.
5. **Bad messages**: drive commands with a NaN or infinite steering angle or speed are dropped
   (as if never sent) and counted; a file cut off by a crash (no summary at its end) is read
   front to back up to the damage, and what was recovered is counted per file.
6. **Episodes**: each recording is cut into ``episode_length_s`` pieces (``timestamps_ns`` count
   from the recording's first paired scan) so training can hold whole pieces out for validation.

``stats.json`` gets a ``source`` entry: ``kind: "ros2_bag"``, the topics, the stamps used, and per
recording the source beam grid, the resampling applied and the counts above.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from tinylidar_gym.data.dataset import DatasetBuilder, check_out_dir, write_dataset
from tinylidar_gym.data.extract import pair_scans_with_commands
from tinylidar_gym.data.ros2_reader import BagMessages, Ros2BagError, read_recording
from tinylidar_gym.data.scan_resample import (
    BeamResampler,
    OutsideFov,
    ScanGrid,
    ScanGridError,
    clean_ranges,
)
from tinylidar_gym.envs.action import from_physical
from tinylidar_gym.sim.config import EnvConfig, config_to_dict

__all__ = ["BagNotFoundError", "Ros2BagConfig", "Ros2BagError", "import_bags", "recording_files"]

PAIRING_RULE = (
    "zero-order hold: each scan is labelled with the latest drive command at or before its "
    "timestamp; scans before the first command or with a command older than max_command_age_s "
    "are skipped"
)
RANGE_RULE = (
    "+inf, NaN and finite readings outside the message's [range_min, range_max] -> max_range_m; "
    "-inf -> range_min; then clipped to [0, max_range_m]"
)
ACTION_RULE = (
    "steering = drive.steering_angle / vehicle.max_steer_rad; speed = 2 * (drive.speed - "
    "min_speed_command_mps) / (max_speed_command_mps - min_speed_command_mps) - 1; clipped to "
    "[-1, 1]"
)


class BagNotFoundError(Ros2BagError, FileNotFoundError):
    """A recording given to import-bag does not exist."""


@dataclass(frozen=True)
class Ros2BagConfig:
    """Which topics to read and how to turn them into samples."""

    scan_topic: str = "/scan"
    """Topic of the sensor_msgs/msg/LaserScan messages."""
    drive_topic: str = "/drive"
    """Topic of the ackermann_msgs/msg/AckermannDriveStamped messages."""
    stamps: Literal["auto", "header", "log"] = "auto"
    """Message time: header stamps, bag log time, or auto (header if all stamps are set)."""
    max_command_age_s: float = 0.1
    """A scan whose latest drive command is older than this is skipped as stale."""
    outside_fov: OutsideFov = "error"
    """Target beams outside the scanner's FOV: error, edge (repeat edge beam) or max-range."""
    episode_length_s: float | None = 30.0
    """Cut recordings into episodes this long (validation holds out whole ones); None: no cut."""

    def __post_init__(self) -> None:
        if not self.scan_topic or not self.drive_topic:
            raise Ros2BagError("scan_topic and drive_topic must be non-empty topic names.")
        if self.scan_topic == self.drive_topic:
            raise Ros2BagError(
                f"scan_topic and drive_topic must differ (both {self.scan_topic!r}); set "
                "--ros2.scan-topic and --ros2.drive-topic."
            )
        if self.stamps not in ("auto", "header", "log"):
            raise Ros2BagError(f"stamps={self.stamps!r}; use 'auto', 'header' or 'log'.")
        if not self.max_command_age_s > 0:
            raise Ros2BagError(f"max_command_age_s={self.max_command_age_s} must be > 0.")
        if self.episode_length_s is not None and not self.episode_length_s > 0:
            raise Ros2BagError(f"episode_length_s={self.episode_length_s} must be > 0 or None.")


def recording_files(path: str | Path) -> list[Path]:
    """The MCAP files of one recording: the file itself, or a bag directory's ``*.mcap``."""
    path = Path(path)
    if path.is_file():
        return [path]
    if path.is_dir():
        files = sorted(path.glob("*.mcap"))
        if not files:
            raise Ros2BagError(
                f"{path} holds no .mcap files: record with `ros2 bag record -s mcap` (or convert "
                "the bag to MCAP) and pass the bag directory or its .mcap file."
            )
        return files
    raise BagNotFoundError(
        f"ROS 2 bag {path} does not exist (pass an .mcap file or a bag directory)"
    )


def _times(msgs: BagMessages, stamps: str, names: list[str]) -> tuple[np.ndarray, np.ndarray, str]:
    """(scan_t_ns, drive_t_ns, which) by the ``stamps`` rule."""
    zero = int((msgs.scan_stamp_ns == 0).sum()) + int((msgs.drive_stamp_ns == 0).sum())
    if stamps == "header" and zero:
        raise Ros2BagError(
            f"{names}: {zero} messages have an unset header.stamp (0); use --ros2.stamps log "
            "(or auto) to time messages by the bag's log time."
        )
    which = "header" if stamps == "header" or (stamps == "auto" and zero == 0) else "log"
    if which == "header":
        return msgs.scan_stamp_ns, msgs.drive_stamp_ns, which
    return msgs.scan_log_ns, msgs.drive_log_ns, which


def _to_actions(commands: np.ndarray, env: EnvConfig) -> tuple[np.ndarray, int]:
    """(C, 2) float32 actions from (C, 2) float32 [steering_rad, speed_mps] (as the simulator
    extractor maps stored commands) and how many rows were clipped."""
    if len(commands) == 0:
        return np.zeros((0, 2), dtype=np.float32), 0
    actions = np.stack([from_physical(s, v, env) for s, v in commands])
    lo, hi = env.min_speed_command_mps, env.max_speed_command_mps
    c = commands.astype(np.float64)
    raw = np.stack(
        [c[:, 0] / env.vehicle.max_steer_rad, 2.0 * (c[:, 1] - lo) / (hi - lo) - 1],
        axis=1,
    )
    return actions, int((np.abs(raw) > 1.0 + 1e-6).any(axis=1).sum())


def _import_recording(
    path: Path, cfg: Ros2BagConfig, env: EnvConfig
) -> tuple[dict[str, Any], list[tuple[dict[str, Any], dict[str, np.ndarray]]]]:
    """One recording: its info for stats.json and its episodes (info, arrays)."""
    files = recording_files(path)
    names = [str(f) for f in files]
    msgs = read_recording(files, cfg.scan_topic, cfg.drive_topic)
    scan_t, drive_t, which = _times(msgs, cfg.stamps, names)
    # A NaN/inf command is no label: drop it as if it had never been sent (and count it).
    finite = np.isfinite(msgs.commands).all(axis=1)
    drive_t, drive_commands = drive_t[finite], msgs.commands[finite]
    if len(drive_t) == 0:
        raise Ros2BagError(
            f"{path}: all {len(finite)} drive commands on {cfg.drive_topic} have a NaN or "
            "infinite steering angle or speed (check the drive topic with --ros2.drive-topic)"
        )
    # Bags store messages by arrival; header stamps need not be in order.
    s_order = np.argsort(scan_t, kind="stable")
    d_order = np.argsort(drive_t, kind="stable")
    scan_t, drive_t = scan_t[s_order], drive_t[d_order]
    idx, reason = pair_scans_with_commands(scan_t, drive_t, int(cfg.max_command_age_s * 1e9))
    keep = idx >= 0
    skipped = {
        "before_first_command": int((reason == 1).sum()),
        "stale_command": int((reason == 2).sum()),
    }
    if not keep.any():
        raise Ros2BagError(
            f"{path}: none of the {len(scan_t)} scans on {cfg.scan_topic} has a drive command on "
            f"{cfg.drive_topic} at or before it within {cfg.max_command_age_s} s ({skipped}; "
            f"{which} time: scans {scan_t[0] / 1e9:.3f}-{scan_t[-1] / 1e9:.3f} s, commands "
            f"{drive_t[0] / 1e9:.3f}-{drive_t[-1] / 1e9:.3f} s). Check the topics, "
            "--ros2.stamps or --ros2.max-command-age-s."
        )
    rows = s_order[keep]
    grid = ScanGrid(len(msgs.ranges[0]), msgs.angle_min_rad, msgs.angle_increment_rad)
    try:
        resampler = BeamResampler(grid, env.lidar, cfg.outside_fov)
    except ScanGridError as exc:
        raise Ros2BagError(f"{path}: {exc}") from exc
    cleaned, invalid = clean_ranges(
        msgs.ranges[rows], msgs.range_min_m[rows], msgs.range_max_m[rows], env.lidar.max_range_m
    )
    scans = resampler(cleaned)
    commands = drive_commands[d_order][idx[keep]].astype(np.float32)
    actions, clipped = _to_actions(commands, env)
    t_kept = scan_t[keep]
    t_rel = t_kept - t_kept[0]
    if cfg.episode_length_s is None:
        piece = np.zeros(len(t_rel), dtype=np.int64)
    else:
        piece = t_rel // int(cfg.episode_length_s * 1e9)
    info = {
        "path": str(path),
        "files": names,
        "scans": int(len(scan_t)),
        "drive_commands": int(len(drive_t)),
        "samples": int(keep.sum()),
        "stamps": which,
        "start_time_ns": int(t_kept[0]),
        "skipped_scans": skipped,
        "invalid_ranges": invalid,
        "clipped_commands": clipped,
        "non_finite_commands": int((~finite).sum()),
        "damaged_files": msgs.damaged,
        "beams": resampler.to_dict(),
    }
    episodes = []
    for p in np.unique(piece):
        sel = piece == p
        ep = {"recording": str(path), "piece": int(p), "samples": int(sel.sum())}
        episodes.append(
            (
                ep,
                {
                    "scans": scans[sel],
                    "actions": actions[sel],
                    "commands": commands[sel],
                    "timestamps_ns": t_rel[sel].astype(np.int64),
                    "weights": np.ones(int(sel.sum()), dtype=np.float32),
                },
            )
        )
    return info, episodes


def _describe(path: Path, info: dict[str, Any]) -> str:
    """One line about an imported recording: samples, resampling and what was replaced."""
    inv = sum(info["invalid_ranges"].values())
    line = (
        f"{path}: {info['samples']} samples of {info['scans']} scans ({info['stamps']} time); "
        f"{info['beams']['description']}; {inv} invalid ranges replaced; "
        f"{info['clipped_commands']} commands clipped to the action range"
    )
    if info["non_finite_commands"]:
        line += f"; {info['non_finite_commands']} NaN/inf drive commands skipped"
    for d in info["damaged_files"]:
        line += (
            f"; {d['file']} is damaged or cut off: recovered the {d['scans_recovered']} scans "
            f"and {d['drive_commands_recovered']} drive commands before the damage"
        )
    return line


def import_bags(
    bags: list[str | Path],
    out_dir: str | Path,
    cfg: Ros2BagConfig | None = None,
    env: EnvConfig | None = None,
    overwrite: bool = False,
    log: Callable[[str], None] | None = print,
) -> dict[str, Any]:
    """Import ROS 2 MCAP recordings into a dataset at ``out_dir``; returns its ``stats.json``.

    Args:
        bags: recordings (``.mcap`` files or rosbag2 directories).
        out_dir: dataset directory to create (never overwritten unless ``overwrite``).
        cfg: topics, timing and resampling options.
        env: the target env (LiDAR beams/FOV/range, steering and speed-command limits the
            actions are normalised by); ``EnvConfig()`` by default.
        log: receives one line per recording (resampling, clipping); None for silence.
    """
    cfg = cfg or Ros2BagConfig()
    env = env or EnvConfig()
    if not bags:
        raise Ros2BagError("no ROS 2 bags given (pass one or more .mcap files or bag directories)")
    check_out_dir(out_dir, overwrite)
    paths = [Path(b) for b in bags]
    infos: list[dict[str, Any]] = []

    def fill(work: Path) -> dict[str, Any]:
        builder = DatasetBuilder(work)
        for path in paths:  # one recording in memory at a time
            info, episodes = _import_recording(path, cfg, env)
            for ep, arrays in episodes:
                builder.add(ep, arrays)
            infos.append(info)
            if log is not None:
                log(_describe(path, info))
        return builder.finish(
            env=config_to_dict(env),
            pairing_rule=PAIRING_RULE,
            config=dataclasses.asdict(cfg),
            sources=[str(p) for p in paths],
            counts={
                "episodes_found": len(builder.episodes),
                "episodes_used": len(builder.episodes),
                "episodes_skipped": 0,
                "non_finite_commands": sum(i["non_finite_commands"] for i in infos),
                "damaged_files": sum(len(i["damaged_files"]) for i in infos),
            },
            skipped=[],
            extra={
                "source": {
                    "kind": "ros2_bag",
                    "scan_topic": cfg.scan_topic,
                    "drive_topic": cfg.drive_topic,
                    "range_rule": RANGE_RULE,
                    "action_rule": ACTION_RULE,
                    "recordings": infos,
                }
            },
        )

    return write_dataset(out_dir, fill)
