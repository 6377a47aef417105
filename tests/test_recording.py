"""Tests of the MCAP recording layer (``tinylidar_gym.recording``): round trip, Foxglove-ready file
layout (schemas, topics, frames, times, compression), atomic writes, corrupt files, and writers
in sequence, side by side and in loky worker processes."""

from __future__ import annotations

import math
import socket
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from mcap.reader import make_reader
from mcap.stream_reader import StreamReader

from tinylidar_gym.recording import (
    EpisodeWriter,
    RecordingError,
    RecordingWriteError,
    read_episode,
)
from tinylidar_gym.recording import schemas as s
from tinylidar_gym.recording.reader import (
    decode_frame_transform,
    decode_laser_scan,
    protobuf_fields,
)
from tinylidar_gym.recording.writer import laser_scan_prefix, scene_update_bytes, timestamp_field
from tinylidar_gym.sim.config import LidarConfig

LIDAR = LidarConfig()  # 1081 beams over 270 deg
DT_NS = 25_000_000
STEPS = 150  # > 2 chunks of ~57 steps


def make_episode(seed: int, steps: int = STEPS, lidar: LidarConfig = LIDAR) -> dict[str, Any]:
    """Synthetic episode data with the shapes and types the env produces."""
    rng = np.random.default_rng(seed)
    scans = rng.uniform(0.05, lidar.max_range_m, (steps, lidar.n_beams)).astype(np.float32)
    scans[:, :7] = lidar.max_range_m  # no-hit beams
    yaw = np.angle(np.exp(1j * rng.uniform(-4, 4, steps)))  # wrapped to (-pi, pi]
    poses = np.column_stack([rng.normal(0, 10, steps), rng.normal(0, 10, steps), yaw])
    actions = rng.uniform(-1, 1, (steps, 2)).astype(np.float32)
    commands = np.column_stack([actions[:, 0] * 0.4189, 4.0 + 4.0 * actions[:, 1]])
    steps_out = []
    for i in range(steps):
        last = i == steps - 1
        steps_out.append(
            {
                "reward": float(rng.normal()),
                "terminated": last,
                "truncated": False,
                "end_reason": "collision_wall" if last else "running",
                "progress_m": 0.1 * i,
                "checkpoints_passed": i // 50,
                "min_obstacle_clearance_m": math.inf if i % 2 else 0.5,
                "is_success": False,
            }
        )
    return {
        "t_ns": np.arange(1, steps + 1, dtype=np.int64) * DT_NS,
        "scans": scans,
        "poses": poses,
        "speeds": rng.uniform(0, 8, steps),
        "commands": commands,
        "actions": actions,
        "steps": steps_out,
        "walls": rng.uniform(-20, 20, (40, 4)),
        "boxes": np.column_stack([rng.uniform(-5, 5, (3, 3)), rng.uniform(0.3, 0.8, (3, 2))]),
        "metadata": {"seed": seed, "config": {"lidar": {"n_beams": lidar.n_beams}}},
    }


def write_episode(path: Path, ep: dict[str, Any], lidar: LidarConfig = LIDAR, **kw: Any) -> None:
    with EpisodeWriter(
        path, lidar, lidar.mount_offset_m, ep["walls"], ep["boxes"], ep["metadata"], **kw
    ) as rec:
        for i in range(len(ep["t_ns"])):
            rec.write_step(
                ep["t_ns"][i],
                ep["scans"][i],
                tuple(ep["poses"][i]),
                ep["speeds"][i],
                tuple(ep["commands"][i]),
                ep["actions"][i],
                ep["steps"][i],
            )


def check_round_trip(path: Path, ep: dict[str, Any], lidar: LidarConfig = LIDAR) -> None:
    data = read_episode(path)
    n = len(ep["t_ns"])
    for t in (data.scan_t_ns, data.pose_t_ns, data.command_t_ns, data.step_t_ns):
        assert t.dtype == np.int64
        np.testing.assert_array_equal(t, ep["t_ns"])
    assert data.scans.dtype == np.float32 and data.scans.shape == (n, lidar.n_beams)
    np.testing.assert_array_equal(data.scans, ep["scans"])  # exact
    np.testing.assert_array_equal(data.poses[:, :2], ep["poses"][:, :2])
    np.testing.assert_allclose(data.poses[:, 2], ep["poses"][:, 2], rtol=0, atol=1e-12)
    np.testing.assert_array_equal(data.commands, ep["commands"])
    np.testing.assert_array_equal(data.actions, ep["actions"])
    np.testing.assert_array_equal(data.speeds_mps, ep["speeds"])
    assert data.steps == [
        {**st, "speed_mps": v} for st, v in zip(ep["steps"], ep["speeds"], strict=True)
    ]
    np.testing.assert_array_equal(data.walls, ep["walls"])
    np.testing.assert_array_equal(data.obstacle_boxes, ep["boxes"])
    assert data.metadata == ep["metadata"]
    assert data.angle_min == lidar.angle_min_rad
    assert data.angle_max == lidar.angle_max_rad
    assert data.angle_increment == lidar.angle_increment_rad
    assert data.range_max == lidar.max_range_m
    assert data.mount_offset_m == lidar.mount_offset_m
    assert data.n_steps == n


def messages(path: Path) -> list[tuple[str, str, Any]]:
    """(topic, schema name, message) in file order, CRCs validated by a streaming read."""
    with open(path, "rb") as f:
        reader = make_reader(f, validate_crcs=True)
        return [
            (ch.topic, sc.name, msg) for sc, ch, msg in reader.iter_messages(log_time_order=False)
        ]


# --------------------------------------------------------------------------- round trip


def test_round_trip_is_exact(tmp_path: Path) -> None:
    ep = make_episode(0)
    path = tmp_path / "simulation.mcap"
    write_episode(path, ep)
    check_round_trip(path, ep)


def test_round_trip_lz4_and_other_scanner(tmp_path: Path) -> None:
    lidar = LidarConfig(n_beams=360, fov_deg=360.0, max_range_m=12.0, mount_offset_m=0.1)
    ep = make_episode(1, steps=40, lidar=lidar)
    path = tmp_path / "simulation.mcap"
    write_episode(path, ep, lidar=lidar, compression="lz4")
    check_round_trip(path, ep, lidar=lidar)
    with open(path, "rb") as f:
        summary = make_reader(f).get_summary()
    assert summary is not None
    assert {c.compression for c in summary.chunk_indexes} == {"lz4"}


def test_recorded_env_episode_round_trips(tmp_path: Path) -> None:
    from tinylidar_gym.envs.tinylidar_env import TinyLidarEnv

    env = TinyLidarEnv(lidar={"n_beams": 121})
    obs, info = env.reset(seed=3)
    cfg, layout = env.config, env.layout
    assert layout is not None
    path = tmp_path / "simulation.mcap"
    scans, dt_ns = [], round(cfg.control_dt_s * 1e9)
    with EpisodeWriter(
        path, cfg.lidar, cfg.lidar.mount_offset_m, layout.course.walls, layout.obstacles.boxes
    ) as rec:
        for k in range(1, 41):
            action = np.array([0.1, 0.0], dtype=np.float32)
            obs, reward, terminated, truncated, info = env.step(action)
            step = {"reward": reward, "terminated": terminated, "truncated": truncated, **info}
            pose = (info["x_m"], info["y_m"], info["yaw_rad"])
            command = (info["steer_cmd_rad"], info["speed_cmd_mps"])
            rec.write_step(k * dt_ns, obs, pose, info["speed_mps"], command, action, step)
            scans.append(obs)
            if terminated or truncated:
                break
    data = read_episode(path)
    np.testing.assert_array_equal(data.scans, np.array(scans))
    assert data.steps[-1] == {"reward": reward, "terminated": terminated, **info} | {
        "truncated": truncated
    }
    np.testing.assert_array_equal(data.walls, layout.course.walls)
    np.testing.assert_array_equal(data.obstacle_boxes, layout.obstacles.boxes)


def test_step_messages_keep_types_extra_keys_and_non_finite_values(tmp_path: Path) -> None:
    ep = make_episode(2, steps=3)
    ep["steps"] = [
        {"reward": np.float32(0.5), "terminated": np.bool_(False), "checkpoints_passed": 2},
        {"custom": [1, 2, 3], "note": "hi", "bad": math.nan, "worse": -math.inf},
        {"reward": math.inf, "checkpoints_total": np.int64(10), "end_reason": "goal_reached"},
    ]
    path = tmp_path / "simulation.mcap"
    write_episode(path, ep)
    steps = read_episode(path).steps
    assert steps[0] == {"reward": 0.5, "terminated": False, "checkpoints_passed": 2} | {
        "speed_mps": ep["speeds"][0]
    }
    assert steps[1]["custom"] == [1, 2, 3] and steps[1]["note"] == "hi"
    assert math.isnan(steps[1]["bad"]) and steps[1]["worse"] == -math.inf
    assert steps[2]["reward"] == math.inf and steps[2]["checkpoints_total"] == 10
    assert steps[2]["end_reason"] == "goal_reached"


def test_episode_without_steps_still_has_layout(tmp_path: Path) -> None:
    ep = make_episode(3, steps=0)
    path = tmp_path / "simulation.mcap"
    write_episode(path, ep)
    data = read_episode(path)
    assert data.n_steps == 0 and data.scans.shape == (0, LIDAR.n_beams)
    np.testing.assert_array_equal(data.walls, ep["walls"])
    assert [topic for topic, _, _ in messages(path)] == [s.TOPIC_SCENE, s.TOPIC_TF_STATIC]


# --------------------------------------------------------------------------- Foxglove layout


def test_file_has_foxglove_schemas_topics_and_compressed_chunks(tmp_path: Path) -> None:
    path = tmp_path / "simulation.mcap"
    write_episode(path, make_episode(4))
    with open(path, "rb") as f:
        summary = make_reader(f, validate_crcs=True).get_summary()
    assert summary is not None
    by_topic = {ch.topic: (ch, summary.schemas[ch.schema_id]) for ch in summary.channels.values()}
    expected = {
        s.TOPIC_SCAN: "foxglove.LaserScan",
        s.TOPIC_TF: "foxglove.FrameTransform",
        s.TOPIC_TF_STATIC: "foxglove.FrameTransform",
        s.TOPIC_SCENE: "foxglove.SceneUpdate",
        s.TOPIC_COMMAND: "tinylidar.ControlCommand",
        s.TOPIC_STEP: "tinylidar.EnvStep",
    }
    assert {topic: schema.name for topic, (_, schema) in by_topic.items()} == expected
    for channel, schema in by_topic.values():
        assert channel.message_encoding == "protobuf" and schema.encoding == "protobuf"
        assert schema.data  # self-describing FileDescriptorSet
    assert len(summary.chunk_indexes) >= 3
    assert {c.compression for c in summary.chunk_indexes} == {"zstd"}
    assert all(c.compressed_size < c.uncompressed_size for c in summary.chunk_indexes)
    stats = summary.statistics
    assert stats is not None and stats.message_count == 4 * STEPS + 1 + 4  # scene + 4 static tf
    with open(path, "rb") as f:  # every record parses, in a linear (streaming) read too
        assert sum(1 for _ in StreamReader(f, validate_crcs=True).records) > 4 * STEPS


def test_laser_scans_transforms_and_times(tmp_path: Path) -> None:
    ep = make_episode(5)
    path = tmp_path / "simulation.mcap"
    write_episode(path, ep)
    msgs = messages(path)
    first_t = int(ep["t_ns"][0])
    static_times = []
    for topic, _, msg in msgs:
        assert msg.log_time == msg.publish_time
        if topic == s.TOPIC_SCAN:
            scan = decode_laser_scan(msg.data)
            assert scan["timestamp_ns"] == msg.log_time
            assert scan["frame_id"] == s.FRAME_LIDAR
            assert scan["start_angle"] == LIDAR.angle_min_rad
            assert scan["end_angle"] == LIDAR.angle_max_rad
            assert scan["position"] == (0.0, 0.0, 0.0)
            assert scan["orientation"] == (0.0, 0.0, 0.0, 1.0)
            assert scan["ranges"].dtype == np.float64 and len(scan["ranges"]) == LIDAR.n_beams
        elif topic in (s.TOPIC_TF, s.TOPIC_TF_STATIC):
            tf = decode_frame_transform(msg.data)
            assert tf["timestamp_ns"] == msg.log_time
            if topic == s.TOPIC_TF:
                assert (tf["parent"], tf["child"]) == (s.FRAME_MAP, s.FRAME_BASE_LINK)
            else:
                assert (tf["parent"], tf["child"]) == (s.FRAME_BASE_LINK, s.FRAME_LIDAR)
                assert tf["translation"] == (LIDAR.mount_offset_m, 0.0, 0.0)
                assert tf["rotation"] == (0.0, 0.0, 0.0, 1.0)
                static_times.append(msg.log_time)
        elif topic == s.TOPIC_SCENE:
            assert msg.log_time == first_t
    # Static transform at the start and then at least once per simulated second.
    assert static_times[0] == first_t
    assert np.all(np.diff([*static_times, int(ep["t_ns"][-1])]) <= s.STATIC_TF_PERIOD_NS)
    # Messages are in log-time order, the four of a step together.
    times = [msg.log_time for _, _, msg in msgs]
    assert times == sorted(times)


def test_messages_decode_with_the_protobuf_library(tmp_path: Path) -> None:
    """Every message parses with Google's protobuf runtime from the schema stored in the file,
    which is what Foxglove does."""
    pytest.importorskip("google.protobuf")
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    ep = make_episode(6, steps=5)
    path = tmp_path / "simulation.mcap"
    write_episode(path, ep)
    decoded: dict[str, Any] = {}
    with open(path, "rb") as f:
        for schema, channel, msg in make_reader(f).iter_messages():
            pool = descriptor_pool.DescriptorPool()
            for file in descriptor_pb2.FileDescriptorSet.FromString(schema.data).file:
                pool.Add(file)
            cls = message_factory.GetMessageClass(pool.FindMessageTypeByName(schema.name))
            decoded.setdefault(channel.topic, []).append(cls.FromString(msg.data))
    scan = decoded[s.TOPIC_SCAN][0]
    assert scan.frame_id == "lidar" and scan.pose.orientation.w == 1.0
    assert list(scan.ranges) == ep["scans"][0].tolist()
    assert (scan.timestamp.seconds, scan.timestamp.nanos) == (0, DT_NS)
    tf = decoded[s.TOPIC_TF][1]
    assert (tf.parent_frame_id, tf.child_frame_id) == ("map", "base_link")
    assert (tf.translation.x, tf.translation.y) == tuple(ep["poses"][1, :2])
    assert 2 * math.atan2(tf.rotation.z, tf.rotation.w) == pytest.approx(ep["poses"][1, 2])
    (scene,) = decoded[s.TOPIC_SCENE]
    walls, obstacles = scene.entities
    assert (walls.id, walls.frame_id, walls.frame_locked) == ("walls", "map", False)
    assert walls.lifetime.seconds == 0 and walls.lifetime.nanos == 0
    (line,) = walls.lines
    assert line.type == 2  # LINE_LIST
    points = np.array([(p.x, p.y) for p in line.points])
    np.testing.assert_array_equal(points.reshape(-1, 4), ep["walls"])
    assert len(obstacles.cubes) == len(ep["boxes"])
    cube, box = obstacles.cubes[0], ep["boxes"][0]
    assert (cube.pose.position.x, cube.pose.position.y) == (box[0], box[1])
    assert (cube.size.x, cube.size.y, cube.size.z) == (box[3], box[4], s.OBSTACLE_HEIGHT_M)
    cmd = decoded[s.TOPIC_COMMAND][2]
    assert (cmd.steering_rad, cmd.speed_mps) == tuple(ep["commands"][2])
    assert list(cmd.action) == ep["actions"][2].tolist()
    step = decoded[s.TOPIC_STEP][4]
    assert step.terminated and step.end_reason == "collision_wall"
    assert step.reward == ep["steps"][4]["reward"] and step.speed_mps == ep["speeds"][4]


def test_hand_built_messages_match_foxglove_sdk() -> None:
    from foxglove import messages as m

    pytest.importorskip("google.protobuf")
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    t = 12_345_000_000
    scan = np.linspace(0.1, 30, LIDAR.n_beams, dtype=np.float32)
    stamp = m.Timestamp(sec=12, nsec=345_000_000)
    identity = m.Pose(position=m.Vector3(), orientation=m.Quaternion(w=1.0))
    sdk_scan = m.LaserScan(
        timestamp=stamp,
        frame_id="lidar",
        pose=identity,
        start_angle=LIDAR.angle_min_rad,
        end_angle=LIDAR.angle_max_rad,
        ranges=scan.tolist(),
    ).encode()
    assert sdk_scan == timestamp_field(t) + laser_scan_prefix(LIDAR) + scan.astype("<f8").tobytes()

    rng = np.random.default_rng(0)
    walls, boxes = rng.uniform(-9, 9, (5, 4)), rng.uniform(0.2, 1, (2, 5))
    line = m.LinePrimitive(
        type=m.LinePrimitiveLineType.LineList,
        pose=identity,
        thickness=s.WALL_THICKNESS_M,
        points=[m.Point3(x=x, y=y) for x, y in walls.reshape(-1, 2).tolist()],
        color=m.Color(r=0.85, g=0.85, b=0.85, a=1.0),
    )
    cubes = [
        m.CubePrimitive(
            pose=m.Pose(
                position=m.Vector3(x=x, y=y, z=s.OBSTACLE_HEIGHT_M / 2),
                orientation=m.Quaternion(z=math.sin(yaw / 2), w=math.cos(yaw / 2)),
            ),
            size=m.Vector3(x=length, y=width, z=s.OBSTACLE_HEIGHT_M),
            color=m.Color(r=0.9, g=0.35, b=0.1, a=0.9),
        )
        for x, y, yaw, length, width in boxes.tolist()
    ]
    common = {"timestamp": stamp, "frame_id": "map", "lifetime": m.Duration(sec=0, nsec=0)}
    sdk_scene = m.SceneUpdate(
        entities=[
            m.SceneEntity(id="walls", lines=[line], **common),
            m.SceneEntity(id="obstacles", cubes=cubes, **common),
        ]
    ).encode()
    pool = descriptor_pool.DescriptorPool()
    for file in descriptor_pb2.FileDescriptorSet.FromString(m.SceneUpdate.get_schema().data).file:
        pool.Add(file)
    cls = message_factory.GetMessageClass(pool.FindMessageTypeByName("foxglove.SceneUpdate"))
    assert cls.FromString(scene_update_bytes(t, walls, boxes)) == cls.FromString(sdk_scene)


# --------------------------------------------------------------------------- atomicity, errors


def test_exception_inside_with_leaves_no_file(tmp_path: Path) -> None:
    ep = make_episode(7)
    path = tmp_path / "simulation.mcap"
    with pytest.raises(RuntimeError, match="policy crashed"):
        with EpisodeWriter(path, LIDAR, 0.275, ep["walls"], ep["boxes"]) as rec:
            for i in range(120):  # some chunks are already with the background writer
                rec.write_step(ep["t_ns"][i], ep["scans"][i], (0, 0, 0), 1, (0, 1), (0, 0), {})
            raise RuntimeError("policy crashed")
    assert list(tmp_path.iterdir()) == []


def test_failed_rewrite_keeps_the_old_file(tmp_path: Path) -> None:
    ep = make_episode(8, steps=20)
    path = tmp_path / "simulation.mcap"
    write_episode(path, ep)
    old = path.read_bytes()
    rec = EpisodeWriter(path, LIDAR, 0.275, ep["walls"], ep["boxes"])
    rec.write_step(0, ep["scans"][0], (0, 0, 0), 1, (0, 1), (0, 0), {})
    assert len(list(tmp_path.glob(".simulation.mcap.*.tmp"))) == 1  # written next to it
    rec.abort()
    assert path.read_bytes() == old and list(tmp_path.iterdir()) == [path]


def test_truncated_corrupt_and_missing_files_raise_recording_error(tmp_path: Path) -> None:
    path = tmp_path / "simulation.mcap"
    write_episode(path, make_episode(9))
    data = path.read_bytes()
    cases = {
        "half.mcap": data[: len(data) // 2],
        "empty.mcap": b"",
        "garbage.mcap": b"not an mcap file at all" * 10,
        "flipped.mcap": data[:30_000] + bytes([data[30_000] ^ 0xFF]) + data[30_001:],
    }
    for name, content in cases.items():
        bad = tmp_path / name
        bad.write_bytes(content)
        with pytest.raises(RecordingError, match=name):
            read_episode(bad)
    with pytest.raises(RecordingError, match="missing.mcap"):
        read_episode(tmp_path / "missing.mcap")
    assert issubclass(RecordingError, ValueError)


def test_write_step_validates_its_input(tmp_path: Path) -> None:
    ep = make_episode(10, steps=2)
    rec = EpisodeWriter(tmp_path / "simulation.mcap", LIDAR, 0.275, ep["walls"], ep["boxes"])
    with pytest.raises(ValueError, match="shape"):
        rec.write_step(0, ep["scans"][0][:-1], (0, 0, 0), 1, (0, 1), (0, 0), {})
    rec.write_step(DT_NS, ep["scans"][0], (0, 0, 0), 1, (0, 1), (0, 0), {})
    with pytest.raises(ValueError, match="before the previous step"):
        rec.write_step(0, ep["scans"][1], (0, 0, 0), 1, (0, 1), (0, 0), {})
    rec.close()
    with pytest.raises(RecordingWriteError):
        rec.write_step(2 * DT_NS, ep["scans"][1], (0, 0, 0), 1, (0, 1), (0, 0), {})
    with pytest.raises(ValueError, match="walls"):
        EpisodeWriter(tmp_path / "x.mcap", LIDAR, 0.275, np.zeros((3, 3)), ep["boxes"])
    assert not (tmp_path / "x.mcap").exists()


# --------------------------------------------------------------------------- several writers


def test_writers_in_sequence_and_side_by_side(tmp_path: Path) -> None:
    eps = [make_episode(20 + i, steps=70) for i in range(4)]
    paths = [tmp_path / f"ep{i}" / "simulation.mcap" for i in range(4)]
    for p in paths:
        p.parent.mkdir()
    write_episode(paths[0], eps[0])
    write_episode(paths[1], eps[1])
    # Two writers open at once, steps interleaved.
    recs = [
        EpisodeWriter(p, LIDAR, LIDAR.mount_offset_m, e["walls"], e["boxes"], e["metadata"])
        for p, e in zip(paths[2:], eps[2:], strict=True)
    ]
    for i in range(70):
        for rec, e in zip(recs, eps[2:], strict=True):
            rec.write_step(
                e["t_ns"][i],
                e["scans"][i],
                tuple(e["poses"][i]),
                e["speeds"][i],
                tuple(e["commands"][i]),
                e["actions"][i],
                e["steps"][i],
            )
    for rec in recs:
        rec.close()
    for p, e in zip(paths, eps, strict=True):
        check_round_trip(p, e)


def test_no_network_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the recorder must not open sockets")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    ep = make_episode(30, steps=10)
    write_episode(tmp_path / "simulation.mcap", ep)
    check_round_trip(tmp_path / "simulation.mcap", ep)


def _record_in_worker(out_dir: str, seed: int) -> str:
    path = Path(out_dir) / f"seed_{seed}" / "simulation.mcap"
    path.parent.mkdir(parents=True)
    write_episode(path, make_episode(seed, steps=80))
    return str(path)


def test_loky_worker_processes_write_episodes(tmp_path: Path) -> None:
    joblib = pytest.importorskip("joblib")
    cloudpickle = pytest.importorskip("cloudpickle")  # what loky pickles callables with

    # The test module is not importable in the workers: send its functions by value.
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    try:
        paths = joblib.Parallel(n_jobs=2, backend="loky")(
            joblib.delayed(_record_in_worker)(str(tmp_path), seed) for seed in (40, 41, 42)
        )
    finally:
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    for path, seed in zip(paths, (40, 41, 42), strict=True):
        check_round_trip(Path(path), make_episode(seed, steps=80))


def test_protobuf_field_decoder_rejects_truncated_messages() -> None:
    data = timestamp_field(5) + laser_scan_prefix(LIDAR) + b"\x00" * 16
    with pytest.raises(ValueError):
        protobuf_fields(data)


# --------------------------------------------------------------------------- encoding, closing


def test_records_are_those_of_the_mcap_package(tmp_path: Path) -> None:
    """Every record written with ``struct`` (chunks, indexes, statistics, summary, footer)
    re-encodes byte for byte with the ``mcap`` package's own record classes."""
    from tinylidar_gym.recording.mcap_records import MAGIC, record_bytes

    path = tmp_path / "simulation.mcap"
    write_episode(path, make_episode(11))
    data = path.read_bytes()
    with open(path, "rb") as f:
        records = list(StreamReader(f, skip_magic=False, emit_chunks=True).records)
    kinds = {type(r).__name__ for r in records}
    assert {"Chunk", "MessageIndex", "ChunkIndex", "Statistics", "SummaryOffset"} <= kinds
    assert {"Attachment", "AttachmentIndex", "Metadata", "MetadataIndex", "Footer"} <= kinds
    assert MAGIC + record_bytes(*records) + MAGIC == data


def test_step_messages_from_info_match_the_step_dict_encoding() -> None:
    from tinylidar_gym.recording.messages import InfoStepEncoder, StepEncoder
    from tinylidar_gym.recording.wrapper import STEP_KEYS

    info = {k: 0.25 for k in STEP_KEYS} | {
        "checkpoints_passed": np.int64(3),
        "checkpoints_total": 12,
        "min_obstacle_clearance_m": math.inf,
        "end_reason": "running",
        "is_success": np.bool_(False),
        "x_m": 1.0,  # not recorded
    }
    cases = [
        (info, np.float32(0.5), False, False),
        (info | {"end_reason": "goal_reached", "is_success": True}, -1.0, True, False),
        (info | {"end_reason": None, "progress": "n/a"}, 0.0, False, True),  # -> extra_json
    ]
    from_info, from_dict = InfoStepEncoder(STEP_KEYS), StepEncoder()
    for values, reward, terminated, truncated in cases:
        step = {k: values[k] for k in STEP_KEYS}
        step.update(reward=reward, terminated=terminated, truncated=truncated)
        assert from_info(values, reward, terminated, truncated, 2.5) == from_dict(step, 2.5)
    with pytest.raises(ValueError, match="STEP_FIELDS"):
        InfoStepEncoder(["x_m", "not_a_field"])


def test_record_episode_writes_what_write_step_writes(tmp_path: Path) -> None:
    """The wrapper's fast path (step message from ``info``, background finish) gives the same
    file as ``EpisodeWriter.write_step`` with the step dict, episode after episode."""
    from tinylidar_gym.envs.tinylidar_env import TinyLidarEnv
    from tinylidar_gym.recording.wrapper import STEP_KEYS, RecordEpisode

    env = RecordEpisode(TinyLidarEnv(lidar={"n_beams": 181}), lambda k: tmp_path / f"w{k}.mcap")
    base = env.unwrapped
    dt_ns = round(base.config.control_dt_s * 1e9)
    for episode, seed in enumerate((5, 6)):
        obs, info = env.reset(seed=seed)
        layout, lidar = base.layout, base.config.lidar
        reference = EpisodeWriter(
            tmp_path / f"r{episode}.mcap",
            lidar,
            lidar.mount_offset_m,
            layout.course.walls,
            layout.obstacles.boxes,
            metadata={"seed": seed, "episode": episode},
        )
        rng = np.random.default_rng(seed)
        for k in range(70):  # > 2 chunks
            action = rng.uniform(-1, 1, 2).astype(np.float32)
            prev_obs, prev = obs, info
            obs, reward, terminated, truncated, info = env.step(action)
            step = {key: info[key] for key in STEP_KEYS}
            step.update(reward=float(reward), terminated=terminated, truncated=truncated)
            pose = (prev["x_m"], prev["y_m"], prev["yaw_rad"])
            command = (info["steer_cmd_rad"], info["speed_cmd_mps"])
            reference.write_step(
                k * dt_ns, prev_obs, pose, prev["speed_mps"], command, action, step
            )
            if terminated or truncated:
                break
        reference.close()
    env.close()  # finishes (and waits for) the second file
    for episode in range(2):
        assert (tmp_path / f"w{episode}.mcap").read_bytes() == (
            tmp_path / f"r{episode}.mcap"
        ).read_bytes()
    assert not list(tmp_path.glob(".*.tmp"))


def test_close_without_waiting_finishes_in_the_background(tmp_path: Path) -> None:
    ep = make_episode(12, steps=130)
    path = tmp_path / "simulation.mcap"
    rec = EpisodeWriter(path, LIDAR, LIDAR.mount_offset_m, ep["walls"], ep["boxes"], ep["metadata"])
    for i in range(130):
        rec.write_step(
            ep["t_ns"][i],
            ep["scans"][i],
            tuple(ep["poses"][i]),
            ep["speeds"][i],
            tuple(ep["commands"][i]),
            ep["actions"][i],
            ep["steps"][i],
        )
    rec.close(wait=False)
    check_round_trip(path, ep)  # read_episode waits for the file
    rec.close()  # waits (already done); idempotent
    rec.close()
    rec.abort()  # after a close: keeps the file
    check_round_trip(path, ep)
    assert list(tmp_path.iterdir()) == [path]


def test_failed_background_finish_deletes_the_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tinylidar_gym.recording import mcap_chunks

    def refuse(src: Any, dst: Any) -> None:
        raise OSError("disk on fire")

    ep = make_episode(13, steps=5)
    path = tmp_path / "simulation.mcap"
    monkeypatch.setattr(mcap_chunks.os, "replace", refuse)
    rec = EpisodeWriter(path, LIDAR, LIDAR.mount_offset_m, ep["walls"], ep["boxes"])
    rec.write_step(0, ep["scans"][0], (0, 0, 0), 1, (0, 1), (0, 0), {})
    rec.close(wait=False)
    with pytest.raises(OSError, match="disk on fire"):
        rec.close()
    rec.close()  # reported once
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(RecordingError, match="no such recording"):
        read_episode(path)


def test_files_finished_in_the_background_are_complete_at_exit(tmp_path: Path) -> None:
    import subprocess

    script = f"""
import sys
sys.path.insert(0, {str(Path(__file__).parent)!r})
import test_recording as t
from tinylidar_gym.recording import EpisodeWriter
ep = t.make_episode(14, steps=200)
rec = EpisodeWriter({str(tmp_path / "simulation.mcap")!r}, t.LIDAR, 0.275, ep["walls"], ep["boxes"])
for i in range(200):
    rec.write_step(ep["t_ns"][i], ep["scans"][i], tuple(ep["poses"][i]), ep["speeds"][i],
                   tuple(ep["commands"][i]), ep["actions"][i], ep["steps"][i])
rec.close(wait=False)  # and exit at once
"""
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
    ep = make_episode(14, steps=200)
    ep["metadata"] = {}
    check_round_trip(tmp_path / "simulation.mcap", ep)
    assert list(tmp_path.iterdir()) == [tmp_path / "simulation.mcap"]
